-- Cost of OpenAI calls per request model per day (UTC), from spans in the Collector's ClickHouse
-- exporter table. Call spans are the ones with gen_ai.operation.name; cost is a double in USD
-- stored as a string. Restrict the range with e.g. AND Timestamp >= now() - INTERVAL 30 DAY.
SELECT
    toDate(Timestamp) AS day,
    SpanAttributes['gen_ai.request.model'] AS model,
    count() AS calls,
    countIf(SpanAttributes['openai_billing.cost.status'] = 'unpriced') AS unpriced_calls,
    round(sum(toFloat64OrZero(SpanAttributes['gen_ai.usage.cost.amount'])), 6) AS cost_usd
FROM otel_traces
WHERE SpanAttributes['gen_ai.operation.name'] != ''
GROUP BY day, model
ORDER BY day, cost_usd DESC, model
