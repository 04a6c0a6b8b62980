-- Cost per user-facing request: the package puts the roll-up of all OpenAI calls made while
-- handling a request on that request's local root span (openai_billing.rollup.*).
SELECT
    SpanName AS request,
    count() AS requests,
    round(sum(toFloat64OrZero(SpanAttributes['openai_billing.rollup.cost.amount'])), 6) AS cost_usd,
    round(avg(toFloat64OrZero(SpanAttributes['openai_billing.rollup.cost.amount'])), 6) AS avg_cost_usd,
    round(max(toFloat64OrZero(SpanAttributes['openai_billing.rollup.cost.amount'])), 6) AS max_cost_usd,
    round(avg(toUInt32OrZero(SpanAttributes['openai_billing.rollup.calls'])), 2) AS avg_openai_calls
FROM otel_traces
WHERE SpanAttributes['openai_billing.rollup.cost.amount'] != ''
GROUP BY request
ORDER BY cost_usd DESC, request
