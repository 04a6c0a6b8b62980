-- The most expensive OpenAI calls, with the request id OpenAI support asks for (x-request-id),
-- and the trace id to open the whole user request in Jaeger/Honeycomb.
SELECT
    SpanAttributes['openai.request.id'] AS request_id,
    TraceId AS trace_id,
    Timestamp AS started,
    SpanAttributes['gen_ai.response.model'] AS response_model,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens']) AS input_tokens,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.output_tokens']) AS output_tokens,
    toFloat64OrZero(SpanAttributes['gen_ai.usage.cost.amount']) AS cost_usd,
    SpanAttributes['openai_billing.customer.id'] AS customer
FROM otel_traces
WHERE SpanAttributes['gen_ai.usage.cost.amount'] != ''
ORDER BY cost_usd DESC, request_id
LIMIT 20
