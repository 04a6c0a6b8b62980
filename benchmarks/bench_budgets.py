"""Added per-call time of budgets: the in-memory store and Redis on localhost, as ratios to the same
instrumented call that no budget covers.

The SDK talks to the in-process transport of bench_overhead.py (no socket to OpenAI), so the figures
are the cost of the guard itself: matching budgets, bounding and pricing the worst case, one atomic
reserve and one settle. Redis is Debian's redis-server, started here on 127.0.0.1 and a random port
(append-only file, fsync every second, as docs/budgets.md recommends) and stopped after.

Calls alternate one by one between a customer a budget covers and a call no budget covers (same
instrumentation, same attribution work), so a busy machine slows both alike; the figures are medians
of the per-call times and of the paired differences. Times are wall-clock, what the caller waits;
``--cpu`` takes this process's CPU time instead, which leaves out the time a loaded machine makes it
wait for redis-server or a core.

Run: python benchmarks/bench_budgets.py [--calls 2000] [--cpu]
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import _providers, call, make_client

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context
from otel_openai_billing.budgets import budget
from otel_openai_billing.budgets.stores import MemoryStore, RedisStore, Slot

# Never refuses: the benchmark measures the admitted path (reserve + settle), the common one.
BUDGETS = [budget("per-customer", "1000000", "day", {"customer_id": "*"})]
REDIS_PERSISTENCE = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
COVERED = billing_context(customer_id="acme", feature="bench")
NOT_COVERED = billing_context(feature="bench")


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


def timed(client: Any, context: Any, clock: Callable[[], int]) -> float:
    with context:
        start = clock()
        call(client)
        return (clock() - start) / 1000


def paired(client: Any, calls: int, clock: Callable[[], int]) -> tuple[list[float], list[float]]:
    """Per-call µs of calls no budget covers and of covered calls, alternating (order swapped each pair)."""
    base, covered = [], []
    for i in range(calls):
        if i % 2:
            base.append(timed(client, NOT_COVERED, clock))
            covered.append(timed(client, COVERED, clock))
        else:
            covered.append(timed(client, COVERED, clock))
            base.append(timed(client, NOT_COVERED, clock))
    return base, covered


def store_round_trip_us(store: Any, calls: int, clock: Callable[[], int]) -> float:
    """Median µs of one reserve plus its settle on the store alone, back to back."""
    slot = [Slot("{bench}:budget:per-customer|customer_id=acme|day", 10**15, 0, 1, 3600)]
    times = []
    for i in range(calls):
        start = clock()
        store.reserve(f"r{i}", slot, 15_000, 60_000)
        store.settle(f"r{i}", slot, 8_850, 120_000)
        times.append((clock() - start) / 1000)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="pairs of calls per store")
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process, not wall-clock")
    args = parser.parse_args(argv)
    clock = time.process_time_ns if args.cpu else time.perf_counter_ns

    tp, mp = _providers()
    instrumentor = OpenAIBillingInstrumentor()
    client = make_client(10)
    print(
        f"per call, instrumented, {args.calls} alternating pairs per store; medians of "
        f"{'CPU' if args.cpu else 'wall-clock'} time"
    )
    print("(store alone: one reserve and its settle, back to back, without the SDK call)")
    with tempfile.TemporaryDirectory() as directory:
        redis, port = start_redis(directory)
        try:
            for name, store in (("memory", "memory"), ("redis", f"redis://127.0.0.1:{port}/0")):
                instrumentor.instrument(
                    tracer_provider=tp,
                    meter_provider=mp,
                    cost_rollup=False,
                    budgets=BUDGETS,
                    budget_store=store,
                )
                try:
                    paired(client, 50, clock)  # warm-up: imports, caches, the connection pool, scripts
                    base, covered = paired(client, args.calls, clock)
                finally:
                    instrumentor.uninstrument()
                alone = store_round_trip_us(
                    MemoryStore() if store == "memory" else RedisStore(store, 1.0), args.calls, clock
                )
                b, c = statistics.median(base), statistics.median(covered)
                added = statistics.median(x - y for x, y in zip(covered, base, strict=True))
                print(
                    f"budgets, {name:6}  not covered {b:8.1f} µs   covered {c:8.1f} µs   "
                    f"ratio {c / b:.2f}x   added {added:6.1f} µs   (store alone: {alone:.1f} µs)"
                )
        finally:
            redis.terminate()
            redis.wait()


if __name__ == "__main__":
    main()
