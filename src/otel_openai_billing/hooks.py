"""The wrapt wrappers at the openai SDK's choke points, and the one core they share.

Choke points (present, with these names, from openai 1.30 to 3.x):
- ``SyncAPIClient.request`` / ``AsyncAPIClient.request``: every HTTP call, once per logical call
  (retries happen inside it). Opens the record and the span.
- ``BaseClient._build_request``: each attempt's HTTP request, built (sync for both clients); our
  ``X-Client-Request-Id`` goes on it.
- ``*APIClient._process_response``: the final HTTP response of a call; ties it to the record so that
  later parsing (raw responses, streams) finds the record by the response it reads.
- ``BaseClient._process_response_data``: every parsed JSON body and every stream event, as a raw dict
  (a followed stream's events go to a step of its own instead, see ``_divert``).
- ``Stream.__stream__`` / ``AsyncStream.__stream__`` and ``close``: the life of a stream.
- A raw response's own ``parse`` (a subclass's, given to the raw responses ``request()`` returns, not
  patched on the SDK class): a raw response whose parsing fails ends its call then. Likewise its own
  ``read`` when it holds a Batch output file or speech SSE; ``iter_bytes``/``iter_lines`` are patched
  on the class.
- ``_sleep_for_retry`` (1.76+) or ``_retry_request`` (older): each failed attempt that is retried.

Each shell has one fail-open boundary: the user's call runs outside it, our bookkeeping inside it, and a
fault there is logged once per kind and swallowed. The sync and async shells differ only in ``await``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import random
import time
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from types import FunctionType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import endpoints
from . import names as n
from . import usage as usage_mod
from .budgets.errors import BudgetExceeded
from .config import Config
from .emit import Emitter
from .pricing.types import Cost, PriceQuery, pricing_day
from .record import CallRecord, header_triples
from .sources import Settled, add_candidate, image_tool_model, object_id
from .sources import realtime as realtime_source

logger = logging.getLogger("otel_openai_billing")

# The record of the call whose ``request()`` is running in this context (None outside any call).
_CURRENT: ContextVar[CallRecord | None] = ContextVar("otel_openai_billing_call", default=None)
# Attribute set on the SDK's httpx response object: how parsing that happens after ``request()``
# returned (streams, raw responses) finds its record. An attribute read is cheaper than a weak
# dictionary look-up, and this runs once per stream chunk.
_RECORD_ATTR = "_otel_openai_billing_record"
# Client request ids need to be unique, not secret: a generator of our own, seeded from the OS and
# reseeded in a forked child, costs a fraction of os.urandom's system call on every call. Not the
# random module's: an app that calls random.seed() for reproducible runs would repeat our ids.
_ids = random.Random()
# 32 hex digits; bytes' hex() is about twice as fast as formatting a 128-bit integer.
_random_bytes = _ids.randbytes
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_ids.seed)
_SERVER_CACHE_LIMIT = 256

_logged: set[str] = set()

# The usage sources that read stored objects, by endpoint source: imported on a first call of such an
# endpoint, like the audio and Batch-file sources, so an app's start-up pays for none of them.
_OBSERVER_MODULES = {"batch": "batch", "fine_tuning": "fine_tuning", "response": "responses"}


@functools.cache
def _source(name: str) -> Any:
    """The usage source module ``sources.<name>``, imported on first need (then a dict look-up)."""
    return importlib.import_module(f"{__package__}.sources.{name}")


def _observer(source: str) -> Any:
    """The ``observe`` function of the usage source reading ``source``'s bodies, or None."""
    module = _OBSERVER_MODULES.get(source)
    return None if module is None else _source(module).observe


def warn_once(kind: str, message: str) -> None:
    """Warn about a bad response the first time per kind; debug after."""
    if kind in _logged:
        logger.debug("otel-openai-billing: %s", message)
        return
    _logged.add(kind)
    logger.warning("otel-openai-billing: %s. Further cases of this kind are logged at DEBUG level.", message)


def log_once(where: str, exc: BaseException) -> None:
    """Log a fault inside the instrumentation: a warning the first time per kind, debug after."""
    key = f"{where}:{type(exc).__name__}"
    if key in _logged:
        logger.debug("otel-openai-billing: %s failed again: %r", where, exc)
        return
    _logged.add(key)
    logger.warning(
        "otel-openai-billing: %s failed (%r); the OpenAI call itself is unaffected. "
        "Further faults of this kind are logged at DEBUG level.",
        where,
        exc,
        exc_info=exc,
    )


def _has_header(headers: Any, name: str) -> bool:
    # The usual call has no headers of its own (NOT_GIVEN, or an empty dict): settled before the ABC
    # check, which costs more than the rest of this function for a value that is not a mapping.
    if not headers or not isinstance(headers, Mapping):
        return False
    lname = name.lower()
    return any(isinstance(k, str) and k.lower() == lname for k in headers)


class Core:
    """What the hooks do, independent of sync or async."""

    def __init__(
        self,
        emitter: Emitter,
        pricer: Any,
        config: Config,
        stream_types: tuple[type, ...],
        deferred_types: tuple[type, ...],
        azure_types: tuple[type, ...],
        attribution: Any = None,
        estimator: Any = None,
        ledger: Any = None,
        budgets: Any = None,
    ) -> None:
        self._emitter = emitter
        self._pricer = pricer
        self._config = config
        self._stream_types = stream_types
        self._deferred_types = deferred_types
        self._azure_types = azure_types
        self._servers: dict[int, tuple[Any, str, int, str | None, str | None]] = {}
        self.attribution = attribution
        self._settled = Settled()  # stored objects (batches, jobs, responses) billed in this process
        self._estimator = estimator  # estimate.Estimator when usage estimation is on
        self._ledger = ledger  # ledger.writer.LedgerWriter: queues, never does I/O on this thread
        self.budgets = budgets  # budgets.guard.BudgetGuard, or None when no budgets are configured

    # --- request(): start and end of a logical call ------------------------------------------
    def begin(self, client: Any, args: tuple, kwargs: dict) -> tuple[CallRecord, tuple, dict]:
        """Open the record and span of a call; returns the call arguments (its options amended)."""
        # request(cast_to, options, ...): positional in every SDK version, keyword-able too.
        options = args[1] if len(args) > 1 else kwargs["options"]
        rec = CallRecord(endpoints.lookup(options.method, options.url))
        body = options.json_data
        # A JSON object body is a dict in every SDK version; the ABC check is for anything else.
        is_object = type(body) is dict or isinstance(body, Mapping)
        extra = getattr(options, "extra_json", None)
        if extra and is_object:
            # openai 3.x keeps extra_body apart until it builds the request; the API sees both.
            body = {**body, **extra}
        if is_object:
            self._read_request(rec, body)
            if rec.endpoint.usage_shape == "transcription":
                audio = _source("audio")
                if audio.needs_duration(rec.endpoint.key, body):
                    seconds = audio.upload_seconds(getattr(options, "files", None))
                    if seconds is not None:
                        rec.usage = audio.estimated_usage(seconds)
            if (
                self._estimator is not None
                and rec.endpoint.billable
                and rec.endpoint.usage_shape in _ESTIMABLE
                # A background response is billed when it finishes, not by this call: nothing to estimate.
                and body.get("background") is not True
            ):
                rec.request_body, rec.received_text = body, []
                if rec.request_stream:
                    # Streams are where usage goes missing: have the tokenizer ready before one does.
                    self._estimator.warm(rec.request_model)
        if rec.endpoint.source is not None:
            rec.object_id = object_id(options.url)
        self._read_client(rec, client)
        if self.attribution is not None:
            rec.attribution = self.attribution.capture(body if is_object else None)
        self._amend_options(rec, client, options, body if is_object else None)
        rec.span = self._emitter.start(rec)
        if self.budgets is not None:
            self._reserve(rec, body if is_object else None)
        return rec, args, kwargs

    def _reserve(self, rec: CallRecord, body: Mapping[str, Any] | None) -> None:
        """Reserve the call's worst case; a refusal ends the span and reaches the caller, nothing is sent."""
        try:
            self.budgets.reserve(rec, body)
        except BudgetExceeded as exc:
            rec.error = exc
            try:
                self.finish(rec)
            except Exception as fault:
                log_once("ending a call a budget refused", fault)
            raise
        except Exception as exc:
            log_once("checking budgets", exc)

    def _read_request(self, rec: CallRecord, body: Mapping[str, Any]) -> None:
        model = body.get("model")
        if isinstance(model, str):
            rec.request_model = model
        rec.request_stream = body.get("stream") is True
        tier = body.get("service_tier")
        if isinstance(tier, str):
            rec.request_service_tier = tier
        count = body.get("n")
        if isinstance(count, int):
            rec.request_n = count
        if rec.endpoint.usage_shape == "images":
            size, quality = body.get("size"), body.get("quality")
            rec.image_size = size if isinstance(size, str) else None
            rec.image_quality = quality if isinstance(quality, str) else None
        elif rec.endpoint.key == "POST /audio/speech":
            text = body.get("input")
            if isinstance(text, str):
                rec.input_characters = len(text)
            if body.get("stream_format") == "sse":
                rec.request_stream = True  # usage arrives in the body's last event
        elif rec.endpoint.api_type == "responses":
            rec.background = body.get("background") is True
            rec.tool_image_model = image_tool_model(body.get("tools"))

    def _read_client(self, rec: CallRecord, client: Any) -> None:
        # The response's openai-organization / openai-project headers overwrite these when present.
        org, project = getattr(client, "organization", None), getattr(client, "project", None)
        rec.organization = org if isinstance(org, str) and org else None
        rec.project = project if isinstance(project, str) and project else None
        # What the SDK's base_url property returns (since 3.x through an import statement in the getter,
        # which cost more than the rest of this method); the property for a client without it.
        url = getattr(client, "_base_url", None)
        if url is None:
            url = client.base_url
        server = self._servers.get(id(client))
        if server is None or server[0] is not url:
            # A client keeps its base URL object (setting base_url makes a new one): what the URL
            # says of the server is worked out once per client, not on every call.
            server = self._server_of(client, url)
        _, rec.server_address, rec.server_port, provider, rec.data_residency = server
        if provider is not None:
            rec.provider = provider
            rec.provider_name = n.PROVIDER_AZURE

    def _server_of(self, client: Any, url: Any) -> tuple[Any, str, int, str | None, str | None]:
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        provider = residency = None
        if self._azure_types and isinstance(client, self._azure_types):
            provider = "azure"
        elif host.endswith(".api.openai.com"):
            # Regional endpoints (eu.api.openai.com, ...) are data-residency processing.
            residency = host.split(".", 1)[0]
        server = (url, host, port, provider, residency)
        if len(self._servers) >= _SERVER_CACHE_LIMIT:
            self._servers.clear()  # clients made per request: a bound, the entries are cheap to rebuild
        # Keyed by id(client), checked by the URL object's identity: a new client that reuses an id has
        # its own URL object, so it never gets another client's entry.
        self._servers[id(client)] = server
        return server

    def _amend_options(
        self, rec: CallRecord, client: Any, options: Any, body: Mapping[str, Any] | None
    ) -> None:
        """Settle the call's client request id (``build_request`` sends ours) and give the options our
        stream option, where they are wanted.

        The SDK builds these options for this one call (and copies them for each attempt), so they
        are changed in place, without a copy: each changed value is a new object, since the old one
        may be the caller's own (``extra_headers``, the request body).
        """
        headers = options.headers
        custom = getattr(client, "_custom_headers", None)
        add_id = self._config.client_request_id
        if add_id:
            # The usual call sets no headers of its own: settled before looking inside either.
            if (headers or custom) and (
                _has_header(headers, n.CLIENT_REQUEST_ID_HEADER)
                or _has_header(custom, n.CLIENT_REQUEST_ID_HEADER)
            ):
                # The caller's own id is the one OpenAI support will be given: record it, keep it.
                for source in (headers, custom):
                    if isinstance(source, Mapping):
                        for k, v in source.items():
                            if isinstance(k, str) and k.lower() == "x-client-request-id":
                                rec.client_request_id = str(v)
                add_id = False
            else:
                rec.client_request_id = _random_bytes(16).hex()
        # Our id goes on each attempt's request as the SDK builds it (``build_request``), not into these
        # options: a header in the options passes through the SDK's and httpx's header merging, several
        # scans of every header per attempt (about 600 bytecodes), where setting it on the built request
        # is one. The request is still built before the SDK prepares (and, for Bedrock, signs) it.
        rec.send_client_request_id = add_id
        inject = (
            self._config.inject_stream_usage
            and rec.request_stream
            and rec.endpoint.streamable_usage
            and body is not None
            and not _usage_requested(body, options)
        )
        if inject and body is not None:
            stream_options = body.get("stream_options")
            merged = dict(stream_options) if isinstance(stream_options, Mapping) else {}
            merged["include_usage"] = True
            options.json_data = {**body, "stream_options": merged}
            rec.usage_injected = True

    def enter(self, rec: CallRecord) -> tuple[Any, Any]:
        """Make the call's record and span current for the duration of ``request()``."""
        return _CURRENT.set(rec), otel_context.attach(trace.set_span_in_context(rec.span))

    @staticmethod
    def leave(tokens: tuple[Any, Any]) -> None:
        _CURRENT.reset(tokens[0])
        otel_context.detach(tokens[1])

    def returned(self, rec: CallRecord, result: Any) -> None:
        """``request()`` returned: end the call now, or when its stream or raw response is consumed."""
        if isinstance(result, self._stream_types):
            # Ends when the stream ends; if it is never consumed, when it is garbage collected.
            rec.finalizer = weakref.finalize(result, self._abandoned, rec)
            return
        if isinstance(result, self._deferred_types):
            # A raw response: ends when it is parsed (or, parsed into a stream, when that stream ends);
            # if neither ever happens, when it is garbage collected.
            rec.deferred_parse = True
            rec.finalizer = weakref.finalize(result, self._abandoned, rec)
            _watch(result, read=rec.endpoint.source in _BODY_SOURCES)
            return
        if rec.endpoint.source in _BODY_SOURCES:
            # files.content / speech: the SDK read the whole body before request() returned.
            _read_whole(rec, getattr(result, "content", None))
        self.finish(rec)

    def failed(self, rec: CallRecord, exc: BaseException) -> None:
        """``request()`` raised (after the SDK's own retries)."""
        response = getattr(exc, "response", None)
        if response is not None and hasattr(response, "status_code"):
            rec.set_response_headers(response.status_code, response.headers)
        rec.error = exc
        self.finish(rec)

    def _abandoned(self, rec: CallRecord) -> None:
        try:
            rec.ended_by = rec.ended_by or ("abandoned" if rec.request_stream else None)
            self.finish(rec)
        except Exception as exc:  # a finalizer must never raise
            log_once("ending an abandoned call", exc)

    # --- _process_response(): the final HTTP response -----------------------------------------
    def bind_response(self, response: Any, retries_taken: int | None) -> None:
        rec = _CURRENT.get()
        if rec is None:
            return
        rec.set_response_headers(getattr(response, "status_code", None), getattr(response, "headers", None))
        if retries_taken is not None:
            rec.retry_count = retries_taken
        setattr(response, _RECORD_ATTR, rec)

    # --- _process_response_data(): each JSON body (folded in by the hook, see _fold) -------------
    def parsed(self, rec: CallRecord) -> None:
        """A body was parsed after ``request()`` returned (a raw response's ``.parse()``): the end."""
        if rec.deferred_parse and _CURRENT.get() is not rec:
            self.finish(rec)

    # --- streams --------------------------------------------------------------------------------
    def stream_record(self, stream: Any) -> CallRecord | None:
        """The record a new stream belongs to; the stream now owns the end of the call."""
        rec = getattr(getattr(stream, "response", None), _RECORD_ATTR, None)
        if rec is None or rec.done:
            return None
        if rec.finalizer is not None:
            rec.finalizer.detach()
        rec.deferred_parse = False
        rec.stream_followed = True
        rec.finalizer = weakref.finalize(stream, self._abandoned, rec)
        return rec

    def stream_ended(self, rec: CallRecord, how: str, exc: BaseException | None) -> None:
        if exc is not None and rec.error is None:
            rec.error = exc
        rec.ended_by = rec.ended_by or how
        self.finish(rec)

    def stream_closed(self, stream: Any) -> None:
        rec = getattr(getattr(stream, "response", None), _RECORD_ATTR, None)
        if rec is not None and not rec.done:
            rec.ended_by = rec.ended_by or "closed"
            self.finish(rec)

    # --- retries --------------------------------------------------------------------------------
    def retry(self, status_code: int | None, headers: Mapping[str, str] | None) -> None:
        rec = _CURRENT.get()
        if rec is None:
            return
        request_id = headers.get("x-request-id") if headers is not None else None
        rec.retries.append((status_code, request_id))
        self._emitter.retry(rec, status_code, request_id)

    # --- the end: usage -> pricing -> emission ----------------------------------------------------
    def finish(self, rec: CallRecord) -> None:
        if not rec.claim_end():
            return
        if rec.finalizer is not None:
            rec.finalizer.detach()
        ep = rec.endpoint
        # A stored object read back (retrieve, list, polling) is no new usage: only billable units have any.
        usage = usage_mod.extract(ep.usage_shape, rec.raw_usage, rec.tool_usage) if ep.billable else None
        if usage is None and ep.billable:
            usage = rec.usage if rec.usage is not None else _usage_from_request(rec)
        estimated = None
        if usage is None and rec.received_text is not None and self._billed(rec):
            usage, estimated = self._estimate(rec)
        bad = usage_mod.implausible(usage) if usage is not None else None
        if usage is not None and bad:
            cost = _inconsistent(rec, usage, bad)
            if not self._billed(rec):
                cost = None  # still without the junk counts, but no spend to speak of
        elif self._billed(rec) and not (usage is None and rec.background):
            # (A background response's create has no usage yet: the read that sees it finished bills it.)
            cost = self._price(rec, usage, estimated)
        else:
            cost = None
        span_attrs = metric_attrs = None
        if self.attribution is not None and rec.attribution is not None:
            span_attrs, metric_attrs = self.attribution.attributes(rec.attribution)
        if rec.budget is not None and rec.budget.span_attributes:
            span_attrs = (
                {**span_attrs, **rec.budget.span_attributes} if span_attrs else rec.budget.span_attributes
            )
        self._emitter.finish(rec, usage, cost, span_attrs, metric_attrs)
        if self.attribution is not None and rec.attribution is not None:
            self.attribution.settled(rec.attribution, cost)
        if self.budgets is not None:
            try:
                self.budgets.settle(rec, cost)
            except Exception as exc:
                log_once("settling budgets", exc)
        if self._ledger is not None:
            self._ledger.write(rec, usage, cost, span_attrs)
        if rec.background and rec.response_id and usage is not None:
            self._settled.claim(_source("responses").key(rec.response_id))  # reads of it add nothing
        if rec.settlements:
            self._settle(rec)

    def _settle(self, read: CallRecord) -> None:
        """Bill, once, the stored objects a read saw finished: each its own record, under the read's span."""
        parent = trace.set_span_in_context(read.span) if read.span is not None else None
        for candidate in read.settlements or ():
            for unit in candidate(self._settled):
                unit.span = self._emitter.start(unit, parent)
                self.finish(unit)

    # --- bodies without JSON: a Batch output file, speech SSE ------------------------------------
    # The SDK reads them whole before request() returns (files.content, speech: billed in returned()),
    # or, with with_streaming_response, as the caller reads: read() (see _watch) or
    # iter_bytes/iter_lines (patched on the class).
    def body_tap(self, api_response: Any) -> tuple[CallRecord, Any] | None:
        """A reader for the body of ``files.content`` or speech SSE, or None."""
        return self.tap(_record_of(api_response))

    def tap(self, rec: CallRecord | None) -> tuple[CallRecord, Any] | None:
        """A reader for the body of the call ``rec`` (``files.content`` or speech SSE), or None."""
        if rec is None or rec.done:
            return None
        source = rec.endpoint.source
        if source == "file_content":
            reader = _source("batch").open_output_file(rec, self._settled)
        elif source == "speech" and rec.request_stream:
            reader = _source("audio").SpeechTail()
        else:
            return None
        return None if reader is None else (rec, reader)

    def body_read(self, tap: tuple[CallRecord, Any], complete: bool) -> None:
        """The caller stopped reading the body: settle what a complete body shows, and end the call."""
        rec, reader = tap
        if complete:
            if rec.endpoint.source == "speech":  # tap() gave speech SSE a SpeechTail
                rec.usage = reader.usage()
            else:
                units = reader.settle(self._settled)
                if units:
                    add_candidate(rec, lambda _settled: units)
        self.finish(rec)

    # --- realtime (WebSocket): events of the SDK's connection classes ----------------------------
    def realtime_event(self, conn: Any, etype: str, data: Any, responses_api: bool = False) -> None:
        state = realtime_source.session_of(conn, self._realtime_abandoned, responses_api)
        for rec in realtime_source.on_event(state, etype, data, self._open_unit):
            self.finish(rec)

    def _open_unit(self, rec: CallRecord) -> CallRecord:
        if self.attribution is not None:
            rec.attribution = self.attribution.capture(None)
        rec.span = self._emitter.start(rec)
        return rec

    def realtime_closed(self, conn: Any) -> None:
        state = realtime_source.existing(conn)
        if state is not None:
            for rec in realtime_source.close_open(state, "closed"):
                self.finish(rec)

    def _realtime_abandoned(self, state: realtime_source.Session) -> None:
        try:
            for rec in realtime_source.close_open(state, "abandoned"):
                self.finish(rec)
        except Exception as exc:  # a finalizer must never raise
            log_once("ending an abandoned realtime session", exc)

    def _estimate(self, rec: CallRecord) -> tuple[usage_mod.Usage | None, str]:
        """Usage counted from the request and the output that arrived, with the method; or why not."""
        if not rec.request_stream and rec.response_id is None:
            # A raw response dropped unread: its output was generated but never seen, so not counted.
            return None, "the response body was never read"
        model = rec.response_model or rec.request_model
        return self._estimator.estimate(model, rec.request_body, rec.received_text)

    @staticmethod
    def _billed(rec: CallRecord) -> bool:
        if rec.kind != "call" or rec.endpoint.source == "websocket":
            return True  # a settled unit or a WebSocket response that reported usage: spend by definition
        # Only calls the API accepted incur spend; a 4xx/5xx or a connection failure is not billed.
        status = rec.status_code
        return rec.endpoint.billable and status is not None and 200 <= status < 300

    def _price(
        self, rec: CallRecord, usage: usage_mod.Usage | None, estimated: str | None = None
    ) -> Cost | None:
        if self._pricer is None:
            return None
        query = PriceQuery(
            model=rec.response_model or rec.request_model,
            request_model=rec.request_model,
            endpoint=rec.endpoint.key,
            provider=rec.provider,
            service_tier=rec.service_tier,
            data_residency=rec.data_residency,
            timestamp=rec.priced_at or pricing_day(rec.start_ns),
            image_size=rec.image_size,
            image_quality=rec.image_quality,
            free=rec.endpoint.free,
            batch=rec.batch,
            training_method=rec.training_method,
            tool_image_model=rec.tool_image_model[0] if rec.tool_image_model else None,
        )
        # finish() checked every count of usage (usage_mod.implausible) before it came here.
        cost = self._pricer.price(usage, query, checked=True)
        if (
            rec.tool_image_model is not None
            and rec.tool_image_model[1]
            and "image_tool_output" in cost.components
        ):
            note = (
                f"image_generation tool model not named in the request; priced as {rec.tool_image_model[0]}"
            )
            cost.reason = f"{cost.reason}; {note}" if cost.reason else note
        cut = rec.ended_by in ("closed", "abandoned", "error")
        if usage is None and rec.kind == "realtime" and rec.ended_by and cost.amount is None:
            cost.reason = f"realtime session {rec.ended_by} before response.done reported usage"
        elif usage is None and cut and cost.amount is None:
            cost.reason = f"stream {rec.ended_by} before the API reported usage"
        if estimated is not None:
            # The method when usage was estimated, else why it could not be.
            if usage is not None:
                cost.estimate_method = estimated
                why = (
                    f"stream {rec.ended_by} before the API reported usage" if cut else "the API reported none"
                )
                cost.reason = "; ".join(filter(None, (cost.reason, f"usage estimated: {why}")))
            else:
                cost.reason = f"{cost.reason}; not estimated: {estimated}"
        return cost


# Usage shapes whose requests the estimator can count (chat, Responses, legacy Completions).
_ESTIMABLE = ("chat", "responses")
# Endpoint sources whose usage is in a body that is not JSON (Core.tap): a Batch output file, speech SSE.
_BODY_SOURCES = ("file_content", "speech")


def _record_of(api_response: Any) -> CallRecord | None:
    """The record of the call an SDK response object (a raw or streaming response) belongs to."""
    return getattr(getattr(api_response, "http_response", None), _RECORD_ATTR, None)


def _usage_requested(body: Mapping[str, Any], options: Any) -> bool:
    for source in (body, getattr(options, "extra_json", None)):
        if isinstance(source, Mapping):
            so = source.get("stream_options")
            if isinstance(so, Mapping) and "include_usage" in so:
                return True
    return False


def _inconsistent(rec: CallRecord, usage: usage_mod.Usage, bad: list[str]) -> Cost:
    # Priced from junk, the call would carry a junk amount: it gets none, and the junk counts are
    # dropped so that the span and the token histogram carry only what is plausible.
    found = ", ".join(f"{name}={getattr(usage, name)!r}"[:80] for name in bad)
    for name in bad:
        setattr(usage, name, None)
    warn_once(
        f"inconsistent usage:{bad[0]}",
        f"{rec.endpoint.key} reported usage no call has ({found}); the call is not priced "
        f"({n.COST_STATUS}={n.COST_STATUS_INCONSISTENT})",
    )
    return Cost(status=n.COST_STATUS_INCONSISTENT, reason=f"usage out of range: {found}")


def _usage_from_request(rec: CallRecord) -> usage_mod.Usage | None:
    # Endpoints that return no usage are billed on what the request or response shows.
    if rec.input_characters is not None:
        return usage_mod.Usage(input_characters=rec.input_characters, estimated=True)
    if rec.image_count is not None:
        return usage_mod.Usage(images=rec.image_count)
    return None


class _Active:
    """The installed core; None after ``uninstrument()``, so wrappers the SDK cached pass through."""

    core: Core | None = None


ACTIVE = _Active()


# --- Shells ------------------------------------------------------------------------------------
def request_sync(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    core = ACTIVE.core
    if core is None or _CURRENT.get() is not None:
        return wrapped(*args, **kwargs)
    try:
        rec, args, kwargs = core.begin(instance, args, kwargs)
        tokens = core.enter(rec)
    except BudgetExceeded:
        raise  # a budget refused the call: the caller gets it, and nothing is sent
    except Exception as exc:
        log_once("starting a call", exc)
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _settle(core, rec, tokens, None, exc)
        raise
    _settle(core, rec, tokens, result, None)
    return result


async def request_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    core = ACTIVE.core
    if core is None or _CURRENT.get() is not None:
        return await wrapped(*args, **kwargs)
    try:
        rec, args, kwargs = core.begin(instance, args, kwargs)
        tokens = core.enter(rec)
    except BudgetExceeded:
        raise  # a budget refused the call: the caller gets it, and nothing is sent
    except Exception as exc:
        log_once("starting a call", exc)
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _settle(core, rec, tokens, None, exc)
        raise
    _settle(core, rec, tokens, result, None)
    return result


def _settle(core: Core, rec: CallRecord, tokens: Any, result: Any, exc: BaseException | None) -> None:
    try:
        core.leave(tokens)
        if exc is not None:
            core.failed(rec, exc)
        else:
            core.returned(rec, result)
    except Exception as fault:
        log_once("ending a call", fault)


def build_request(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Each attempt's request, as the SDK builds it: our client request id, the same on every retry."""
    request = wrapped(*args, **kwargs)
    rec = _CURRENT.get()
    if rec is not None and rec.send_client_request_id:
        try:
            headers = request.headers
            items = header_triples(headers)
            if items is not None:
                # httpx (and the SDK's httpx2) keep (raw key, lowercased key, value) byte triples; the
                # header is not there (begin() checked the caller's), so it is appended, where setting
                # it through the public API scans every header first (about 200 bytecodes).
                items.append((_ID_HEADER, _ID_HEADER_LOWER, rec.client_request_id.encode()))
            else:
                headers[n.CLIENT_REQUEST_ID_HEADER] = rec.client_request_id
        except Exception as exc:
            log_once("adding the client request id", exc)
    return request


_ID_HEADER = n.CLIENT_REQUEST_ID_HEADER.encode()
_ID_HEADER_LOWER = _ID_HEADER.lower()


def process_response_sync(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    core = ACTIVE.core
    if core is not None:
        try:
            core.bind_response(kwargs.get("response"), kwargs.get("retries_taken"))
        except Exception as exc:
            log_once("reading the response", exc)
    return wrapped(*args, **kwargs)


async def process_response_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    core = ACTIVE.core
    if core is not None:
        try:
            core.bind_response(kwargs.get("response"), kwargs.get("retries_taken"))
        except Exception as exc:
            log_once("reading the response", exc)
    return await wrapped(*args, **kwargs)


# Returned to the SDK's stream in place of the usage chunk that the instrumentation asked for: the
# stream hook drops it, so the SDK never parses or validates a chunk the caller did not ask for.
_DROPPED = object()


def process_response_data(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    # Every body, and every event of a stream that is not diverted (see _divert): the record is read
    # straight off the response.
    core = ACTIVE.core
    if core is None:
        return wrapped(*args, **kwargs)
    rec = None
    try:
        rec = getattr(kwargs.get("response"), _RECORD_ATTR, None) or _CURRENT.get()
    except Exception as exc:
        log_once("reading a response body", exc)
    if rec is not None:
        if rec.done:
            rec = None
        elif _fold(rec, kwargs.get("data"), rec.endpoint.source):
            return _DROPPED  # the stream hook follows this stream and drops the marker
    result = wrapped(*args, **kwargs)
    if rec is not None and rec.deferred_parse:
        try:
            core.parsed(rec)
        except Exception as exc:
            log_once("ending a parsed call", exc)
    return result


def _fold(rec: CallRecord, data: Any, source: str | None) -> bool:
    """Fold one body or stream event into its record (``source``: its endpoint's); True for the usage
    chunk that include_usage added to a followed stream, which the stream hook drops. The fail-open
    boundary of both ways in."""
    try:
        drop = rec.absorb(data)
        if source is not None:
            # A stored object (a Batch, a fine-tuning job, a background response) seen by a read.
            observe = _observer(source)
            if observe is not None:
                observe(rec, data)
        return drop and rec.stream_followed
    except Exception as exc:
        log_once("reading a response body", exc)
        return False


# --- A followed stream's per-event step ----------------------------------------------------------
# The SDK's stream takes its client's ``_process_response_data`` once, when its generator starts, and
# calls it for every event. Through our wrapt hook each event paid for the wrapper's dispatch and for
# finding its record again: about half of what a chunk cost us. So until that start, a followed
# stream's client is stood in for by one whose step already knows the record and goes straight to the
# SDK's own function. Only when nothing else wraps that function over ours, and its signature is the
# one every SDK from 1.30 to 3.x has; otherwise the stream's events take the hook as before.
_STEP = "_process_response_data"
_STEP_PARAMS = ("self", "data", "cast_to", "response")


class _StreamClient:
    """A stream's client, but for its per-event step: the one of this stream."""

    __slots__ = ("_otel_openai_billing_client", "_process_response_data")

    def __init__(self, client: Any, step: Any) -> None:
        self._otel_openai_billing_client = client
        self._process_response_data = step

    def __getattr__(self, name: str) -> Any:
        return getattr(self._otel_openai_billing_client, name)


def _sdk_step(client: Any) -> Any:
    """The SDK's own ``_process_response_data`` function, if our hook is all that wraps it for ``client``."""
    if _STEP in getattr(client, "__dict__", ()):
        return None
    for klass in type(client).__mro__:
        attr = klass.__dict__.get(_STEP)
        if attr is not None:
            break
    else:
        return None
    # A wrapper put over ours must still see every event: then no short cut.
    if getattr(attr, "_self_wrapper", None) is not process_response_data:
        return None
    original = attr.__wrapped__
    if type(original) is not FunctionType:
        return None
    code = original.__code__
    if code.co_argcount != 1 or code.co_kwonlyargcount != 3 or code.co_varnames[:4] != _STEP_PARAMS:
        return None
    return original


def _divert(rec: CallRecord, stream: Any) -> Any:
    """Give a followed stream the step of its own (see above); the client to put back, or None."""
    try:
        client = getattr(stream, "_client", None)
        original = _sdk_step(client) if client is not None else None
        if original is None:
            return None

        source = rec.endpoint.source  # read once per stream, not per chunk

        def step(*, data: Any, cast_to: Any, response: Any) -> Any:
            if not rec.done and _fold(rec, data, source):
                return _DROPPED
            return original(client, data=data, cast_to=cast_to, response=response)

        stream._client = _StreamClient(client, step)
        return client
    except Exception as exc:
        log_once("following a stream", exc)
        return None


def _watch(response: Any, read: bool) -> None:
    """Give one SDK raw response a ``parse`` that ends the call when it raises (see _parse_failed) and,
    with ``read``, a ``read`` that bills the whole body it returns (a Batch output file or speech SSE,
    see _body_read). Sync or async, as the class's methods are.

    The response becomes an instance of a subclass (same name, same layout, one per SDK class) that
    overrides the two methods; the SDK parses and reads every other response through the class's own,
    and none of those calls pays for a wrapper. A subclass, not methods set on the instance: a method
    in the instance's ``__dict__`` is called without the instance, so ``...create(...).parse()``, the
    usual one-line form, would drop the response before its parse ran, and holding the response from
    its own ``__dict__`` would keep it (and the call) alive until a garbage collection.
    ``iter_bytes``/``iter_lines`` stay patched on the class: only a body read as it streams calls them.
    """
    cls = type(response)
    watched = _WATCHED.get((cls, read))
    if watched is None:
        watched = _watched_class(cls, read)
    if watched is not cls:
        try:
            response.__class__ = watched
        except TypeError as exc:  # a layout the subclass cannot take: its parse and read stay unwatched
            _WATCHED[(cls, read)] = cls
            log_once(f"watching {cls.__qualname__}", exc)


def _watched_class(cls: type, read: bool) -> type:
    watching: dict[str, Any] = {}
    if callable(getattr(cls, "parse", None)):
        watching["parse"] = _watching(cls.parse, raised=_parse_failed)
    if read and callable(getattr(cls, "read", None)):  # e.g. a legacy raw response has no read
        watching["read"] = _watching(cls.read, returned=_body_read)
    watched = cls
    if watching:
        namespace = {
            "__slots__": (),  # the SDK class's layout, so that __class__ can be assigned
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            **watching,
        }
        try:
            watched = type(cls.__name__, (cls,), namespace)
        except TypeError as exc:  # an SDK class that cannot be subclassed: its parse and read unwatched
            log_once(f"watching {cls.__qualname__}", exc)
    _WATCHED[(cls, read)] = _WATCHED[(watched, read)] = watched  # a watched response is not watched twice
    return watched


def _watching(method: Any, returned: Any = None, raised: Any = None) -> Any:
    """``method``, then ``returned(self, result)``, or ``raised(self, exc)`` when it raises."""
    if inspect.iscoroutinefunction(method):

        async def watched_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = await method(self, *args, **kwargs)
            except BaseException as exc:
                if raised is not None:
                    raised(self, exc)
                raise
            if returned is not None:
                returned(self, result)
            return result

        return functools.wraps(method)(watched_async)

    def watched_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except BaseException as exc:
            if raised is not None:
                raised(self, exc)
            raise
        if returned is not None:
            returned(self, result)
        return result

    return functools.wraps(method)(watched_sync)


# (SDK response class, read watched) -> the subclass _watch gives its raw responses.
_WATCHED: dict[tuple[type, bool], type] = {}


def _parse_failed(raw_response: Any, exc: BaseException) -> None:
    # A raw response's .parse() raised (a body that is not JSON, a strict validation error): the
    # call ends now, with that error, not when the response is garbage collected.
    core = ACTIVE.core
    if core is None:
        return
    try:
        rec = _record_of(raw_response)
        if rec is not None and rec.deferred_parse and not rec.done:
            rec.error = exc
            core.finish(rec)
    except Exception as fault:
        log_once("ending a failed parse", fault)


def _follow_hook(find: str, where: str, follow: Any) -> Any:
    """A wrapper of an SDK method returning an iterator (a stream's ``__stream__``, a raw response's
    ``iter_bytes``/``iter_lines``): the iterator, followed by ``follow(core, found, it, wrapped,
    instance)`` when ``Core.<find>(instance)`` finds something to follow in it."""

    def hook(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        it = wrapped(*args, **kwargs)
        core = ACTIVE.core
        if core is None:
            return it
        try:
            found = getattr(core, find)(instance)
        except Exception as exc:
            log_once(where, exc)
            return it
        return it if found is None else follow(core, found, it, wrapped, instance)

    return hook


def _first_chunk(rec: CallRecord, stream: Any, client: Any) -> None:
    """The first chunk the caller gets: its time, and the stream's own client back. Returns None, the
    follower's new "client to put back": none is left."""
    rec.first_chunk_ns = time.perf_counter_ns()
    if client is not None:
        stream._client = client


# The SDK's generator takes its step from the stream's client when it starts, which is inside the
# first ``next()``: the stand-in is put there just before, and the client back after the first event.
def _follow_sync(core: Core, rec: CallRecord, gen: Any, stream: Any) -> Any:
    how, error = "exhausted", None
    client = _divert(rec, stream)
    try:
        for item in gen:
            if item is not _DROPPED:
                client = _first_chunk(rec, stream, client)
                yield item
                break
        # Every later chunk pays only for this loop.
        for item in gen:
            if item is not _DROPPED:
                yield item
    except GeneratorExit:
        how = "abandoned"
        gen.close()
        raise
    except BaseException as exc:
        how, error = "error", exc
        raise
    finally:
        if client is not None:
            stream._client = client
        _stream_end(core, rec, how, error)


async def _follow_async(core: Core, rec: CallRecord, gen: Any, stream: Any) -> Any:
    how, error = "exhausted", None
    client = _divert(rec, stream)
    try:
        async for item in gen:
            if item is not _DROPPED:
                client = _first_chunk(rec, stream, client)
                yield item
                break
        # Every later chunk pays only for this loop.
        async for item in gen:
            if item is not _DROPPED:
                yield item
    except GeneratorExit:
        # Closed by garbage collection (or aclose()): the event loop finalizes the SDK's generator
        # itself, so closing it from here would race that ("aclose(): asynchronous generator is
        # already running").
        how = "abandoned"
        raise
    except BaseException as exc:
        how, error = "error", exc
        raise
    finally:
        if client is not None:
            stream._client = client
        _stream_end(core, rec, how, error)


stream_sync = _follow_hook(
    "stream_record",
    "following a stream",
    lambda core, rec, gen, _, stream: _follow_sync(core, rec, gen, stream),
)
stream_async = _follow_hook(
    "stream_record",
    "following a stream",
    lambda core, rec, gen, _, stream: _follow_async(core, rec, gen, stream),
)


def _stream_end(core: Core, rec: CallRecord, how: str, error: BaseException | None) -> None:
    try:
        core.stream_ended(rec, how, error)
    except Exception as exc:
        log_once("ending a stream", exc)


def _close_hooks(ended: str, where: str) -> tuple[Any, Any]:
    """Sync and async wrappers of a ``close`` method: after it, ``Core.<ended>(instance)`` is called."""

    def after(instance: Any) -> None:
        core = ACTIVE.core
        if core is None:
            return
        try:
            getattr(core, ended)(instance)
        except Exception as exc:
            log_once(where, exc)

    def close_sync(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            after(instance)

    async def close_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        finally:
            after(instance)

    return close_sync, close_async


stream_close_sync, stream_close_async = _close_hooks("stream_closed", "ending a closed stream")


def _tap_chunk(tap: tuple[CallRecord, Any], method: str, chunk: Any) -> bool:
    try:
        getattr(tap[1], method)(chunk)
        return True
    except Exception as exc:
        log_once("reading a response body", exc)
        return False


def _tap_end(core: Core, tap: tuple[CallRecord, Any], complete: bool) -> None:
    try:
        core.body_read(tap, complete)
    except Exception as exc:
        log_once("ending a response body", exc)


def _follow_body_sync(core: Core, tap: tuple[CallRecord, Any], it: Any, method: str) -> Any:
    # Bills only a body read to its end; a reader fault stops our reading, never the caller's.
    reading, complete = True, False
    try:
        for chunk in it:
            if reading:
                reading = _tap_chunk(tap, method, chunk)
            yield chunk
        complete = reading
    except GeneratorExit:
        it.close()
        raise
    finally:
        _tap_end(core, tap, complete)


async def _follow_body_async(core: Core, tap: tuple[CallRecord, Any], it: Any, method: str) -> Any:
    reading, complete = True, False
    try:
        async for chunk in it:
            if reading:
                reading = _tap_chunk(tap, method, chunk)
            yield chunk
        complete = reading
    except GeneratorExit:
        await it.aclose()
        raise
    finally:
        _tap_end(core, tap, complete)


def _body_mode(wrapped: Any) -> str:
    return "line" if wrapped.__name__ == "iter_lines" else "feed"


body_iter_sync = _follow_hook(
    "body_tap",
    "following a response body",
    lambda core, tap, it, wrapped, _: _follow_body_sync(core, tap, it, _body_mode(wrapped)),
)
body_iter_async = _follow_hook(
    "body_tap",
    "following a response body",
    lambda core, tap, it, wrapped, _: _follow_body_async(core, tap, it, _body_mode(wrapped)),
)


def _body_read(api_response: Any, body: Any) -> None:
    # A raw or streaming response's own read() returned the whole body (see _watch).
    _read_whole(_record_of(api_response), body)


def _read_whole(rec: CallRecord | None, body: Any) -> None:
    """A body read whole: bill what it shows and end its call. Fails open."""
    core = ACTIVE.core
    if core is None or not isinstance(body, bytes):
        return
    try:
        tap = core.tap(rec)
        if tap is not None:
            tap[1].feed(body)
            core.body_read(tap, True)
    except Exception as exc:
        log_once("reading a response body", exc)


def _parse_event_hook(responses_api: bool) -> Any:
    """``<X>Connection.parse_event``: every server event ``recv()`` returns, sync and async."""

    def hook(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        event = wrapped(*args, **kwargs)
        core = ACTIVE.core
        if core is not None:
            etype = getattr(event, "type", None)
            # The SDK does not validate server events: a junk type (a list) must not raise here.
            if type(etype) is str and etype in realtime_source.WATCHED:
                try:
                    data = args[0] if args else kwargs.get("data")
                    core.realtime_event(instance, etype, data, responses_api)
                except Exception as exc:
                    log_once("reading a WebSocket event", exc)
        return event

    return hook


realtime_parse_event = _parse_event_hook(responses_api=False)
responses_ws_parse_event = _parse_event_hook(responses_api=True)


realtime_close_sync, realtime_close_async = _close_hooks("realtime_closed", "ending a WebSocket session")


def sleep_for_retry_sync(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    _retrying(kwargs.get("response"))
    return wrapped(*args, **kwargs)


async def sleep_for_retry_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    _retrying(kwargs.get("response"))
    return await wrapped(*args, **kwargs)


def _retrying(response: Any) -> None:
    core = ACTIVE.core
    if core is None:
        return
    try:
        if response is None:
            core.retry(None, None)
        else:
            core.retry(response.status_code, response.headers)
    except Exception as exc:
        log_once("recording a retry", exc)


def _legacy_retry_headers(args: tuple, kwargs: dict) -> Any:
    # openai < 1.76: _retry_request(options, cast_to, remaining_retries, response_headers, ...)
    return args[3] if len(args) > 3 else kwargs.get("response_headers")


def retry_request_sync(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    _legacy_retrying(args, kwargs)
    return wrapped(*args, **kwargs)


async def retry_request_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    _legacy_retrying(args, kwargs)
    return await wrapped(*args, **kwargs)


def _legacy_retrying(args: tuple, kwargs: dict) -> None:
    core = ACTIVE.core
    if core is None:
        return
    try:
        # These versions hand over only the failed response's headers, not its status.
        core.retry(None, _legacy_retry_headers(args, kwargs))
    except Exception as exc:
        log_once("recording a retry", exc)
