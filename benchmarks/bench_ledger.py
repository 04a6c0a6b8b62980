"""What the ledger costs per call, in one process: instrumented calls with the ledger off and on.

The same in-process transport as bench_overhead.py (no sockets). Interleaved repeats of:

- ledger off: the SDK under OpenAIBillingInstrumentor (spans discarded, metrics in memory);
- ledger on: the same with ``ledger=<temporary directory>``: the caller's thread only queues the
  finished call; the background thread builds and writes the records.

Also reported: the background thread's work per record (build + JSON + write), measured by flushing
the queue after the timed calls. On a busy machine that work shares the CPU (and the GIL) with the
app, so it is reported apart from the caller's cost, not hidden.

Run: python benchmarks/bench_ledger.py [--calls 300] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence

import openai
from bench_overhead import _Discard, call, make_client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_openai_billing import OpenAIBillingInstrumentor


def per_call_us(client: openai.OpenAI, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call(client)
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(_Discard()))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    client = make_client(1)
    instrumentor = OpenAIBillingInstrumentor()
    off, on, background = [], [], []
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats + 1):  # the first round warms up and is not counted
            instrumentor.instrument(tracer_provider=tp, meter_provider=mp)
            try:
                t_off = per_call_us(client, args.calls)
            finally:
                instrumentor.uninstrument()
            # A queue larger than the run and a long interval: the timed calls only queue.
            instrumentor.instrument(
                tracer_provider=tp, meter_provider=mp, ledger=directory, ledger_queue_size=args.calls + 1
            )
            writer = instrumentor._ledger
            writer.flush_interval = 3600.0
            try:
                t_on = per_call_us(client, args.calls)
                start = time.perf_counter()
                writer.flush()
                t_bg = (time.perf_counter() - start) / args.calls * 1e6
                assert writer.written >= args.calls and writer.dropped == 0
            finally:
                instrumentor.uninstrument()
            if _ > 0 or args.repeats == 0:
                off.append(t_off)
                on.append(t_on)
                background.append(t_bg)

        # The caller's share on its own, free of the SDK's noise: LedgerWriter.write on a real call's
        # finished record, usage and cost, timed in a tight loop (the thread is not started).
        captured: list[tuple] = []
        instrumentor.instrument(tracer_provider=tp, meter_provider=mp, ledger=directory)
        writer = instrumentor._ledger
        writer.write, real_write = lambda *a: captured.append(a), writer.write  # type: ignore[method-assign]
        call(client)
        writer.write = real_write  # type: ignore[method-assign]
        instrumentor.uninstrument()
        n = 100_000
        writer.queue_size = n + 1
        writer._thread = threading.main_thread()  # counts as started: nothing drains while timing
        writes = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(n):
                writer.write(*captured[0])
            writes.append((time.perf_counter() - start) / n * 1e6)
            writer._pending.clear()
        writer._thread = None

    def fmt(values: list[float], unit: str = "") -> str:
        return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"

    ratios = [b / a for a, b in zip(off, on, strict=True)]
    added = [b - a for a, b in zip(off, on, strict=True)]
    print(f"openai {openai.VERSION}; {args.calls} calls x {args.repeats} interleaved repeats")
    print(f"per call  ledger off {fmt(off, ' µs')}  ledger on {fmt(on, ' µs')}  ratio {fmt(ratios, 'x')}")
    print(f"added on the caller's thread: {fmt(added, ' µs')}")
    print(f"LedgerWriter.write alone (the caller's whole share): {fmt(writes, ' µs')}")
    print(f"background thread per record (build + JSON + write): {fmt(background, ' µs')}")


if __name__ == "__main__":
    main()
