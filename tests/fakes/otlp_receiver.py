"""An OTLP/HTTP (protobuf) receiver on 127.0.0.1 that decodes what the real exporters send.

    with OTLPReceiver() as rx:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = rx.endpoint
        ...  # export spans and metrics
        [span] = rx.wait_for_spans(1)
        span.attributes["gen_ai.usage.input_tokens"]

Spans and metric points are decoded into plain dataclasses with Python values, so assertions
compare against literals instead of protobuf messages.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from werkzeug.wrappers import Request, Response

from . import BackgroundServer


@dataclass(frozen=True)
class SpanEvent:
    """A span event as received."""

    name: str
    attributes: dict[str, Any]
    time_unix_nano: int


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as received; ids are lowercase hex, `kind` and `status_code` are enum names."""

    name: str
    kind: str  # "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"
    attributes: dict[str, Any]
    events: list[SpanEvent]
    status_code: str  # "UNSET", "OK", "ERROR"
    status_message: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_time_unix_nano: int
    end_time_unix_nano: int
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str


@dataclass(frozen=True)
class MetricPoint:
    """One data point; `value` for sums and gauges, `sum`/`count`/buckets for histograms."""

    attributes: dict[str, Any]
    value: int | float | None = None
    sum: float | None = None
    count: int | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0


@dataclass(frozen=True)
class ReceivedMetric:
    """One metric from one export; a metric exported twice appears twice."""

    name: str
    description: str
    unit: str
    type: str  # "sum", "gauge", "histogram", "exponential_histogram", "summary"
    points: list[MetricPoint]
    temporality: str | None  # "CUMULATIVE" or "DELTA"; None for gauges and summaries
    is_monotonic: bool | None  # sums only
    resource_attributes: dict[str, Any]
    scope_name: str


class OTLPReceiver(BackgroundServer):
    """OTLP/HTTP protobuf receiver for /v1/traces and /v1/metrics; /v1/logs is accepted and ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[ReceivedSpan] = []
        self.metrics: list[ReceivedMetric] = []
        self._changed = threading.Condition()

    @property
    def endpoint(self) -> str:
        """Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`; exporters append `/v1/traces` etc."""
        return f"http://127.0.0.1:{self.port}"

    def wait_for_spans(self, n: int, timeout: float = 10) -> list[ReceivedSpan]:
        """Block until at least `n` spans arrived; return all received so far."""
        self._wait(lambda: len(self.spans) >= n, timeout, lambda: f"{n} spans, got {len(self.spans)}")
        with self._changed:
            return list(self.spans)

    def wait_for_metric(self, name: str, timeout: float = 10) -> ReceivedMetric:
        """Block until a metric called `name` arrived; return its latest export."""
        self._wait(
            lambda: any(m.name == name for m in self.metrics),
            timeout,
            lambda: f"metric {name!r}, got {sorted({m.name for m in self.metrics})}",
        )
        with self._changed:
            return [m for m in self.metrics if m.name == name][-1]

    def clear(self) -> None:
        """Forget everything received."""
        with self._changed:
            self.spans.clear()
            self.metrics.clear()

    def _wait(self, ready: Callable[[], bool], timeout: float, wanted: Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"OTLPReceiver: waited {timeout}s for {wanted()}")
                self._changed.wait(remaining)

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with Request(environ) as request:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        signal = _SIGNALS.get(request.path)
        if signal is None or request.method != "POST":
            return Response("not found", status=404, content_type="text/plain")
        if request.mimetype != "application/x-protobuf":
            return Response("only application/x-protobuf is supported", status=415, content_type="text/plain")
        request_type, response_type = signal
        try:
            message = request_type.FromString(_decompress(request))
        except (DecodeError, OSError, zlib.error) as exc:
            return Response(f"cannot decode body: {exc}", status=400, content_type="text/plain")
        if isinstance(message, ExportTraceServiceRequest):
            self._add(spans=_decode_spans(message))
        elif isinstance(message, ExportMetricsServiceRequest):
            self._add(metrics=_decode_metrics(message))
        return Response(response_type().SerializeToString(), content_type="application/x-protobuf")

    def _add(self, spans: Iterable[ReceivedSpan] = (), metrics: Iterable[ReceivedMetric] = ()) -> None:
        with self._changed:
            self.spans.extend(spans)
            self.metrics.extend(metrics)
            self._changed.notify_all()


_SIGNALS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def _decompress(request: Request) -> bytes:
    body = request.get_data()
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _decode_spans(message: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        attributes=_attributes(span.attributes),
                        events=[
                            SpanEvent(e.name, _attributes(e.attributes), e.time_unix_nano)
                            for e in span.events
                        ],
                        status_code=trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                            "STATUS_CODE_"
                        ),
                        status_message=span.status.message,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        resource_attributes=resource,
                        scope_name=scope_spans.scope.name,
                        scope_version=scope_spans.scope.version,
                    )
                )
    return spans


def _decode_metrics(message: ExportMetricsServiceRequest) -> list[ReceivedMetric]:
    metrics = []
    for resource_metrics in message.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                temporality = getattr(data, "aggregation_temporality", None)
                metrics.append(
                    ReceivedMetric(
                        name=metric.name,
                        description=metric.description,
                        unit=metric.unit,
                        type=kind,
                        points=[_point(p) for p in data.data_points],
                        temporality=(
                            metrics_pb2.AggregationTemporality.Name(temporality).removeprefix(
                                "AGGREGATION_TEMPORALITY_"
                            )
                            if temporality is not None
                            else None
                        ),
                        is_monotonic=data.is_monotonic if kind == "sum" else None,
                        resource_attributes=resource,
                        scope_name=scope_metrics.scope.name,
                    )
                )
    return metrics


def _point(point: Any) -> MetricPoint:
    common = {
        "attributes": _attributes(point.attributes),
        "start_time_unix_nano": point.start_time_unix_nano,
        "time_unix_nano": point.time_unix_nano,
    }
    if isinstance(point, metrics_pb2.NumberDataPoint):
        return MetricPoint(value=getattr(point, point.WhichOneof("value")), **common)
    if isinstance(point, metrics_pb2.HistogramDataPoint):
        return MetricPoint(
            sum=point.sum,
            count=point.count,
            min=point.min if point.HasField("min") else None,
            max=point.max if point.HasField("max") else None,
            bucket_counts=tuple(point.bucket_counts),
            explicit_bounds=tuple(point.explicit_bounds),
            **common,
        )
    # Exponential histograms and summaries: totals are enough for these tests.
    return MetricPoint(sum=point.sum, count=point.count, **common)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)
