-- Retried calls per model: how many calls needed retries, how many retries (one openai.retry span
-- event per failed attempt), how many still failed, and what the retried calls cost.
SELECT
    SpanAttributes['gen_ai.request.model'] AS model,
    count() AS retried_calls,
    sum(arrayCount(name -> name = 'openai.retry', Events.Name)) AS retries,
    countIf(SpanAttributes['error.type'] != '') AS failed_after_retries,
    round(sum(toFloat64OrZero(SpanAttributes['gen_ai.usage.cost.amount'])), 6) AS cost_usd
FROM otel_traces
WHERE toUInt32OrZero(SpanAttributes['openai.request.retry_count']) > 0
GROUP BY model
ORDER BY retries DESC, model
