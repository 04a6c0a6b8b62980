-- Cost per product feature (openai_billing.feature), and how many customers used it.
SELECT
    if(SpanAttributes['openai_billing.feature'] = '', '(none)', SpanAttributes['openai_billing.feature']) AS feature,
    count() AS calls,
    uniqExactIf(SpanAttributes['openai_billing.customer.id'], SpanAttributes['openai_billing.customer.id'] != '') AS customers,
    round(sum(toFloat64OrZero(SpanAttributes['gen_ai.usage.cost.amount'])), 6) AS cost_usd
FROM otel_traces
WHERE SpanAttributes['gen_ai.operation.name'] != ''
GROUP BY feature
ORDER BY cost_usd DESC, feature
