"""Acceptance: 4 processes x (8 threads + 8 asyncio tasks) against one customer's budget on Redis.

Every worker calls the local OpenAI-compatible server through the real SDK until the budget refuses
it with nothing else in flight. Then: the spend Redis counted is exactly the admitted calls' actual
cost; it never exceeds the limit by more than one call's worst case (here it cannot exceed it at all,
since each call's actual cost is below its reservation); and every refusal happened when the budget
had no room for the call's worst case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from otel_openai_billing.budgets.guard import status
from otel_openai_billing.budgets.policy import KEY_PREFIX, budget
from otel_openai_billing.budgets.stores import RedisStore
from tests.budgets.conftest import CHAT_ACTUAL, WORST_HI
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, TASKS = 4, 8, 8
# About 340 calls' worth: 0.003 / 0.00000885 = 338.98
LIMIT = Decimal("0.003")
BUDGET = {"name": "per-customer", "scope": {"customer_id": "*"}, "window": "day", "limit_usd": str(LIMIT)}


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "OTEL_OPENAI_BILLING_BUDGETS": json.dumps([BUDGET]),
        "OTEL_OPENAI_BILLING_BUDGET_STORE": redis_url,
        "OTEL_OPENAI_BILLING_BUDGET_STORE_TIMEOUT_MS": "1000",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        **extra,
    }


def test_many_processes_threads_and_tasks_never_overspend(server: FakeOpenAI, redis_url: str) -> None:
    server.clear()
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.budgets.worker", server.base_url, "acme", str(THREADS), str(TASKS)],
            cwd=ROOT,
            env=worker_env(redis_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.monotonic() - started
    assert all(not r["errors"] for r in results), [r["errors"] for r in results]

    admitted = sum(r["admitted"] for r in results)
    refusals = [f for r in results for f in r["refusals"]]
    (row,) = status(RedisStore(redis_url, 2.0), (budget(**BUDGET),), KEY_PREFIX)
    spent = row.spent
    print(
        f"\nconcurrency: {PROCESSES} processes x ({THREADS} threads + {TASKS} tasks), limit ${LIMIT}: "
        f"{admitted} calls admitted, {len(refusals)} refusals, spent ${spent} "
        f"(limit - spent = ${LIMIT - spent}, one worst case = ${WORST_HI}), {elapsed:.1f}s"
    )
    assert len(server.requests) == admitted  # a refused call never reached the server
    assert spent == admitted * CHAT_ACTUAL  # the counter is exactly the admitted calls' actual cost
    assert row.reserved == 0 and row.reservations == 0  # every reservation was settled
    assert spent <= LIMIT + WORST_HI
    assert spent <= LIMIT  # actual cost is below each reservation, so the limit itself holds
    # No refusal while the budget had room for the call's worst case, as the store saw it atomically:
    for f in refusals:
        assert Decimal(f["spent"]) + Decimal(f["reserved"]) + Decimal(f["worst"]) > LIMIT, f
    # And the budget was used up: the last refusal of each worker saw nothing in flight, so the
    # final spend leaves less than one worst case of room.
    assert LIMIT - spent < WORST_HI
    assert admitted == 338  # the only count both bounds allow: 338 x 0.00000885 = 0.0029913


def test_threads_and_tasks_in_one_process_with_the_memory_store(server: FakeOpenAI) -> None:
    server.clear()
    result = subprocess.run(
        [sys.executable, "-m", "tests.budgets.worker", server.base_url, "acme", str(THREADS), str(TASKS)],
        cwd=ROOT,
        env=worker_env("memory"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert not outcome["errors"], outcome["errors"]
    # The in-memory store cannot be read from outside its process; the admitted count says it all:
    # spend = admitted x 0.00000885 must stay <= 0.003 and leave less than one worst case
    # (0.000015) of room, and 338 is the only count that does (338 x 0.00000885 = 0.0029913;
    # 339 x 0.00000885 = 0.00300015 is over the limit).
    assert outcome["admitted"] == 338 == len(server.requests)
    for f in outcome["refusals"]:
        assert Decimal(f["spent"]) + Decimal(f["reserved"]) + Decimal(f["worst"]) > LIMIT, f
