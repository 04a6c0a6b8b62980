"""The per-call record: everything one logical OpenAI call accumulates between hook and emission.

One record per logical call (all retries included). The hooks fill it from the request options, the
final HTTP response and each parsed JSON body or stream event; the emission stage reads it. It holds
no reference to the SDK's objects, so it never keeps a response or stream alive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from .endpoints import Endpoint
from .estimate import TEXT_DELTAS, collect_choice, collect_text


class CallRecord:
    """State of one logical call. Fields left ``None`` were not observed."""

    __slots__ = (
        "_end_lock",
        "attribution",
        "background",
        "batch",
        "batch_id",
        "budget",
        "chat_stream",
        "client_request_id",
        "cost",
        "data_residency",
        "deferred_parse",
        "done",
        "ended_by",
        "endpoint",
        "error",
        "finalizer",
        "finish_reasons",
        "first_chunk_ns",
        "image_count",
        "image_quality",
        "image_size",
        "input_characters",
        "job_id",
        "kind",
        "object_id",
        "organization",
        "priced_at",
        "project",
        "provider",
        "provider_name",
        "raw_usage",
        "received_text",
        "request_body",
        "request_id",
        "request_model",
        "request_n",
        "request_service_tier",
        "request_stream",
        "response_id",
        "response_model",
        "responses_stream",
        "retries",
        "retry_count",
        "send_client_request_id",
        "server_address",
        "server_port",
        "service_tier",
        "session_id",
        "settlements",
        "source_attributes",
        "span",
        "start_ns",
        "start_perf_ns",
        "status_code",
        "stream_followed",
        "system_fingerprint",
        "tool_image_model",
        "tool_usage",
        "training_method",
        "usage",
        "usage_injected",
    )

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.start_ns = time.time_ns()
        self.start_perf_ns = time.perf_counter_ns()
        self.request_model: str | None = None
        self.request_stream = False
        self.request_service_tier: str | None = None
        self.request_n: int | None = None
        self.image_size: str | None = None
        self.image_quality: str | None = None
        self.input_characters: int | None = None
        self.server_address: str | None = None
        self.server_port: int | None = None
        self.provider = "openai"  # pricing provider id
        self.provider_name = "openai"  # gen_ai.provider.name
        self.data_residency: str | None = None
        # The OpenAI organization and project the call was billed to: the client's settings, then the
        # openai-organization / openai-project response headers, which win.
        self.organization: str | None = None
        self.project: str | None = None
        self.client_request_id: str | None = None
        self.send_client_request_id = False
        self.usage_injected = False
        self.request_id: str | None = None
        self.status_code: int | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.service_tier: str | None = None
        self.system_fingerprint: str | None = None
        self.finish_reasons: dict[int, str] | None = None
        self.raw_usage: Mapping[str, Any] | None = None
        self.tool_usage: Mapping[str, Any] | None = None
        self.image_count: int | None = None
        self.retries: list[tuple[int | None, str | None]] = []
        self.retry_count: int | None = None
        self.first_chunk_ns: int | None = None
        self.error: BaseException | None = None
        self.ended_by: str | None = None
        self.stream_followed = False  # a stream hook follows this call's stream and drops what we added
        # A chat chunk, or a Responses event carrying the response, was read: later ones of the same
        # stream may take a short way.
        self.chat_stream = False
        self.responses_stream = False
        self.span: Any = None
        self.cost: Any = None
        self.finalizer: Any = None
        self.deferred_parse = False  # a raw response whose .parse() ends the call
        self.attribution: Any = None  # what attribution captured when the call started
        # Kept only when usage estimation is on: the request, and the output text as it arrives, counted
        # (never recorded) if the call ends without usage.
        self.request_body: Mapping[str, Any] | None = None
        self.received_text: list[str] | None = None
        self.budget: Any = None  # the budget reservation (budgets.guard.Reservation), if any
        self.done = False
        self._end_lock = threading.Lock()
        # Billed units that are not plain calls (sources/): what they are and the ids that dedupe them.
        self.background = False  # a background Responses request: billed when its usage is first seen
        self.kind = "call"  # "call" | "batch" | "fine_tuning" | "realtime"
        self.batch = False  # priced at Batch API rates
        self.batch_id: str | None = None
        self.job_id: str | None = None  # fine-tuning job id
        self.session_id: str | None = None  # realtime session id
        self.object_id: str | None = None  # the id in the URL of a stored-object read
        self.priced_at: Any = None  # datetime the work was done, when it is not the call's start
        self.training_method: str | None = None
        self.tool_image_model: tuple[str, bool] | None = None  # (model, assumed) of image_generation
        self.usage: Any = None  # usage a source already normalized (Batch lines, training, realtime)
        self.settlements: list[Any] | None = None  # stored objects seen by this read, to settle once
        self.source_attributes: dict[str, Any] | None = None  # span-only detail a source adds

    def claim_end(self) -> bool:
        """True exactly once: for whichever of exhaustion, close, error or GC gets here first."""
        with self._end_lock:
            if self.done:
                return False
            self.done = True
            return True

    def set_response_headers(self, status_code: int | None, headers: Mapping[str, str] | None) -> None:
        """Take what a bill needs from the final HTTP response (or the error response)."""
        self.status_code = status_code
        if headers is None:
            return
        found = _scan_headers(headers)
        if found is None:
            found = [headers.get(name) for name in _BILLING_HEADER_NAMES]
        rid, org, project = found
        if rid:
            self.request_id = rid
        if org:
            self.organization = org
        if project:
            self.project = project

    def absorb(self, data: Any) -> bool:
        """Fold one parsed JSON body or stream event into the record.

        Returns True when this event is the usage chunk that exists only because the instrumentation
        asked for it (``include_usage``): the hook then drops it before the SDK parses or validates it,
        however malformed it is. Runs once per stream chunk: it touches only a few keys, and takes a
        value only when it has the type the API documents, so no body can make it raise. Chat chunks,
        the most frequent, take the shortest way through.
        """
        if type(data) is not dict:
            return False
        if self.chat_stream:
            # The usual chunk of a chat stream after the first (which took the long way, so the model,
            # id, tier and fingerprint are known): one choice, a text delta, no finish reason, no usage.
            # Subscripts, not type checks: on a JSON value only a dict takes a string key, and anything
            # else raises here and takes the long way below.
            try:
                (choice,) = data["choices"]
                delta = choice["delta"]
                content = delta["content"]
                usual = choice["finish_reason"] is None and type(content) is str and "tool_calls" not in delta
            except Exception:
                usual = False
            if usual:
                # With include_usage injected, "usage" is null here and goes: the caller did not ask.
                # (One pop, not a look-up and then a pop: this is every chunk of every stream.)
                usage = data.pop("usage", None) if self.usage_injected else data.get("usage")
                if usage is None:
                    if self.received_text is not None:
                        self.received_text.append(content)
                    return False
                if self.usage_injected:
                    data["usage"] = usage  # not the usual chunk after all: put it back for the long way
        elif self.responses_stream:
            # A Responses stream's text deltas, after the event that carried the response: no usage,
            # model, id or status in them, only text.
            kind = data.get("type")
            if type(kind) is str and kind in TEXT_DELTAS:
                delta = data.get("delta")
                if type(delta) is str and self.received_text is not None:
                    self.received_text.append(delta)
                return False
        if "event" in data and type(data.get("data")) is dict:
            # Assistants events and synthesized event streams wrap the payload.
            data = data["data"]
        body = data.get("response")
        if type(body) is dict:
            self.responses_stream = True  # Responses stream events carry the response under "response"
        else:
            body = data
        usage = body.get("usage")
        choices = body.get("choices")
        if self.usage_injected:
            # With include_usage the API sends one chunk without choices, carrying usage, after the
            # content chunks. Content chunks always carry choices; Azure's content-filter chunk (no
            # choices, prompt_filter_results) is one the caller gets either way, and so is an event
            # that is no chat chunk at all (a response under "response").
            if (
                (type(choices) is not list or not choices)
                and body is data
                and "prompt_filter_results" not in body
            ):
                if type(usage) is dict:
                    self.raw_usage = usage
                return True
            if "usage" in data:
                # Content chunks carry "usage" (null from OpenAI) only because include_usage was
                # injected; drop the key so the parsed chunk is the one the caller would have seen.
                del data["usage"]
        if usage is not None:
            self.raw_usage = usage
        if self.response_model is None:
            model = body.get("model")
            if type(model) is str:
                self.response_model = model
        if self.response_id is None:
            rid = body.get("id")
            if type(rid) is str:
                self.response_id = rid
        if self.service_tier is None or usage is not None:
            # Every chunk of a stream names the same tier: the first and the one with usage suffice.
            tier = body.get("service_tier")
            if type(tier) is str:
                self.service_tier = tier
        if self.system_fingerprint is None:
            fp = body.get("system_fingerprint")
            if type(fp) is str:
                self.system_fingerprint = fp
        # The output text is kept only to estimate usage the API did not report: a body that reports it
        # (a whole response, the usage chunk) has none to keep.
        received = self.received_text if type(usage) is not dict else None
        if type(choices) is list:
            # Chat Completions and legacy Completions: finish reasons, and the text for estimation.
            self.chat_stream = body is data
            for position, choice in enumerate(choices):
                if type(choice) is not dict:
                    continue
                reason = choice.get("finish_reason")
                if reason and type(reason) is str:
                    index = choice.get("index", position)
                    if type(index) is not int:
                        index = position  # null, a string, junk: the choice's place in the list
                    if self.finish_reasons is None:
                        self.finish_reasons = {}
                    self.finish_reasons[index] = reason
                if received is not None:
                    collect_choice(received, choice)
            return False
        if received is not None:
            collect_text(received, data)
        tool_usage = body.get("tool_usage")
        if tool_usage is not None:
            self.tool_usage = tool_usage
        if self.endpoint.api_type == "responses":
            self._absorb_status(body)
        elif self.endpoint.usage_shape == "images":
            images = body.get("data")
            if type(images) is list:
                self.image_count = len(images)
        return False

    def _absorb_status(self, body: dict[str, Any]) -> None:
        # Responses API: the convention's finish reason is the response status, or why it stopped short.
        status = body.get("status")
        if type(status) is str and status in ("completed", "incomplete", "failed", "cancelled"):
            details = body.get("incomplete_details")
            reason = details.get("reason") if type(details) is dict else None
            if type(reason) is not str:
                reason = None
            self.finish_reasons = {0: reason or status}

    def finish_reason_list(self) -> list[str] | None:
        """Finish reasons in choice order."""
        reasons = self.finish_reasons
        if not reasons:
            return None
        if len(reasons) == 1:  # one choice, the usual call: no sort
            return list(reasons.values())
        return [reasons[k] for k in sorted(reasons)]


# The response headers a bill needs: the request id OpenAI support asks for, and who was billed.
_BILLING_HEADER_NAMES = ("x-request-id", "openai-organization", "openai-project")
_BILLING_HEADER_KEYS = tuple((i, name.encode()) for i, name in enumerate(_BILLING_HEADER_NAMES))
_LOWER_KEY = itemgetter(1)


# Header classes seen to keep httpx's (raw key, lowercased key, value) byte triples in ``_list``: a
# class keeps one layout, so each is checked once, not on every call.
_TRIPLE_HEADER_TYPES: set[type] = set()


def header_triples(headers: Any) -> list[tuple[bytes, bytes, bytes]] | None:
    """httpx's header list of ``headers`` (the SDK's httpx2 keeps the same), or None if it has none."""
    cls = type(headers)
    if cls in _TRIPLE_HEADER_TYPES:
        return headers._list  # type: ignore[no-any-return]
    items = getattr(headers, "_list", None)
    if type(items) is not list or not items:
        return None
    first = items[0]
    if (
        type(first) is not tuple
        or len(first) != 3
        or type(first[1]) is not bytes
        or type(first[2]) is not bytes
    ):
        return None
    _TRIPLE_HEADER_TYPES.add(cls)
    return items


def _scan_headers(headers: Any) -> list[str | None] | None:
    """The billing headers from httpx's header list, or None to use ``headers.get``.

    An OpenAI response has about 25 headers and ``Headers.get`` scans them all and decodes on each
    lookup; httpx (and the SDK's httpx2) keeps (raw key, lowercased key, value) byte triples. Their
    lowercased keys are listed once and searched in C: a Python loop over every header ran about 400
    bytecodes a call, each once and cold. Anything else falls back to the public lookup.
    """
    items = header_triples(headers)
    if not items:
        return None
    keys = list(map(_LOWER_KEY, items))
    found: list[str | None] = [None, None, None]
    for i, name in _BILLING_HEADER_KEYS:
        if name in keys:  # a repeated header: the first value (Headers.get would join them)
            found[i] = items[keys.index(name)][2].decode("utf-8", "replace")
    return found
