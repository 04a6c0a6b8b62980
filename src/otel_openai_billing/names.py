"""Every attribute, metric and event name this package emits, in one place.

Names the OpenTelemetry semantic-conventions package defines are written here as it publishes them,
and checked against its constants by a test (``SEMCONV``), not read from it at run time. Names the
package does not (yet) carry are written here once, with where they come from. Docs, rules, dashboards
and tests read these constants; nothing else spells a name.
"""

from __future__ import annotations

from typing import Final

_GA = "opentelemetry.semconv._incubating.attributes.gen_ai_attributes"
_OA = "opentelemetry.semconv._incubating.attributes.openai_attributes"
_GM = "opentelemetry.semconv._incubating.metrics.gen_ai_metrics"
_ERR = "opentelemetry.semconv.attributes.error_attributes"
_SRV = "opentelemetry.semconv.attributes.server_attributes"
_EXC = "opentelemetry.semconv.attributes.exception_attributes"
_HTTP = "opentelemetry.semconv.attributes.http_attributes"

# The semantic-conventions package is the reference for these names, not their source at run time: each
# is written here as published, and tests/test_names.py checks it against the package's constant. Read
# at run time, a semconv release that renamed one (as gen_ai.system became gen_ai.provider.name) would
# change what we emit under the shipped alert rules, billing queries and stored records, which keep the
# old name; a rename should be a change of ours, made with them. (Importing the package's modules also
# cost 4 ms of start-up, docs/robustness.md.) Since 0.66b2 the package marks every gen_ai.*/openai.*
# constant deprecated ("moved to semantic-conventions-genai"); the test skips a constant it dropped.
SEMCONV: Final[dict[str, tuple[str, str]]] = {
    # our name: (module, constant) in opentelemetry-semantic-conventions
    "PROVIDER_NAME": (_GA, "GEN_AI_PROVIDER_NAME"),
    "OPERATION_NAME": (_GA, "GEN_AI_OPERATION_NAME"),
    "REQUEST_MODEL": (_GA, "GEN_AI_REQUEST_MODEL"),
    "REQUEST_STREAM": (_GA, "GEN_AI_REQUEST_STREAM"),
    "REQUEST_CHOICE_COUNT": (_GA, "GEN_AI_REQUEST_CHOICE_COUNT"),
    "RESPONSE_MODEL": (_GA, "GEN_AI_RESPONSE_MODEL"),
    "RESPONSE_ID": (_GA, "GEN_AI_RESPONSE_ID"),
    "RESPONSE_FINISH_REASONS": (_GA, "GEN_AI_RESPONSE_FINISH_REASONS"),
    "RESPONSE_TIME_TO_FIRST_CHUNK": (_GA, "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK"),
    "USAGE_INPUT_TOKENS": (_GA, "GEN_AI_USAGE_INPUT_TOKENS"),
    "USAGE_OUTPUT_TOKENS": (_GA, "GEN_AI_USAGE_OUTPUT_TOKENS"),
    "USAGE_CACHE_READ_INPUT_TOKENS": (_GA, "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS"),
    "USAGE_REASONING_OUTPUT_TOKENS": (_GA, "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS"),
    "TOKEN_TYPE": (_GA, "GEN_AI_TOKEN_TYPE"),
    "OPENAI_API_TYPE": (_OA, "OPENAI_API_TYPE"),
    "OPENAI_REQUEST_SERVICE_TIER": (_OA, "OPENAI_REQUEST_SERVICE_TIER"),
    "OPENAI_RESPONSE_SERVICE_TIER": (_OA, "OPENAI_RESPONSE_SERVICE_TIER"),
    "OPENAI_RESPONSE_SYSTEM_FINGERPRINT": (_OA, "OPENAI_RESPONSE_SYSTEM_FINGERPRINT"),
    "SERVER_ADDRESS": (_SRV, "SERVER_ADDRESS"),
    "SERVER_PORT": (_SRV, "SERVER_PORT"),
    "ERROR_TYPE": (_ERR, "ERROR_TYPE"),
    "EXCEPTION_TYPE": (_EXC, "EXCEPTION_TYPE"),
    "EXCEPTION_MESSAGE": (_EXC, "EXCEPTION_MESSAGE"),
    "HTTP_STATUS_CODE": (_HTTP, "HTTP_RESPONSE_STATUS_CODE"),
    "METRIC_OPERATION_DURATION": (_GM, "GEN_AI_CLIENT_OPERATION_DURATION"),
    "METRIC_TOKEN_USAGE": (_GM, "GEN_AI_CLIENT_TOKEN_USAGE"),
    "METRIC_TIME_TO_FIRST_CHUNK": (_GM, "GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK"),
}


# --- GenAI semantic conventions (checked against the semconv package: SEMCONV) ---------------------
PROVIDER_NAME: Final = "gen_ai.provider.name"
OPERATION_NAME: Final = "gen_ai.operation.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
# The span event of a failed call; its message is a description of the error, never the API's text.
EVENT_EXCEPTION: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"

# Cache writes: the semconv package (0.66b2) spells it gen_ai.usage.cache_creation.input_tokens; the
# semantic-conventions-genai drafts renamed it cache_write (PR #440), the name the package moves to. We
# emit the cache_write name; a query over older data can also read USAGE_CACHE_CREATION_INPUT_TOKENS.
USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
# Per-modality token counts of the drafts; not in the Python semconv package yet.
USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
USAGE_AUDIO_OUTPUT_TOKENS: Final = "gen_ai.usage.audio.output_tokens"
USAGE_IMAGE_INPUT_TOKENS: Final = "gen_ai.usage.image.input_tokens"
USAGE_IMAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.image.output_tokens"

# Usage field (usage.Usage) -> the span attribute that carries it; emission writes them, the readers
# of exported spans (Collector OTLP JSON, ClickHouse) read them back.
USAGE_FIELD_ATTRIBUTES: Final = (
    ("input_tokens", USAGE_INPUT_TOKENS),
    ("output_tokens", USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_write_tokens", USAGE_CACHE_WRITE_INPUT_TOKENS),
    ("reasoning_tokens", USAGE_REASONING_OUTPUT_TOKENS),
    ("input_audio_tokens", USAGE_AUDIO_INPUT_TOKENS),
    ("output_audio_tokens", USAGE_AUDIO_OUTPUT_TOKENS),
    ("input_image_tokens", USAGE_IMAGE_INPUT_TOKENS),
    ("output_image_tokens", USAGE_IMAGE_OUTPUT_TOKENS),
)

PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE: Final = "azure.ai.openai"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --- Draft GenAI cost convention (semantic-conventions-genai PR #443) ---------------------------
COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
COST_SOURCE: Final = "gen_ai.usage.cost.source"
COST_SOURCE_LOCAL: Final = "local"
CURRENCY_USD: Final = "USD"

# --- OpenAI request ids (no semconv attribute exists; follows the aws.request_id precedent) -----
OPENAI_REQUEST_ID: Final = "openai.request.id"
OPENAI_CLIENT_REQUEST_ID: Final = "openai.client_request.id"
OPENAI_RETRY_COUNT: Final = "openai.request.retry_count"
HTTP_STATUS_CODE: Final = "http.response.status_code"
CLIENT_REQUEST_ID_HEADER: Final = "X-Client-Request-Id"
# The organization and project a call was billed to (client settings; the openai-organization and
# openai-project response headers win), so usage can be grouped the way OpenAI's Usage API groups it.
OPENAI_ORGANIZATION: Final = "openai.organization"
OPENAI_PROJECT: Final = "openai.project"

# Span event for each failed attempt the SDK retried.
EVENT_RETRY: Final = "openai.retry"
EVENT_RETRY_ATTEMPT: Final = "openai.retry.attempt"

# --- This project's namespace: billing detail -----------------------------------------------
NS: Final = "openai_billing."
BILLABLE: Final = NS + "billable"
COST_STATUS: Final = NS + "cost.status"  # priced | unpriced | estimated | free | inconsistent
COST_UNPRICED_REASON: Final = NS + "cost.unpriced_reason"
# A non-fatal problem with the price (a fallback rate, an override file that failed to load).
COST_WARNING: Final = NS + "cost.warning"
COST_PRICE_LAYER: Final = NS + "cost.price_layer"  # override | supplement | genai-prices@<version>
COST_TIER: Final = NS + "cost.tier"  # the service tier the cost was priced at
COST_BATCH: Final = NS + "cost.batch"
COST_COMPONENT_PREFIX: Final = NS + "cost.component."  # + component name, USD per component
USAGE_ESTIMATED: Final = NS + "usage.estimated"
STREAM_USAGE_INJECTED: Final = NS + "stream.usage_injected"
STREAM_ENDED_BY: Final = NS + "stream.ended_by"  # exhausted | closed | error | abandoned
ENDPOINT: Final = NS + "endpoint"  # "POST /chat/completions": the endpoint table's key

# Billed units that are not one call (sources/): what they are and the ids that dedupe them.
KIND: Final = NS + "kind"  # call | batch | fine_tuning | realtime
BATCH: Final = NS + "batch"  # true on spans and the cost counter of units priced at Batch rates
BATCH_ID: Final = NS + "batch.id"
BATCH_STATUS: Final = NS + "batch.status"
BATCH_ENDPOINT: Final = NS + "batch.endpoint"  # the endpoint the batch's requests went to
BATCH_OUTPUT_FILE_ID: Final = NS + "batch.output_file_id"
BATCH_REQUESTS_TOTAL: Final = NS + "batch.request_counts.total"
BATCH_REQUESTS_COMPLETED: Final = NS + "batch.request_counts.completed"
BATCH_REQUESTS_FAILED: Final = NS + "batch.request_counts.failed"
BATCH_USAGE_SOURCE: Final = NS + "batch.usage_source"  # batch_object | output_file
BATCH_LINES_BILLED: Final = NS + "batch.lines.billed"  # output-file lines priced
BATCH_LINES_FAILED: Final = NS + "batch.lines.failed"  # lines with an error or a non-2xx status
FINE_TUNING_JOB_ID: Final = NS + "fine_tuning.job.id"
FINE_TUNING_METHOD: Final = NS + "fine_tuning.method"  # supervised | dpo | reinforcement
FINE_TUNING_EPOCHS: Final = NS + "fine_tuning.epochs"
FINE_TUNING_BASE_MODEL: Final = NS + "fine_tuning.base_model"
FINE_TUNING_MODEL: Final = NS + "fine_tuning.fine_tuned_model"
FINE_TUNING_TRAINED_TOKENS: Final = NS + "fine_tuning.trained_tokens"
REALTIME_SESSION_ID: Final = NS + "realtime.session.id"
REALTIME_ITEM_ID: Final = NS + "realtime.item.id"  # the audio item an input transcription belongs to
AUDIO_SECONDS: Final = NS + "usage.audio_seconds"
INPUT_CHARACTERS: Final = NS + "usage.input_characters"
IMAGE_TOOL_MODEL: Final = NS + "image_tool.model"  # image model that priced the image_generation tool
IMAGE_TOOL_MODEL_ASSUMED: Final = NS + "image_tool.model_assumed"  # the request did not name it

COST_STATUS_PRICED: Final = "priced"
COST_STATUS_UNPRICED: Final = "unpriced"
COST_STATUS_ESTIMATED: Final = "estimated"
COST_STATUS_FREE: Final = "free"
# The response reported usage no real call has (negative, non-finite, absurdly large): not priced,
# and the implausible counts are left off the span and the metrics.
COST_STATUS_INCONSISTENT: Final = "inconsistent"
# How usage was estimated when the API reported none (tokenizer and encoding, e.g. "tiktoken:o200k_base").
COST_ESTIMATE_METHOD: Final = NS + "cost.estimate_method"

# Attribution (customer, feature, free-form labels) and the roll-up on the local root span.
CUSTOMER_ID: Final = NS + "customer.id"
FEATURE: Final = NS + "feature"
LABEL_PREFIX: Final = NS + "label."
ROLLUP_COST: Final = NS + "rollup.cost.amount"
ROLLUP_CALLS: Final = NS + "rollup.calls"
ROLLUP_UNPRICED_CALLS: Final = NS + "rollup.unpriced_calls"
OVERFLOW_VALUE: Final = "__overflow__"
# On the overflow counter: which attribution key (customer_id, feature, a label) overflowed.
ATTRIBUTION_KEY: Final = NS + "attribution.key"

# --- Metrics -----------------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
# Draft cost convention's metric; a monotonic counter so rate()/increase() alerts work.
METRIC_COST: Final = "gen_ai.client.operation.cost"
METRIC_COST_UNIT: Final = "{USD}"
METRIC_UNPRICED_CALLS: Final = NS + "unpriced_calls"
METRIC_ATTRIBUTION_OVERFLOW: Final = NS + "attribution.overflow"
# Billing records the ledger could not queue (its queue was full) and so never wrote.
METRIC_LEDGER_DROPPED: Final = NS + "ledger.dropped"

INSTRUMENTATION_SCOPE: Final = "otel_openai_billing"

# --- Budgets (budgets/) and OpenAI's own spend limits -------------------------------------------
BUDGET_NAME: Final = NS + "budget.name"
BUDGET_SCOPE: Final = NS + "budget.scope"  # the budget instance: "customer_id=acme", "" for everything
BUDGET_BLOCKED: Final = NS + "budget.blocked"  # true on the span of a call a budget refused
BUDGET_LIMIT: Final = NS + "budget.limit"  # USD
BUDGET_SPENT: Final = NS + "budget.spent"  # USD settled in the window when the call was refused
BUDGET_RESERVED: Final = NS + "budget.reserved"  # USD other calls held when the call was refused
BUDGET_WORST_CASE: Final = NS + "budget.worst_case"  # USD reserved for this call before it was sent
BUDGET_STORE_UNAVAILABLE: Final = NS + "budget.store_unavailable"  # the store failed; policy applied
BUDGET_STORE_OPERATION: Final = NS + "budget.store_operation"  # reserve | settle (store error metric)
EVENT_BUDGET_WARNING: Final = NS + "budget.warning"  # a warn budget is over its limit
# The error code of an API error (error.code in its body), e.g. "organization_spend_limit_exceeded".
ERROR_CODE: Final = NS + "error.code"
SPEND_LIMIT_CODES: Final = ("organization_spend_limit_exceeded", "project_spend_limit_exceeded")

METRIC_BUDGET_SPEND: Final = NS + "budget.spend"  # gauge, USD settled in the current window
METRIC_BUDGET_LIMIT: Final = NS + "budget.limit"  # gauge, USD
METRIC_BUDGET_BLOCKED: Final = NS + "budget.blocked_calls"  # counter
METRIC_BUDGET_OVER: Final = NS + "budget.over_limit_calls"  # counter: calls a warn budget let through
METRIC_BUDGET_STORE_ERRORS: Final = NS + "budget.store_errors"  # counter
METRIC_SPEND_LIMIT_EXCEEDED: Final = NS + "spend_limit_exceeded"  # counter: OpenAI's own 429s
