"""Per-call and per-chunk overhead of the instrumentation, in one process, as ratios.

The SDK talks to an in-process transport (the SDK's own HTTP library's MockTransport) returning
recorded-shape bodies, so the figures measure the SDK plus our hooks, not socket noise. Three runs
of the same calls, interleaved and repeated:

- plain: the SDK, uninstrumented;
- instrumented: the SDK under OpenAIBillingInstrumentor (spans to a discarding exporter, metrics
  to an in-memory reader, pricing on);
- floor: plain, plus one bare span with as many attributes as ours and the same metric points,
  i.e. what any instrumentation that records this much must pay.

Run: python benchmarks/bench_overhead.py [--calls 300] [--chunks 200] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_openai_billing import OpenAIBillingInstrumentor

try:  # openai 3.x
    import httpx2 as httpx
except ImportError:  # openai 1.x / 2.x
    import httpx  # type: ignore[no-redef]

CHAT_BODY = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "service_tier": "default",
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 350,
        "total_tokens": 1550,
        "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
    },
}


def _sse(chunks: int, include_usage: bool) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000}
    base["model"] = "gpt-4o-mini-2024-07-18"
    lines = []
    for i in range(chunks):
        choice = {
            "index": 0,
            "delta": {"content": "tok"},
            "finish_reason": "stop" if i == chunks - 1 else None,
        }
        data = {**base, "choices": [choice]}
        if include_usage:
            data["usage"] = None
        lines.append(f"data: {json.dumps(data)}\n\n")
    if include_usage:
        lines.append(f"data: {json.dumps({**base, 'choices': [], 'usage': CHAT_BODY['usage']})}\n\n")
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def make_client(chunks: int) -> openai.OpenAI:
    bodies = {False: _sse(chunks, False), True: _sse(chunks, True)}
    chat = json.dumps(CHAT_BODY).encode()

    def handler(request: Any) -> Any:
        body = json.loads(request.content)
        headers = {"x-request-id": "req_bench"}
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            headers["content-type"] = "text/event-stream"
            return httpx.Response(200, headers=headers, content=bodies[include])
        headers["content-type"] = "application/json"
        return httpx.Response(200, headers=headers, content=chat)

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(api_key="sk-bench", base_url="http://bench.local/v1", http_client=http_client)


class _Discard(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


MESSAGES = [{"role": "user", "content": "hi"}]


def call(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def stream(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass


class Floor:
    """One bare span with the same number of attributes and the same metric points: what any
    instrumentation recording this much pays per call, measured on its own (no SDK call inside)."""

    def __init__(self, tp: TracerProvider, mp: MeterProvider, attributes: int) -> None:
        self.tracer = tp.get_tracer("floor")
        meter = mp.get_meter("floor")
        self.hist = meter.create_histogram("floor.duration")
        self.tokens = meter.create_histogram("floor.tokens")
        self.cost = meter.create_counter("floor.cost")
        self.attrs = {f"attr.{i}": i for i in range(attributes)}

    def __call__(self, _client: openai.OpenAI) -> None:
        span = self.tracer.start_span("floor", attributes=self.attrs)
        span.end()
        labels = {"m": "gpt-4o-mini", "op": "chat"}
        self.hist.record(0.1, labels)
        self.tokens.record(1200, {**labels, "t": "input"})
        self.tokens.record(350, {**labels, "t": "output"})
        self.cost.add(0.0055, labels)


def per_call_us(fn: Callable[[openai.OpenAI], None], client: openai.OpenAI, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(client)
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(_Discard()))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = OpenAIBillingInstrumentor()

    # How many attributes our span carries for this call: the floor matches it.
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    probe_tp = TracerProvider()
    probe = InMemorySpanExporter()
    probe_tp.add_span_processor(SimpleSpanProcessor(probe))
    client = make_client(args.chunks)
    instrumentor.instrument(tracer_provider=probe_tp, meter_provider=mp)
    call(client)
    instrumentor.uninstrument()
    attribute_count = len(probe.get_finished_spans()[0].attributes)
    floor = Floor(tp, mp, attribute_count)

    floor_us = [per_call_us(floor, client, args.calls) for _ in range(args.repeats)]
    rows = []
    for label, fn, calls, per in (
        ("per call", call, args.calls, 1),
        ("per chunk", stream, max(args.calls // 10, 10), args.chunks),
    ):
        for _ in range(2):  # warm-up: imports, caches, connection pools
            per_call_us(fn, client, 5)
        plain, instr = [], []
        for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
            plain.append(per_call_us(fn, client, calls) / per)
            instrumentor.instrument(tracer_provider=tp, meter_provider=mp)
            try:
                instr.append(per_call_us(fn, client, calls) / per)
            finally:
                instrumentor.uninstrument()
        ratios = [i / p for i, p in zip(instr, plain, strict=True)]
        overhead = [i - p for i, p in zip(instr, plain, strict=True)]
        rows.append((label, plain, instr, ratios, overhead))

    def fmt(values: list[float], unit: str = "") -> str:
        return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"

    print(f"openai {openai.VERSION}; span attributes per call: {attribute_count}; repeats: {args.repeats}")
    print(f"floor (bare span with {attribute_count} attributes + 4 metric points): {fmt(floor_us, ' µs')}")
    for label, plain, instr, ratios, overhead in rows:
        print(
            f"{label:9}  plain {fmt(plain, ' µs')}  instrumented {fmt(instr, ' µs')}  "
            f"ratio {fmt(ratios, 'x')}  overhead {fmt(overhead, ' µs')}"
        )
    call_overhead = statistics.median(rows[0][4])
    print(f"per-call overhead / floor: {call_overhead / statistics.median(floor_us):.2f}x (medians)")


if __name__ == "__main__":
    main()
