"""The pricer built on a thread: a call before it is built waits, a failed build is unpriced, a fork
while it builds waits for it (or, past the wait, the child builds its own)."""

from __future__ import annotations

import json
import os
import threading
from decimal import Decimal

import pytest

from otel_openai_billing.pricing import PriceQuery, Pricer, background
from otel_openai_billing.pricing.background import BackgroundPricer
from otel_openai_billing.usage import Usage

# gpt-4o at $2.50 in / $10 out per 1M: 1,000 x 2.50/1M + 1,000 x 10/1M = 0.0125.
GPT_4O = (Usage(1_000, 1_000), PriceQuery("gpt-4o"))
GPT_4O_COST = Decimal("0.0125")


def test_a_call_before_the_pricer_is_built_waits_for_it() -> None:
    gate = threading.Event()
    built: list[Pricer] = []

    def build() -> Pricer:
        gate.wait()
        return Pricer()

    pricer = BackgroundPricer(build, built.append)
    pricer.start()
    costs = []
    caller = threading.Thread(target=lambda: costs.append(pricer.price(*GPT_4O)))
    caller.start()
    caller.join(0.2)
    assert caller.is_alive() and costs == []  # still waiting: nothing priced at $0 or "unknown"
    gate.set()
    caller.join()
    assert costs[0].status == "priced" and costs[0].amount == GPT_4O_COST
    # on_built ran before the call was priced, with the pricer that priced it.
    assert len(built) == 1 and pricer.data is built[0].data


def test_a_call_before_start_starts_the_build() -> None:
    pricer = BackgroundPricer(Pricer, lambda _: None)
    assert pricer.price(*GPT_4O).amount == GPT_4O_COST


def test_a_failed_build_is_logged_and_every_call_unpriced(caplog: pytest.LogCaptureFixture) -> None:
    def build() -> Pricer:
        raise OSError("disk on fire")

    pricer = BackgroundPricer(build, lambda _: None)
    pricer.start()
    cost = pricer.price(*GPT_4O)
    assert cost.status == "unpriced" and cost.amount is None
    assert cost.reason == "price data did not load (OSError: disk on fire)"
    [record] = [r for r in caplog.records if "did not load" in r.getMessage()]
    assert record.exc_info is not None  # with the traceback, to fix it


def _fork_and_price(pricer: BackgroundPricer) -> tuple[str, Decimal, int]:
    """Fork; the child prices GPT_4O and reports (status, amount, pid of the build that priced it)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: price, report through the pipe, leave without pytest's teardown
        try:
            cost = pricer.price(*GPT_4O)
            os.write(write, json.dumps([cost.status, str(cost.amount), pricer.built_by]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        status, amount, built_by = json.loads(pipe.read())
    os.waitpid(child, 0)
    return status, Decimal(amount), built_by


class _Build:
    """A real Pricer build that waits for ``gate`` in the parent process and records who built it."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.gate = threading.Event()

    def __call__(self) -> Pricer:
        if os.getpid() == self.parent:
            self.gate.wait()
        pricer = Pricer()
        pricer.built_by = os.getpid()  # type: ignore[attr-defined]
        return pricer


def test_a_fork_waits_for_the_build_and_the_child_inherits_the_pricer() -> None:
    build = _Build()
    pricer = BackgroundPricer(build, lambda _: None)
    pricer.start()
    threading.Timer(0.2, build.gate.set).start()  # the build finishes while the fork waits for it
    status, amount, built_by = _fork_and_price(pricer)
    assert (status, amount) == ("priced", GPT_4O_COST)
    assert built_by == build.parent  # built once, before the fork, not again in the child


def test_a_child_forked_past_the_wait_builds_its_own_pricer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "FORK_WAIT_S", 0)  # the fork does not wait: the build is cut off
    build = _Build()
    pricer = BackgroundPricer(build, lambda _: None)
    pricer.start()
    status, amount, built_by = _fork_and_price(pricer)
    build.gate.set()
    assert (status, amount) == ("priced", GPT_4O_COST)
    assert built_by != build.parent
    assert pricer.price(*GPT_4O).amount == GPT_4O_COST  # and the parent's own build completes
