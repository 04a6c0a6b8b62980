"""A ledger written by the real instrumentation of real SDK calls, shared by the acceptance tests.

Three customers with known revenue (one unprofitable, one under a 20% minimum margin), a call with
no customer and a failed call, all made with the real `openai` SDK over real HTTP to the local
OpenAI-compatible server. Costs, by hand, from OpenAI's list prices (USD per 1M tokens):
gpt-4o-2024-08-06 input 2.50, output 10; gpt-4o-mini-2024-07-18 input 0.15, output 0.60.

- acme: 4 x gpt-4o, 1000 in / 500 out: 4 x (0.0025 + 0.005) = 0.03; revenue 0.02 -> loss -0.01
- beta: 2 x gpt-4o-mini, 1000 in / 500 out: 2 x (0.00015 + 0.0003) = 0.0009; revenue 0.01 -> 0.0091
- gamma: 1 x gpt-4o, 1000 in / 500 out: 0.0075, and one failed call; revenue 0.009 -> 0.0015 (16.67%)
- nobody: 1 x gpt-4o-mini, the server's default 19 in / 10 out: 0.00000285 + 0.000006 = 0.00000885

And a flat history over five days (``flat_ledger``), written under libfaketime.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context
from otel_openai_billing.ledger.readers import read_records
from tests.core.conftest import Telemetry, server  # noqa: F401
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("flat_app.py")
USAGE_1000_500 = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
REVENUE_CSV = "customer,period,revenue\nacme,{month},0.02\nbeta,{month},0.01\ngamma,{month},0.009\n"


class EconLedger:
    """Where the ledger is, and what went into it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.month = datetime.now(UTC).strftime("%Y-%m")
        self.day = datetime.now(UTC).date().isoformat()

    def records(self) -> list[dict[str, Any]]:
        return list(read_records(str(self.directory)))

    def revenue_file(self, tmp: Path) -> Path:
        path = tmp / "revenue.csv"
        path.write_text(REVENUE_CSV.format(month=self.month), encoding="utf-8")
        return path


def _chat(client: openai.OpenAI, srv: FakeOpenAI, model: str, usage: dict[str, Any] | None) -> None:
    srv.next_usage = usage
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


@pytest.fixture(scope="session")
def econ_ledger(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EconLedger]:  # noqa: F811
    ledger = EconLedger(tmp_path_factory.mktemp("econ") / "ledger")
    telemetry = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        ledger=str(ledger.directory),
    )
    client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
    try:
        server.clear()
        with billing_context(customer_id="acme", feature="search"):
            for _ in range(4):
                _chat(client, server, "gpt-4o", USAGE_1000_500)
        with billing_context(customer_id="beta", feature="chat"):
            for _ in range(2):
                _chat(client, server, "gpt-4o-mini", USAGE_1000_500)
        with billing_context(customer_id="gamma", feature="search"):
            _chat(client, server, "gpt-4o", USAGE_1000_500)
            server.fail_next(1, status=400)
            with pytest.raises(openai.BadRequestError):
                _chat(client, server, "gpt-4o", None)
        _chat(client, server, "gpt-4o-mini", None)
    finally:
        instrumentor.uninstrument()  # flushes and closes the ledger
        client.close()
        server.clear()
    assert len(ledger.records()) == 9
    yield ledger


@pytest.fixture(scope="session")
def flat_ledger(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """Five days (2026-11-20..24) of two gpt-4o calls a day, written by the real instrumentation in a
    process whose clock libfaketime sets day by day. The server's default usage, 19 in / 10 out:
    19 x 2.50/1M + 10 x 10/1M = 0.0000475 + 0.0001 = $0.0001475 a call, $0.000295 a day."""
    preload = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    assert preload, "libfaketime is not installed: run scripts/install-system-deps.sh"
    tmp = tmp_path_factory.mktemp("flat")
    clock = tmp / "clock"
    clock.write_text("@2026-11-20 09:00:00\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT),
        "LD_PRELOAD": preload[0],
        "FAKETIME_TIMESTAMP_FILE": str(clock),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and the ledger writer's interval keep real time
    }
    server.clear()
    try:
        subprocess.run(
            [sys.executable, str(APP), server.base_url, str(tmp / "ledger"), str(clock)],
            env=env, check=True, timeout=120,
        )  # fmt: skip
    finally:
        server.clear()
    return tmp / "ledger"
