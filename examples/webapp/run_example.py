"""Offline example: a Flask app's requests, each with what its OpenAI calls cost, with no API key.

It starts a local OpenAI-compatible server and the app (examples/webapp/app.py), traced by Flask's
OpenTelemetry instrumentation and this package, and sends it four requests at once: three from
customers, one from an upstream service that says in W3C baggage which customer it works for. Then it
prints each request span with its cost roll-up, the calls under it, and the cost counter per customer.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import openai  # noqa: E402
from app import create_app  # noqa: E402
from opentelemetry import baggage, propagate, trace  # noqa: E402
from opentelemetry.baggage.propagation import W3CBaggagePropagator  # noqa: E402
from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402
from opentelemetry.propagators.composite import CompositePropagator  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from otel_openai_billing import OpenAIBillingInstrumentor  # noqa: E402
from otel_openai_billing import names as n  # noqa: E402


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines in the output
    # The standard W3C propagators (what OTEL_PROPAGATORS=tracecontext,baggage also gives).
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "webapp-example"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    OpenAIBillingInstrumentor().instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[metrics]),
        # Per-customer cost on the counter (so a budget alert is possible), at most 50 customers.
        metric_attribution_keys=["customer_id", "feature"],
        metric_attribution_limit=50,
    )

    with FakeOpenAI() as fake_openai:
        client = openai.OpenAI(api_key="sk-example-not-a-real-key", base_url=fake_openai.base_url)
        app = create_app(client)
        FlaskInstrumentor().instrument_app(app, tracer_provider=tracer_provider)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.port}"
        upstream = tracer_provider.get_tracer("billing-portal")
        requests: list[Callable[[], Any]] = [
            lambda: _post(f"{base}/customers/acme/answer", {"question": "Where is my invoice?"}),
            lambda: _post(f"{base}/customers/globex/answer", {"question": "What plan am I on?"}),
            lambda: _post(f"{base}/customers/acme/summaries", {"text": "Q3 usage report"}),
            lambda: _from_upstream(upstream, f"{base}/internal/translate", {"text": "Bonjour"}),
        ]
        # All at once: each request's roll-up still holds only its own calls.
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            for future in [pool.submit(r) for r in requests]:
                future.result()
        server.shutdown()
        client.close()

    _print_requests(list(spans.get_finished_spans()))
    _print_counter(metrics)
    return 0


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.load(response)


def _from_upstream(tracer: trace.Tracer, url: str, body: dict[str, Any]) -> Any:
    """What another service does: call the app on behalf of a customer, saying so in baggage."""
    with tracer.start_as_current_span("billing-portal: translate invoice", kind=SpanKind.CLIENT):
        ctx = baggage.set_baggage("customer.id", "initech")
        ctx = baggage.set_baggage("feature", "translate", ctx)
        headers: dict[str, str] = {}
        propagate.inject(headers, context=ctx)  # the traceparent and baggage headers
        print(f"upstream service sends: baggage: {headers['baggage']}")
        return _post(url, body, headers)


def _print_requests(spans: list[ReadableSpan]) -> None:
    calls = [s for s in spans if n.ENDPOINT in (s.attributes or {})]
    print("\nEach request span, with the cost of the OpenAI calls it caused rolled up onto it:\n")
    for request in sorted((s for s in spans if s.kind is SpanKind.SERVER), key=_path):
        a = request.attributes or {}
        own = [c for c in calls if c.context.trace_id == request.context.trace_id]
        print(
            f"{request.name}  [{_path(request)}]\n"
            f"    {n.ROLLUP_COST} = ${a[n.ROLLUP_COST]:.8f}   {n.ROLLUP_CALLS} = {a[n.ROLLUP_CALLS]}   "
            f"{n.ROLLUP_UNPRICED_CALLS} = {a[n.ROLLUP_UNPRICED_CALLS]}"
        )
        for call in sorted(own, key=lambda s: s.start_time or 0):
            c = call.attributes or {}
            labels = ", ".join(
                f"{k.removeprefix(n.LABEL_PREFIX)}={v}" for k, v in c.items() if k.startswith(n.LABEL_PREFIX)
            )
            print(
                f"      {call.name:<34} ${c.get(n.COST_AMOUNT, 0):.8f}  customer={c.get(n.CUSTOMER_ID)}  "
                f"feature={c.get(n.FEATURE)}" + (f"  {labels}" if labels else "")
            )
        print()


def _path(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    return str(attrs.get("url.path") or attrs.get("http.target"))


def _print_counter(reader: InMemoryMetricReader) -> None:
    totals: dict[tuple[str, str], float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == n.METRIC_COST:
                    for point in metric.data.data_points:
                        key = (str(point.attributes.get(n.CUSTOMER_ID)), str(point.attributes.get(n.FEATURE)))
                        totals[key] = totals.get(key, 0.0) + point.value
    print(f"The cost counter ({n.METRIC_COST}) by customer and feature, as a dashboard would sum it:\n")
    for (customer, feature), total in sorted(totals.items()):
        print(f"    customer={customer:<8} feature={feature:<10} ${total:.8f}")


if __name__ == "__main__":
    raise SystemExit(main())
