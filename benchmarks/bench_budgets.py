"""Added per-call time of budgets: the in-memory store and Redis on localhost, as ratios to the same
instrumented call without budgets.

The SDK talks to the in-process transport of bench_overhead.py (no socket to OpenAI), so the figures
are the cost of the guard itself: matching budgets, bounding and pricing the worst case, one
atomic reserve and one settle. Redis is Debian's redis-server, started here on 127.0.0.1 and a
random port (append-only file, fsync every second, as docs/budgets.md recommends) and stopped after.
Runs are interleaved and repeated so load on the machine hits each alike.

Run: python benchmarks/bench_budgets.py [--calls 300] [--repeats 7]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import _Discard, call, make_client

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context
from otel_openai_billing.budgets import budget

# Never refuses: the benchmark measures the admitted path (reserve + settle), the common one.
BUDGETS = [budget("per-customer", "1000000", "day", {"customer_id": "*"})]
REDIS_PERSISTENCE = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", directory, *REDIS_PERSISTENCE],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("redis-server did not start")


def per_call_us(client: Any, calls: int) -> float:
    start = time.perf_counter()
    with billing_context(customer_id="acme"):
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
    instrumentor = OpenAIBillingInstrumentor()
    client = make_client(10)
    with tempfile.TemporaryDirectory() as directory:
        redis, port = start_redis(directory)
        try:
            configs = {
                "no budgets": {},
                "memory": {"budgets": BUDGETS},
                "redis": {"budgets": BUDGETS, "budget_store": f"redis://127.0.0.1:{port}/0"},
            }
            results: dict[str, list[float]] = {name: [] for name in configs}
            for _ in range(args.repeats + 1):
                for name, options in configs.items():
                    instrumentor.instrument(
                        tracer_provider=tp, meter_provider=mp, cost_rollup=False, **options
                    )
                    try:
                        results[name].append(per_call_us(client, args.calls))
                    finally:
                        instrumentor.uninstrument()
            for values in results.values():
                del values[0]  # the first round warms imports, caches and connections
        finally:
            redis.terminate()
            redis.wait()

    base = results["no budgets"]

    def fmt(values: list[float], unit: str) -> str:
        return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"

    print(f"per call, instrumented, {args.calls} calls x {args.repeats} repeats; medians (min-max)")
    print(f"no budgets       {fmt(base, ' µs')}")
    for name in ("memory", "redis"):
        values = results[name]
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        added = [v - b for v, b in zip(values, base, strict=True)]
        print(f"budgets, {name:7} {fmt(values, ' µs')}  ratio {fmt(ratios, 'x')}  added {fmt(added, ' µs')}")


if __name__ == "__main__":
    main()
