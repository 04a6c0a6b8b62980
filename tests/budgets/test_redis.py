"""The Redis store on a real redis-server: atomic reserve and idempotent settle, expiry of a dead
process's reservations, and the failure policies when Redis stops mid-run and comes back."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from otel_openai_billing import (
    BudgetExceeded,
    BudgetStoreUnavailable,
    OpenAIBillingInstrumentor,
    billing_context,
)
from otel_openai_billing import names as n
from otel_openai_billing.budgets.guard import status
from otel_openai_billing.budgets.policy import KEY_PREFIX, budget
from otel_openai_billing.budgets.stores import MemoryStore, RedisStore, Slot, StoreError
from otel_openai_billing.hooks import ACTIVE
from tests.budgets.conftest import CHAT_ACTUAL, hi_request
from tests.budgets.redis_server import RedisServer
from tests.budgets.test_concurrency import BUDGET, ROOT, worker_env
from tests.fakes.openai_server import FakeOpenAI


def reinstrument(**kwargs: Any) -> None:
    """Instrument again with other options (the instrumentor is a singleton; the fixture uninstruments)."""
    inst = OpenAIBillingInstrumentor()
    inst.uninstrument()
    inst.instrument(**kwargs)


# --- the store contract, on both stores --------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store_and_wait(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    if request.param == "memory":
        clock = Clock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        yield MemoryStore(clock), advance
    else:
        yield RedisStore(request.getfixturevalue("redis_url"), 2.0), time.sleep


def test_reserve_is_all_or_nothing_and_settle_is_idempotent(store_and_wait: tuple[Any, Any]) -> None:
    store, wait = store_and_wait
    a = Slot("k:a", 250, 0, 1, 60)
    b = Slot("k:b", 1000, 0, 1, 60)
    assert store.reserve("r1", [a, b], 100, 60_000)[0] is None
    assert store.reserve("r2", [a, b], 100, 60_000)[0] is None
    # a has 250 - 200 = 50 of room: refused there, and b is left untouched.
    refused, levels = store.reserve("r3", [b, a], 100, 60_000)
    assert refused == 1 and (levels[1].spent, levels[1].reserved) == (0, 200)
    assert [(lv.spent, lv.reserved, lv.reservations) for lv in store.status([a, b])] == [(0, 200, 2)] * 2
    store.settle("r1", [a, b], 60, 120_000)
    store.settle("r1", [a, b], 60, 120_000)  # a replay changes nothing
    assert [(lv.spent, lv.reserved) for lv in store.status([a, b])] == [(60, 100)] * 2
    # A settle with no reservation (the store was down when the call started) still counts, once.
    store.settle("r9", [a], 5, 120_000)
    store.settle("r9", [a], 5, 120_000)
    assert store.status([a])[0].spent == 65
    # Reservations of a process that died expire.
    assert store.reserve("r4", [a], 10, 300)[0] is None
    wait(0.5)
    assert [(lv.spent, lv.reserved, lv.reservations) for lv in store.status([a])] == [(65, 100, 1)]


def test_rolling_windows_drop_old_buckets(store_and_wait: tuple[Any, Any]) -> None:
    store, _ = store_and_wait
    # 60 buckets: spend in bucket 10 counts while the window's newest bucket is 10..69, not at 70.
    store.settle("x", [Slot("k:r", None, 10, 60, 600)], 7, 60_000)
    assert store.status([Slot("k:r", None, 69, 60, 600)])[0].spent == 7
    assert store.status([Slot("k:r", None, 70, 60, 600)])[0].spent == 0


# --- through the instrumentation --------------------------------------------------------------
@pytest.fixture
def redis_kwargs(redis_url: str) -> dict[str, Any]:
    return {
        "budgets": [budget("per-customer", "0.00003", "day", {"customer_id": "*"})],
        "budget_store": redis_url,
        "budget_store_timeout_ms": 200,
        "cost_rollup": False,
    }


@pytest.fixture
def instrument_kwargs(redis_kwargs: dict[str, Any]) -> dict[str, Any]:
    return redis_kwargs


def _spent(redis_url: str, name: str = "per-customer", scope: dict | None = None) -> tuple[Decimal, Decimal]:
    b = budget(name, "0.00003", "day", scope if scope is not None else {"customer_id": "*"})
    rows = {r.instance: (r.spent, r.reserved) for r in status(RedisStore(redis_url, 2.0), (b,), KEY_PREFIX)}
    return rows.get("customer_id=acme", (Decimal(0), Decimal(0)))


def test_redis_budget_refuses_and_survives_an_app_restart(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI, redis_url: str, redis_kwargs: dict[str, Any]
) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
        client.chat.completions.create(**hi_request())
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**hi_request())
    assert _spent(redis_url) == (2 * CHAT_ACTUAL, 0)
    # A new instrumentation (an app restart) neither resets nor re-adds anything.
    reinstrument(**redis_kwargs)
    with billing_context(customer_id="acme"), pytest.raises(BudgetExceeded):
        client.chat.completions.create(**hi_request())
    assert _spent(redis_url) == (2 * CHAT_ACTUAL, 0)
    assert len(server.requests) == 2


def test_a_killed_process_frees_its_reservation_after_expiry(server: FakeOpenAI, redis_url: str) -> None:
    server.clear()
    server.delay = 5.0  # the call is in flight when the process is killed
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.budgets.worker", server.base_url, "acme", "0", "0"],
        cwd=ROOT,
        env=worker_env(redis_url, OTEL_OPENAI_BILLING_BUDGET_RESERVATION_TTL="2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    b = budget(**BUDGET)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = status(RedisStore(redis_url, 2.0), (b,), KEY_PREFIX)
            if rows and rows[0].reserved > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker never reserved: " + proc.stderr.read().decode() if proc.stderr else "")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.monotonic()
        (row,) = status(RedisStore(redis_url, 2.0), (b,), KEY_PREFIX)
        assert row.reservations == 1 and row.reserved > 0  # still held right after the kill
        time.sleep(max(0.0, 2.3 - (time.monotonic() - killed_at)))
        (row,) = status(RedisStore(redis_url, 2.0), (b,), KEY_PREFIX)
        assert (row.spent, row.reserved, row.reservations) == (0, 0, 0)
    finally:
        server.delay = 0.0
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class TestRedisStopsMidRun:
    def _timed_call(self, client: openai.OpenAI) -> float:
        started = time.monotonic()
        with billing_context(customer_id="acme"):
            client.chat.completions.create(**hi_request())
        return time.monotonic() - started

    @pytest.fixture
    def redis_kwargs(self, redis_url: str) -> dict[str, Any]:
        return {
            "budgets": [budget("per-customer", "1", "day", {"customer_id": "*"})],
            "budget_store": redis_url,
            "budget_store_timeout_ms": 200,
            "cost_rollup": False,
        }

    def test_fail_open_keeps_calling_and_counts_everything_after_the_restart(
        self, telemetry: Any, client: openai.OpenAI, redis_server: RedisServer, redis_url: str
    ) -> None:
        for _ in range(3):
            self._timed_call(client)
        redis_server.stop()
        durations = [self._timed_call(client) for _ in range(3)]
        # The store's timeout is 200 ms; no call waits longer than that on it.
        assert max(durations) < 0.2 + 0.5, durations
        assert telemetry.calls()[-1].attributes[n.BUDGET_STORE_UNAVAILABLE] is True
        assert telemetry.metric_sum(n.METRIC_BUDGET_STORE_ERRORS) >= 1
        assert ACTIVE.core.budgets.backlog == 3  # the settles Redis missed
        redis_server.start()
        time.sleep(1.1)  # the guard tries the store again a second after a failure
        self._timed_call(client)
        assert ACTIVE.core.budgets.backlog == 0
        # 3 before, 3 while Redis was down, 1 after: 7 x 0.00000885 = 0.00006195
        assert _spent(redis_url) == (7 * CHAT_ACTUAL, 0) == (Decimal("0.00006195"), 0)

    def test_fail_closed_refuses_quickly_then_recovers(
        self,
        telemetry: Any,
        client: openai.OpenAI,
        server: FakeOpenAI,
        redis_server: RedisServer,
        redis_url: str,
        redis_kwargs: dict[str, Any],
    ) -> None:
        reinstrument(**{**redis_kwargs, "budget_on_store_error": "fail_closed"})
        self._timed_call(client)
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(BudgetStoreUnavailable) as refused:
            self._timed_call(client)
        assert time.monotonic() - started < 0.2 + 0.5
        assert "fail_closed" in str(refused.value)
        assert len(server.requests) == 1
        redis_server.start()
        time.sleep(1.1)
        self._timed_call(client)
        assert len(server.requests) == 2
        assert _spent(redis_url) == (2 * CHAT_ACTUAL, 0)


def test_a_store_that_never_answers_costs_one_timeout(
    telemetry: Any, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # A socket that accepts connections (the kernel's backlog) but never replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        reinstrument(
            budgets=[budget("all", "1", "day")],
            budget_store=f"redis://127.0.0.1:{port}/0",
            budget_store_timeout_ms=150,
            cost_rollup=False,
        )
        started = time.monotonic()
        client.chat.completions.create(**hi_request())  # fail_open: it goes ahead
        first = time.monotonic() - started
        started = time.monotonic()
        client.chat.completions.create(**hi_request())
        second = time.monotonic() - started
    # Reserve times out (150 ms) and the store is then skipped for a second, so the settle and the
    # next call do not wait again (another wait would be 150 ms more).
    assert 0.15 <= first < 0.15 + 0.5, first
    assert second < 0.15, second


def test_store_errors_are_store_errors() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", 0.1)
    with pytest.raises(StoreError):
        store.status([Slot("k", None, 0, 1, 60)])
