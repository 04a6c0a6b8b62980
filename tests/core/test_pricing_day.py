"""A call is priced at the rates in force on the UTC day it started (the hooks hand the engine that day)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def instrument_kwargs(tmp_path: Path) -> dict[str, Any]:
    # Two windows of one override entry: yesterday's rates end where today's begin (effective_to is
    # exclusive). Neither is the database's gpt-4o-mini price.
    today = datetime.now(UTC).date()
    days = [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
    prices = [
        {"effective_from": days[0], "effective_to": days[1], "per_1m_tokens": {"input": "5", "output": "7"}},
        {"effective_from": days[1], "effective_to": days[2], "per_1m_tokens": {"input": "1", "output": "2"}},
    ]
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"schema": 1, "models": [{"match": {"exact": ["gpt-4o-mini"]}, "prices": prices}]})
    )
    return {"price_files": [str(path)]}


def test_a_call_is_priced_at_the_rates_in_force_on_its_day(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    client.chat.completions.create(**CHAT)

    attrs = telemetry.only_span().attributes
    # Today's window: 1,000 input tokens at $1/M + 500 output tokens at $2/M = $0.001 + $0.001.
    # (Yesterday's would be $0.005 + $0.0035.)
    assert attrs[n.COST_STATUS] == "priced"
    assert Decimal(str(attrs[n.COST_AMOUNT])) == Decimal("0.002")
