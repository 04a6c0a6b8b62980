-- Cost per customer (openai_billing.customer.id, set when attribution is on). Calls without a
-- customer show as '(none)'; '__overflow__' collects customers past the configured limit.
SELECT
    if(SpanAttributes['openai_billing.customer.id'] = '', '(none)', SpanAttributes['openai_billing.customer.id']) AS customer,
    count() AS calls,
    round(sum(toFloat64OrZero(SpanAttributes['gen_ai.usage.cost.amount'])), 6) AS cost_usd
FROM otel_traces
WHERE SpanAttributes['gen_ai.operation.name'] != ''
GROUP BY customer
ORDER BY cost_usd DESC, customer
