"""Emission: a finished call record (with its usage and cost) -> span attributes and metric points.

The only module that talks to OpenTelemetry's tracing and metrics APIs. Span and metrics come from
the same record in the same step, so they never disagree.
"""

from __future__ import annotations

import operator
import time
from itertools import compress
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from . import names as n
from .pricing.types import Cost
from .record import CallRecord
from .usage import Usage

# Advisory bucket boundaries the GenAI metric conventions recommend.
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [4**i for i in range(14)]  # 1, 4, 16, ... 67,108,864
# Distinct metric attribute combinations kept built (models x tiers x servers x error types).
_ATTRIBUTE_SET_LIMIT = 1024

# Usage field -> span attribute, for the token counts the conventions name: read in one call, and
# the reported ones (not None) picked and added in C (attrgetter, compress, dict.update), not field by
# field in Python.
_USAGE_VALUES = operator.attrgetter(*(field for field, _ in n.USAGE_FIELD_ATTRIBUTES))
_USAGE_NAMES = tuple(attr for _, attr in n.USAGE_FIELD_ATTRIBUTES)
_NONES = (None,) * len(_USAGE_NAMES)


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its class under its public module (``openai.RateLimitError``)."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    # Drop private segments: openai._exceptions.RateLimitError is exported as openai.RateLimitError.
    public = [p for p in cls.__module__.split(".") if not p.startswith("_")]
    return ".".join([*public[:1], *public[1:], cls.__qualname__]) if public else cls.__qualname__


def error_description(exc: BaseException, kind: str) -> str:
    """What the span says about an error: its type and, for an API error, the error's ``type``,
    ``code`` and ``param``. Never the message: the API's messages can quote the request."""
    if not type(exc).__module__.startswith("openai"):
        return kind
    found = []
    for field in ("type", "code", "param"):  # set from the error body by openai.APIError
        value = getattr(exc, field, None)
        if isinstance(value, str | int) and not isinstance(value, bool):
            found.append(f"{field}={str(value)[:64]}")
    return f"{kind} ({', '.join(found)})" if found else kind


class Emitter:
    """Starts the span of a call and, when it ends, writes span attributes and metric points."""

    def __init__(self, tracer: Tracer, meter: Meter | None) -> None:
        self._tracer = tracer
        self._metrics = meter is not None
        self._sets: dict[tuple[Any, ...], _AttributeSets] = {}
        if meter is not None:
            self._duration = meter.create_histogram(
                n.METRIC_OPERATION_DURATION,
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self._tokens = meter.create_histogram(
                n.METRIC_TOKEN_USAGE,
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
            self._ttfc = meter.create_histogram(
                n.METRIC_TIME_TO_FIRST_CHUNK,
                unit="s",
                description="Time to receive the first chunk of a streamed response.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self._cost = meter.create_counter(
                n.METRIC_COST,
                unit=n.METRIC_COST_UNIT,
                description="USD spent on OpenAI calls, as priced locally.",
            )
            self._unpriced = meter.create_counter(
                n.METRIC_UNPRICED_CALLS,
                unit="{call}",
                description="Billable OpenAI calls that could not be priced.",
            )
            self._spend_limit = meter.create_counter(
                n.METRIC_SPEND_LIMIT_EXCEEDED,
                unit="{call}",
                description="Calls OpenAI refused because an organization or project spend limit was hit.",
            )

    def start(self, rec: CallRecord, context: Any = None) -> Any:
        """Open the CLIENT span of a call, with the attributes known before it is sent.

        ``context``: the parent, when it is not the current span (a settlement under the read that saw it).
        """
        ep = rec.endpoint
        attrs: dict[str, Any] = {
            n.PROVIDER_NAME: rec.provider_name,
            n.OPERATION_NAME: ep.operation,
            n.ENDPOINT: ep.key,
        }
        if rec.request_model:
            attrs[n.REQUEST_MODEL] = rec.request_model
        if ep.api_type:
            attrs[n.OPENAI_API_TYPE] = ep.api_type
        if rec.server_address:
            attrs[n.SERVER_ADDRESS] = rec.server_address
        if rec.server_port:
            attrs[n.SERVER_PORT] = rec.server_port
        if rec.request_stream:
            attrs[n.REQUEST_STREAM] = True
        if rec.request_service_tier:
            attrs[n.OPENAI_REQUEST_SERVICE_TIER] = rec.request_service_tier
        if rec.request_n is not None and rec.request_n != 1:
            attrs[n.REQUEST_CHOICE_COUNT] = rec.request_n
        if rec.client_request_id:
            attrs[n.OPENAI_CLIENT_REQUEST_ID] = rec.client_request_id
        name = f"{ep.operation} {rec.request_model}" if rec.request_model else ep.operation
        return self._tracer.start_span(
            name, context=context, kind=SpanKind.CLIENT, attributes=attrs, start_time=rec.start_ns
        )

    def retry(self, rec: CallRecord, status_code: int | None, request_id: str | None) -> None:
        """One failed attempt that the SDK is about to retry."""
        attrs: dict[str, Any] = {n.EVENT_RETRY_ATTEMPT: len(rec.retries)}
        if status_code is not None:
            attrs[n.HTTP_STATUS_CODE] = status_code
        if request_id:
            attrs[n.OPENAI_REQUEST_ID] = request_id
        rec.span.add_event(n.EVENT_RETRY, attrs)

    def finish(
        self,
        rec: CallRecord,
        usage: Usage | None,
        cost: Cost | None,
        span_attributes: dict[str, Any] | None = None,
        metric_attributes: dict[str, Any] | None = None,
    ) -> None:
        """Write everything the call produced and end its span.

        ``span_attributes`` go on the span only (attribution); ``metric_attributes`` also go on the
        cost and token metrics (the attribution keys the user enabled, already bounded).
        """
        end_perf = time.perf_counter_ns()
        err = rec.error
        kind = error_type(err) if err is not None else None
        span = rec.span
        try:
            span.set_attributes(_end_attributes(rec, usage, cost, span_attributes, kind))
            if err is not None and kind is not None:
                description = error_description(err, kind)
                span.set_status(Status(StatusCode.ERROR, description))
                if not isinstance(err, GeneratorExit):
                    # The exception event without the exception's message or stack trace: both can
                    # quote the request (an invalid value echoed back, the caller's source line).
                    span.add_event(
                        n.EVENT_EXCEPTION, {n.EXCEPTION_TYPE: kind, n.EXCEPTION_MESSAGE: description}
                    )
        finally:
            # Whatever the response held, the span ends: no span left open, no stale roll-up entry.
            span.end(end_time=rec.start_ns + (end_perf - rec.start_perf_ns))
        if self._metrics:
            duration = (end_perf - rec.start_perf_ns) / 1e9
            self._record_metrics(rec, usage, cost, duration, kind, metric_attributes)

    def _record_metrics(
        self,
        rec: CallRecord,
        usage: Usage | None,
        cost: Cost | None,
        duration: float,
        kind: str | None,
        metric_attributes: dict[str, Any] | None,
    ) -> None:
        # Bounded cardinality: models, tiers and hosts, never ids. The attribute sets repeat from call
        # to call, so they are built once per combination and reused (the SDK copies what it keeps).
        key = (
            rec.endpoint.operation,
            rec.provider_name,
            rec.request_model,
            rec.response_model,
            rec.service_tier,
            rec.server_address,
            rec.server_port,
            kind,
            rec.batch,
        )
        sets = self._sets.get(key)
        if sets is None:
            sets = self._attribute_sets(key)
        if rec.kind in ("call", "realtime"):  # a Batch or training settlement is not an operation we timed
            self._duration.record(duration, sets.call)
        if rec.first_chunk_ns is not None:
            self._ttfc.record((rec.first_chunk_ns - rec.start_perf_ns) / 1e9, sets.call)
        if rec.error is not None:
            code = _error_code(rec.error)
            if code in n.SPEND_LIMIT_CODES:
                base = {**sets.unpriced, **metric_attributes} if metric_attributes else sets.unpriced
                self._spend_limit.add(1, {**base, n.ERROR_CODE: code})
        # A stored object read again (retrieve, list, polling) is not new usage: only billable units count.
        if usage is not None and rec.endpoint.billable:
            input_attrs, output_attrs = sets.input, sets.output
            if metric_attributes:
                input_attrs = {**input_attrs, **metric_attributes}
                output_attrs = {**output_attrs, **metric_attributes}
            if usage.input_tokens is not None:
                self._tokens.record(usage.input_tokens, input_attrs)
            if usage.output_tokens is not None:
                self._tokens.record(usage.output_tokens, output_attrs)
        if cost is not None:
            if cost.amount is not None:
                cost_attrs = sets.cost.get(cost.status)
                if cost_attrs is None:
                    cost_attrs = sets.cost[cost.status] = {**sets.unpriced, n.COST_STATUS: cost.status}
                if metric_attributes:
                    cost_attrs = {**cost_attrs, **metric_attributes}
                self._cost.add(float(cost.amount), cost_attrs)
            else:
                unpriced = sets.unpriced
                self._unpriced.add(1, {**unpriced, **metric_attributes} if metric_attributes else unpriced)

    def _attribute_sets(self, key: tuple[Any, ...]) -> _AttributeSets:
        operation, provider, request_model, response_model, tier, address, port, kind, batch = key
        base: dict[str, Any] = {n.OPERATION_NAME: operation, n.PROVIDER_NAME: provider}
        if request_model:
            base[n.REQUEST_MODEL] = request_model
        if response_model:
            base[n.RESPONSE_MODEL] = response_model
        if tier:
            base[n.OPENAI_RESPONSE_SERVICE_TIER] = tier
        if batch:
            base[n.BATCH] = True  # Batch spend apart from synchronous spend, on cost and tokens
        call = dict(base)
        if address:
            call[n.SERVER_ADDRESS] = address
        if port:
            call[n.SERVER_PORT] = port
        if kind is not None:
            call[n.ERROR_TYPE] = kind
        sets = _AttributeSets(
            call=call,
            input={**call, n.TOKEN_TYPE: n.TOKEN_TYPE_INPUT},
            output={**call, n.TOKEN_TYPE: n.TOKEN_TYPE_OUTPUT},
            unpriced=base,
            cost={},
        )
        if len(self._sets) >= _ATTRIBUTE_SET_LIMIT:
            self._sets.clear()  # a bound, not an LRU: combinations beyond it are rare and cheap to rebuild
        self._sets[key] = sets
        return sets


class _AttributeSets:
    """The metric attribute sets of one combination of operation, provider, models, tier, server, error
    and Batch flag."""

    __slots__ = ("call", "cost", "input", "output", "unpriced")

    def __init__(
        self,
        call: dict[str, Any],
        input: dict[str, Any],
        output: dict[str, Any],
        unpriced: dict[str, Any],
        cost: dict[str, dict[str, Any]],
    ) -> None:
        self.call = call  # duration, time to first chunk
        self.input = input  # token usage, input
        self.output = output  # token usage, output
        self.unpriced = unpriced  # unpriced calls; the cost counter's, without the status
        self.cost = cost  # cost status -> the cost counter's


def _end_attributes(
    rec: CallRecord,
    usage: Usage | None,
    cost: Cost | None,
    span_attributes: dict[str, Any] | None,
    kind: str | None,
) -> dict[str, Any]:
    """What the span learns when the call ends, set in one batch."""
    attrs: dict[str, Any] = dict(span_attributes) if span_attributes else {}
    if rec.response_model:
        attrs[n.RESPONSE_MODEL] = rec.response_model
    if rec.response_id:
        attrs[n.RESPONSE_ID] = rec.response_id
    reasons = rec.finish_reason_list()
    if reasons:
        attrs[n.RESPONSE_FINISH_REASONS] = reasons
    if rec.service_tier:
        attrs[n.OPENAI_RESPONSE_SERVICE_TIER] = rec.service_tier
    if rec.system_fingerprint:
        attrs[n.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = rec.system_fingerprint
    if rec.request_id:
        attrs[n.OPENAI_REQUEST_ID] = rec.request_id
    if rec.organization:
        attrs[n.OPENAI_ORGANIZATION] = rec.organization
    if rec.project:
        attrs[n.OPENAI_PROJECT] = rec.project
    if rec.status_code is not None:
        attrs[n.HTTP_STATUS_CODE] = rec.status_code
    attrs[n.OPENAI_RETRY_COUNT] = rec.retry_count if rec.retry_count is not None else len(rec.retries)
    if rec.usage_injected:
        attrs[n.STREAM_USAGE_INJECTED] = True
    if rec.ended_by:
        attrs[n.STREAM_ENDED_BY] = rec.ended_by
    if rec.first_chunk_ns is not None:
        attrs[n.RESPONSE_TIME_TO_FIRST_CHUNK] = (rec.first_chunk_ns - rec.start_perf_ns) / 1e9
    if usage is not None:
        values = _USAGE_VALUES(usage)
        attrs.update(compress(zip(_USAGE_NAMES, values, strict=True), map(operator.is_not, values, _NONES)))
        if usage.audio_seconds is not None:
            attrs[n.AUDIO_SECONDS] = usage.audio_seconds
        if usage.input_characters is not None:
            attrs[n.INPUT_CHARACTERS] = usage.input_characters
        if usage.estimated:
            attrs[n.USAGE_ESTIMATED] = True
    attrs[n.BILLABLE] = rec.endpoint.billable
    if rec.kind != "call":
        _unit_attributes(attrs, rec)
    if rec.tool_image_model is not None:
        attrs[n.IMAGE_TOOL_MODEL] = rec.tool_image_model[0]
        attrs[n.IMAGE_TOOL_MODEL_ASSUMED] = rec.tool_image_model[1]
    if cost is not None:
        _cost_attributes(attrs, cost)
    if kind is not None:
        attrs[n.ERROR_TYPE] = kind
        code = _error_code(rec.error) if rec.error is not None else None
        if code is not None:
            attrs[n.ERROR_CODE] = code
    return attrs


def _unit_attributes(attrs: dict[str, Any], rec: CallRecord) -> None:
    # A billed unit that is not one call: its kind, the ids that dedupe it, what its source saw.
    attrs[n.KIND] = rec.kind
    if rec.batch:
        attrs[n.BATCH] = True
    if rec.batch_id:
        attrs[n.BATCH_ID] = rec.batch_id
    if rec.job_id:
        attrs[n.FINE_TUNING_JOB_ID] = rec.job_id
    if rec.session_id:
        attrs[n.REALTIME_SESSION_ID] = rec.session_id
    if rec.source_attributes:
        attrs.update(rec.source_attributes)


def _error_code(exc: BaseException) -> str | None:
    # openai.APIError.code: the "code" of the error body (e.g. "organization_spend_limit_exceeded").
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else None


def _cost_attributes(attrs: dict[str, Any], cost: Cost) -> None:
    attrs[n.COST_STATUS] = cost.status
    if cost.amount is not None:
        attrs[n.COST_AMOUNT] = float(cost.amount)
        attrs[n.COST_CURRENCY] = n.CURRENCY_USD
        attrs[n.COST_SOURCE] = n.COST_SOURCE_LOCAL
        for component, value in cost.components.items():
            attrs[n.COST_COMPONENT_PREFIX + component] = float(value)
    if cost.reason:
        key = n.COST_UNPRICED_REASON if cost.amount is None else n.COST_WARNING
        attrs[key] = cost.reason
    if cost.layer:
        attrs[n.COST_PRICE_LAYER] = cost.layer
    if cost.tier:
        attrs[n.COST_TIER] = cost.tier
    if cost.batch:
        attrs[n.COST_BATCH] = True
    if cost.estimate_method:
        attrs[n.COST_ESTIMATE_METHOD] = cost.estimate_method
