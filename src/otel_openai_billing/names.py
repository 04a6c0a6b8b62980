"""Every attribute, metric and event name this package emits, in one place.

Names the OpenTelemetry semantic-conventions package defines are imported from it, so they are never
typed twice. Names the package does not (yet) carry are written here once, with where they come from.
Docs, rules, dashboards and tests read these constants; nothing else spells a name.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _ga
from opentelemetry.semconv._incubating.attributes import openai_attributes as _oa
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gm
from opentelemetry.semconv.attributes import error_attributes as _err
from opentelemetry.semconv.attributes import exception_attributes as _exc
from opentelemetry.semconv.attributes import server_attributes as _srv

# --- GenAI semantic conventions (from the semconv package) -------------------------------------
PROVIDER_NAME: Final = _ga.GEN_AI_PROVIDER_NAME
OPERATION_NAME: Final = _ga.GEN_AI_OPERATION_NAME
REQUEST_MODEL: Final = _ga.GEN_AI_REQUEST_MODEL
REQUEST_STREAM: Final = _ga.GEN_AI_REQUEST_STREAM
REQUEST_CHOICE_COUNT: Final = _ga.GEN_AI_REQUEST_CHOICE_COUNT
RESPONSE_MODEL: Final = _ga.GEN_AI_RESPONSE_MODEL
RESPONSE_ID: Final = _ga.GEN_AI_RESPONSE_ID
RESPONSE_FINISH_REASONS: Final = _ga.GEN_AI_RESPONSE_FINISH_REASONS
RESPONSE_TIME_TO_FIRST_CHUNK: Final = _ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
USAGE_INPUT_TOKENS: Final = _ga.GEN_AI_USAGE_INPUT_TOKENS
USAGE_OUTPUT_TOKENS: Final = _ga.GEN_AI_USAGE_OUTPUT_TOKENS
USAGE_CACHE_READ_INPUT_TOKENS: Final = _ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
USAGE_REASONING_OUTPUT_TOKENS: Final = _ga.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
TOKEN_TYPE: Final = _ga.GEN_AI_TOKEN_TYPE
OPENAI_API_TYPE: Final = _oa.OPENAI_API_TYPE
OPENAI_REQUEST_SERVICE_TIER: Final = _oa.OPENAI_REQUEST_SERVICE_TIER
OPENAI_RESPONSE_SERVICE_TIER: Final = _oa.OPENAI_RESPONSE_SERVICE_TIER
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = _oa.OPENAI_RESPONSE_SYSTEM_FINGERPRINT
SERVER_ADDRESS: Final = _srv.SERVER_ADDRESS
SERVER_PORT: Final = _srv.SERVER_PORT
ERROR_TYPE: Final = _err.ERROR_TYPE
# The span event of a failed call; its message is a description of the error, never the API's text.
EVENT_EXCEPTION: Final = "exception"
EXCEPTION_TYPE: Final = _exc.EXCEPTION_TYPE
EXCEPTION_MESSAGE: Final = _exc.EXCEPTION_MESSAGE

# The semconv-genai repo renamed cache_creation to cache_write (PR #440) and added per-modality token
# counts; the Python semconv package (0.66b2) does not carry these yet.
USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
USAGE_AUDIO_OUTPUT_TOKENS: Final = "gen_ai.usage.audio.output_tokens"
USAGE_IMAGE_INPUT_TOKENS: Final = "gen_ai.usage.image.input_tokens"
USAGE_IMAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.image.output_tokens"

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

COST_STATUS_PRICED: Final = "priced"
COST_STATUS_UNPRICED: Final = "unpriced"
COST_STATUS_ESTIMATED: Final = "estimated"
COST_STATUS_FREE: Final = "free"
# The response reported usage no real call has (negative, non-finite, absurdly large): not priced,
# and the implausible counts are left off the span and the metrics.
COST_STATUS_INCONSISTENT: Final = "inconsistent"

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
METRIC_OPERATION_DURATION: Final = _gm.GEN_AI_CLIENT_OPERATION_DURATION
METRIC_TOKEN_USAGE: Final = _gm.GEN_AI_CLIENT_TOKEN_USAGE
METRIC_TIME_TO_FIRST_CHUNK: Final = _gm.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
# Draft cost convention's metric; a monotonic counter so rate()/increase() alerts work.
METRIC_COST: Final = "gen_ai.client.operation.cost"
METRIC_COST_UNIT: Final = "{USD}"
METRIC_UNPRICED_CALLS: Final = NS + "unpriced_calls"
METRIC_ATTRIBUTION_OVERFLOW: Final = NS + "attribution.overflow"

INSTRUMENTATION_SCOPE: Final = "otel_openai_billing"
