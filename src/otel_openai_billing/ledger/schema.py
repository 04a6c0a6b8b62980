"""The billing record: one flat JSON object per billed unit, version ``SCHEMA_VERSION``.

A billed unit is an API call, a Batch settlement (one per batch and model), a fine-tuning job or a
realtime response. Every value comes from the same call record, usage and cost its span gets
(``otel_openai_billing.billing_record.build``). Absent or unknown values are ``null``.

Versioning: a reader accepts any record whose ``schema`` it knows (``SUPPORTED_VERSIONS``). Adding a
key does not change the version (readers ignore keys they do not know); renaming, removing or changing
the meaning of a key does, and the readers keep reading the old version.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({1})

KINDS: Final = ("call", "batch", "fine_tuning", "realtime")
COST_STATUSES: Final = ("priced", "unpriced", "estimated", "free", "inconsistent")

# key -> what it holds. The order is the order of the keys in a written record.
FIELDS: Final[dict[str, str]] = {
    "schema": "the schema version of this record (int)",
    "record_id": "idempotency key: call:<client request id>, batch:<batch id>:<model>, "
    "batch_file:<output file id>:<model> (a Batch output file whose batch was never read), "
    "fine_tuning:<job id>, realtime:<session id>:<response or item id>, response:<response id> (a "
    "background or WebSocket response), else call:<uuid>; the same unit always has the same id",
    "kind": "call | batch | fine_tuning | realtime",
    "time": "UTC start of the call, ISO 8601 with microseconds and Z (2026-12-01T09:30:00.123456Z)",
    "duration_s": "seconds from start to end, as on the span (float)",
    "request_id": "OpenAI's x-request-id of the final attempt",
    "client_request_id": "the X-Client-Request-Id sent on every attempt",
    "trace_id": "OpenTelemetry trace id, 32 hex digits",
    "span_id": "OpenTelemetry span id, 16 hex digits",
    "operation": "gen_ai.operation.name: chat, embeddings, generate_content, ...",
    "endpoint": "the endpoint table's key, e.g. POST /chat/completions",
    "api_type": "openai.api.type: chat_completions, responses, ...",
    "request_model": "the model the caller asked for",
    "response_model": "the model the API reported (a dated snapshot)",
    "service_tier": "the service tier the response reports, else the one requested",
    "batch": "priced at Batch API rates (bool)",
    "batch_id": "the Batch this unit was settled in",
    "job_id": "the fine-tuning job",
    "session_id": "the realtime session",
    "provider": "openai | azure | another pricing provider id",
    "organization": "OpenAI organization: the openai-organization response header, else the client's",
    "project": "OpenAI project: the openai-project response header, else the client's",
    "input_tokens": "input tokens, cached, cache-write, audio and image ones included",
    "output_tokens": "output tokens, reasoning, audio and image ones included",
    "cache_read_tokens": "of the input, read from the prompt cache",
    "cache_write_tokens": "of the input, written to the prompt cache",
    "cache_write_long_ttl_tokens": "of the cache writes, those with the 12 h TTL",
    "reasoning_tokens": "of the output, reasoning tokens",
    "input_text_tokens": "of the input, text tokens",
    "input_audio_tokens": "of the input, audio tokens",
    "input_image_tokens": "of the input, image tokens",
    "cache_read_audio_tokens": "of the cached input, audio tokens",
    "cache_read_image_tokens": "of the cached input, image tokens",
    "output_text_tokens": "of the output, text tokens",
    "output_audio_tokens": "of the output, audio tokens",
    "output_image_tokens": "of the output, image tokens",
    "audio_seconds": "seconds of audio billed by duration (float)",
    "input_characters": "input characters billed (text to speech)",
    "images": "images generated",
    "web_search_calls": "hosted web-search calls",
    "file_search_calls": "hosted file-search calls",
    "tool_image_input_text_tokens": "hosted image tool: input text tokens",
    "tool_image_input_image_tokens": "hosted image tool: input image tokens",
    "tool_image_output_tokens": "hosted image tool: output tokens",
    "tool_image_output_text_tokens": "hosted image tool: of the output, text tokens",
    "tool_image_cached_text_tokens": "hosted image tool: of the input text, cached tokens",
    "tool_image_cached_image_tokens": "hosted image tool: of the input images, cached tokens",
    "trained_tokens": "fine-tuning: billable tokens processed",
    "usage_estimated": "a quantity was derived by this package, not reported by the API (bool)",
    "cost": "USD as an exact decimal string; null when unpriced or not billed",
    "currency": "USD",
    "cost_status": "priced | unpriced | estimated | free | inconsistent; null when not billed "
    "(a failed call, a non-billable endpoint)",
    "cost_reason": "why unpriced, or a note on a fallback price",
    "price_layer": "override | supplement | genai-prices@<version>",
    "cost_tier": "the service tier the rates were taken at",
    "cost_components": "component -> USD decimal string (input, cached_input, output, ...)",
    "customer_id": "attribution: who the call was for",
    "feature": "attribution: what it was for",
    "labels": "attribution: other labels (object of strings)",
    "http_status": "HTTP status of the final attempt (int)",
    "retry_count": "attempts the SDK retried (int)",
    "error_type": "error.type when the call failed",
    "stream_ended_by": "exhausted | closed | error | abandoned, for streams",
    # Additions to the contract (same version: readers ignore keys they do not know).
    "response_id": "the response object's id (chatcmpl-..., resp_...)",
    "request_service_tier": "the service tier the caller asked for",
    "data_residency": "region of a regional endpoint (eu, us, ...)",
    "requests": "API requests the record stands for: 1, or the lines a Batch settlement billed (int)",
}

# The quantities a record may carry (everything a Usage holds), in FIELDS order.
QUANTITY_FIELDS: Final = tuple(
    k for k in FIELDS if k.endswith(("_tokens", "_seconds", "_characters", "_calls")) or k == "images"
)


def unit_key(
    kind: str,
    *,
    client_request_id: str | None = None,
    response_id: str | None = None,
    model: str | None = None,
    batch_id: str | None = None,
    output_file_id: str | None = None,
    job_id: str | None = None,
    session_id: str | None = None,
    item_id: str | None = None,
) -> str | None:
    """The ``record_id`` of a billed unit from the ids OpenAI assigned it, or None when it has none.

    Built from OpenAI's ids where the unit has one, so two processes that bill the same unit (both
    polled the same batch) write the same key and a query can dedupe on it. The same function serves
    the ledger writer and the readers that rebuild records from spans, so both agree.
    """
    if kind == "batch":
        if batch_id:
            return f"batch:{batch_id}:{model}"
        if output_file_id:
            return f"batch_file:{output_file_id}:{model}"
    if kind == "fine_tuning" and job_id:
        return f"fine_tuning:{job_id}"
    if kind == "realtime" and session_id:
        # An input-audio transcription has no response id: its conversation item names it.
        return f"realtime:{session_id}:{response_id or item_id}"
    if client_request_id:
        return f"call:{client_request_id}"
    if response_id:
        # A background response settled by a later read, or a response over a WebSocket.
        return f"response:{response_id}"
    return None


def problem(record: object) -> str | None:
    """What makes ``record`` unreadable as a billing record, or None if it is one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    version = record.get("schema")
    if version not in SUPPORTED_VERSIONS:
        return f"unknown schema version {version!r} (this reader knows {sorted(SUPPORTED_VERSIONS)})"
    for key in ("record_id", "time"):
        if not isinstance(record.get(key), str):
            return f"missing {key}"
    return None
