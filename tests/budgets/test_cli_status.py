"""``otel-openai-billing budgets status``, run as a subprocess against the Redis the app used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import BudgetExceeded, billing_context
from tests.budgets.conftest import hi_request

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_OPENAI_BILLING_")}
    return subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", "budgets", "status", *args],
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(ROOT / "src"), **env},
        timeout=60,
    )


@pytest.fixture
def instrument_kwargs(redis_url: str, budget_file: Path) -> dict[str, Any]:
    budget_file.write_text(
        json.dumps(
            [
                {
                    "name": "per-customer",
                    "scope": {"customer_id": "*"},
                    "window": "day",
                    "limit_usd": "0.00003",
                },
                {"name": "fleet", "window": "month", "limit_usd": "10", "action": "warn"},
            ]
        )
    )
    return {"budgets_file": str(budget_file), "budget_store": redis_url, "cost_rollup": False}


def test_status_shows_spend_reservations_and_room(
    telemetry: Any, client: openai.OpenAI, redis_url: str, budget_file: Path
) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
        client.chat.completions.create(**hi_request())
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**hi_request())
    with billing_context(customer_id="globex"):
        client.chat.completions.create(**hi_request())

    result = cli("--budgets-file", str(budget_file), "--store", redis_url, "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["budget"], r["scope"]): r for r in json.loads(result.stdout)}
    # acme: 2 calls x 0.00000885 = 0.0000177 spent, 0.00003 - 0.0000177 = 0.0000123 left
    assert rows[("per-customer", "customer_id=acme")]["spent_usd"] == "0.0000177"
    assert rows[("per-customer", "customer_id=acme")]["remaining_usd"] == "0.0000123"
    assert rows[("per-customer", "customer_id=globex")]["spent_usd"] == "0.00000885"
    # fleet covers every call: 3 admitted x 0.00000885 = 0.00002655
    assert rows[("fleet", "")]["spent_usd"] == "0.00002655"
    assert rows[("fleet", "")]["reserved_usd"] == "0" and rows[("fleet", "")]["action"] == "warn"

    table = cli(OTEL_OPENAI_BILLING_BUDGETS_FILE=str(budget_file), OTEL_OPENAI_BILLING_BUDGET_STORE=redis_url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "budget",
        "scope",
        "window",
        "action",
        "limit",
        "spent",
        "reserved",
        "remaining",
    ]
    acme = next(line for line in lines if "customer_id=acme" in line).split()
    assert acme[-5:] == ["$0.00003", "$0.0000177", "$0", "(0)", "$0.0000123"]


def test_status_explains_what_it_cannot_do(budget_file: Path) -> None:
    budget_file.write_text('[{"name": "x", "limit_usd": "1", "scope": {"tenant": "a"}}]')
    bad = cli("--budgets-file", str(budget_file), "--store", "redis://127.0.0.1:1/0")
    assert bad.returncode == 2 and f"{budget_file}: budget #1 ('x'): unknown scope key 'tenant'" in bad.stderr
    budget_file.write_text('[{"name": "x", "limit_usd": "1"}]')
    memory = cli("--budgets-file", str(budget_file))
    assert memory.returncode == 2 and "in-memory budget store lives inside each app process" in memory.stderr
    down = cli("--budgets-file", str(budget_file), "--store", "redis://127.0.0.1:1/0", "--timeout-ms", "200")
    assert down.returncode == 1 and "the store did not answer" in down.stderr
