"""The endpoint table: HTTP method + URL path -> what the call is and how it is billed.

All endpoint knowledge lives here. A new OpenAI endpoint is a new row, not new code: the hooks see
every HTTP call of the SDK, and this table says what it means. Paths are the SDK's relative paths
(``options.url``) before any Azure deployment rewrite; ``{}`` matches one path segment (an id).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


# A NamedTuple, not a frozen dataclass: as immutable, and the class costs a tenth as much to create at
# import, which every process that instruments pays (docs/robustness.md). A field read is a little
# slower than a slot's (the interpreter does not specialise it), so a stream's per-chunk step reads
# what it needs of its endpoint once per stream (hooks._divert).
class Endpoint(NamedTuple):
    """What one kind of HTTP call is, for telemetry and billing."""

    key: str  # "POST /chat/completions": stable, low-cardinality, shown on the span
    operation: str  # gen_ai.operation.name
    api_type: str | None = None  # openai.api.type where the convention defines one
    usage_shape: str | None = None  # a key of usage.SHAPES, or None when the body carries no usage
    billable: bool = False  # does this call itself incur spend (not a snapshot read of earlier spend)
    streamable_usage: bool = False  # chat/completions: usage in a stream only if requested
    free: bool = False  # billable endpoint that OpenAI does not charge for (moderations)
    # A usage source (sources/) that reads this endpoint's bodies: stored objects to settle once
    # ("batch", "fine_tuning", "response"), a Batch output file ("file_content"), speech SSE ("speech").
    source: str | None = None


def _row(method: str, path: str, operation: str, **kw: object) -> tuple[tuple[str, str], Endpoint]:
    return (method, path), Endpoint(key=f"{method} {path}", operation=operation, **kw)  # type: ignore[arg-type]


_ROWS: dict[tuple[str, str], Endpoint] = dict(
    [
        _row(
            "POST",
            "/chat/completions",
            "chat",
            api_type="chat_completions",
            usage_shape="chat",
            billable=True,
            streamable_usage=True,
        ),
        _row("GET", "/chat/completions/{}", "chat", api_type="chat_completions", usage_shape="chat"),
        _row(
            "POST",
            "/completions",
            "text_completion",
            usage_shape="chat",
            billable=True,
            streamable_usage=True,
        ),
        _row("POST", "/responses", "chat", api_type="responses", usage_shape="responses", billable=True),
        _row(
            "GET", "/responses/{}", "chat", api_type="responses", usage_shape="responses", source="response"
        ),
        _row(
            "POST",
            "/responses/{}/cancel",
            "chat",
            api_type="responses",
            usage_shape="responses",
            source="response",
        ),
        _row(
            "POST", "/responses/compact", "chat", api_type="responses", usage_shape="responses", billable=True
        ),
        _row("POST", "/responses/input_tokens", "count_tokens", api_type="responses"),
        _row("POST", "/embeddings", "embeddings", usage_shape="embeddings", billable=True),
        _row("POST", "/moderations", "moderation", billable=True, free=True),
        _row("POST", "/images/generations", "generate_content", usage_shape="images", billable=True),
        _row("POST", "/images/edits", "generate_content", usage_shape="images", billable=True),
        _row("POST", "/images/variations", "generate_content", usage_shape="images", billable=True),
        _row("POST", "/audio/transcriptions", "transcription", usage_shape="transcription", billable=True),
        _row("POST", "/audio/translations", "translation", usage_shape="transcription", billable=True),
        _row("POST", "/audio/speech", "speech", billable=True, source="speech"),
        _row("POST", "/decisions", "chat", api_type="decisions", usage_shape="responses", billable=True),
        _row("POST", "/batches", "batch", source="batch"),
        _row("GET", "/batches", "batch", source="batch"),
        _row("GET", "/batches/{}", "batch", source="batch"),
        _row("POST", "/batches/{}/cancel", "batch", source="batch"),
        _row("GET", "/files/{}/content", "files", source="file_content"),
        _row("POST", "/fine_tuning/jobs", "fine_tuning", source="fine_tuning"),
        _row("GET", "/fine_tuning/jobs", "fine_tuning", source="fine_tuning"),
        _row("GET", "/fine_tuning/jobs/{}", "fine_tuning", source="fine_tuning"),
        _row("POST", "/fine_tuning/jobs/{}/cancel", "fine_tuning", source="fine_tuning"),
        _row("POST", "/fine_tuning/jobs/{}/pause", "fine_tuning", source="fine_tuning"),
        _row("POST", "/fine_tuning/jobs/{}/resume", "fine_tuning", source="fine_tuning"),
        _row("POST", "/videos", "generate_content"),
        _row("GET", "/videos/{}", "generate_content"),
    ]
)

# Billed units that are not one HTTP call: the settlement of a Batch, a fine-tuning job's training,
# one realtime response or input-audio transcription. Sources (sources/) open their records on these.
BATCH_RESULTS = Endpoint(key="BATCH /batches", operation="batch", billable=True)
FINE_TUNING_TRAINING = Endpoint(key="TRAIN /fine_tuning/jobs", operation="fine_tuning", billable=True)
REALTIME_RESPONSE = Endpoint(
    key="WS /realtime response.done",
    operation="chat",
    api_type="realtime",
    usage_shape="responses",
    billable=True,
)
# responses.connect(): Responses API calls over one WebSocket, each billed at its terminal event.
RESPONSES_WEBSOCKET = Endpoint(
    key="WS /responses",
    operation="chat",
    api_type="responses",
    usage_shape="responses",
    billable=True,
    source="websocket",
)
REALTIME_TRANSCRIPTION = Endpoint(
    key="WS /realtime input_audio_transcription",
    operation="transcription",
    usage_shape="transcription",
    billable=True,
)

_BY_SEGMENTS: dict[tuple[str, int], list[tuple[tuple[str, ...], Endpoint]]] = {}
for (_method, _path), _ep in _ROWS.items():
    _parts = tuple(_path.strip("/").split("/"))
    _BY_SEGMENTS.setdefault((_method, len(_parts)), []).append((_parts, _ep))


def _generic(method: str, parts: tuple[str, ...]) -> Endpoint:
    # An endpoint the table does not know yet still gets a span: name it by its resource (the first
    # path segment, e.g. "files", "vector_stores"), which stays low-cardinality whatever the ids are.
    resource = parts[0] if parts and parts[0] else "unknown"
    return Endpoint(key=f"{method} /{resource}", operation=resource)


@lru_cache(maxsize=512)
def lookup(method: str, url: str) -> Endpoint:
    """The table row for an SDK request (method, relative or absolute URL, query string ignored)."""
    method = method.upper()
    path = url.split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    exact = _ROWS.get((method, path.rstrip("/") or "/"))
    if exact is not None:
        return exact
    parts = tuple(path.strip("/").split("/"))
    for pattern, ep in _BY_SEGMENTS.get((method, len(parts)), ()):
        if all(p == "{}" or p == s for p, s in zip(pattern, parts, strict=True)):
            return ep
    return _generic(method, parts)
