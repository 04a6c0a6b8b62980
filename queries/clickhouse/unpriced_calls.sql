-- Calls the price table could not price (their cost is missing from every total above): which
-- models, how many calls and tokens, and an example request id.
SELECT
    SpanAttributes['gen_ai.request.model'] AS request_model,
    SpanAttributes['gen_ai.response.model'] AS response_model,
    count() AS calls,
    sum(toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens'])) AS input_tokens,
    sum(toUInt64OrZero(SpanAttributes['gen_ai.usage.output_tokens'])) AS output_tokens,
    any(SpanAttributes['openai.request.id']) AS example_request_id,
    max(Timestamp) AS last_seen
FROM otel_traces
WHERE SpanAttributes['openai_billing.cost.status'] = 'unpriced'
GROUP BY request_model, response_model
ORDER BY calls DESC, request_model
