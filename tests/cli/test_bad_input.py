"""Bad input gets a clear error, and corrupt usage never poisons prices or metrics."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from otel_openai_billing import names as n
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

SRC = str(Path(__file__).resolve().parents[2] / "src")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("whisper-1", "--audio-seconds", "-3"), "expected a finite number >= 0, got '-3'"),
        (("whisper-1", "--audio-seconds", "nan"), "expected a finite number >= 0, got 'nan'"),
        (("whisper-1", "--audio-seconds", "inf"), "expected a finite number >= 0, got 'inf'"),
        (("gpt-4o", "--tier", "bogus", "--input-tokens", "1"), "unknown tier 'bogus'"),
        (
            ("gpt-4o", "--input-tokens", "10", "--output-tokens", "10", "--reasoning-tokens", "20"),
            "--reasoning-tokens 20 exceeds --output-tokens 10",
        ),
        (
            ("gpt-4o", "--input-tokens", "10", "--cached-tokens", "20", "--output-tokens", "1"),
            "--cached-tokens 20 exceeds --input-tokens 10",
        ),
        (("gpt-4o", "--input-tokens", "-5"), "must not be negative"),
    ],
)
def test_cost_rejects_bad_input(args: tuple[str, ...], message: str) -> None:
    result = cli("cost", *args)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "$" not in result.stdout  # no amount printed for nonsense


def test_string_counts_are_counted_like_the_sdk_does(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = {"prompt_tokens": "100", "completion_tokens": "20", "total_tokens": "120"}
    response = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert response.usage.prompt_tokens == 100  # the SDK coerced it
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_PRICED
    # gpt-4o-mini: 100 x $0.15/1M + 20 x $0.60/1M = 0.000015 + 0.000012.
    assert Decimal(str(attrs[n.COST_AMOUNT])) == Decimal("0.000027")


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        ({"prompt_tokens": -5, "completion_tokens": 10, "total_tokens": 5}, "input_tokens=-5"),
        ({"prompt_tokens": 1e308, "completion_tokens": 10, "total_tokens": 1e308}, "input_tokens=1000000"),
    ],
)
def test_impossible_counts_are_flagged_and_metrics_stay_healthy(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, usage: dict, why: str
) -> None:
    server.next_usage = usage
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    server.next_usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    bad, good = telemetry.spans()
    assert bad.attributes[n.COST_STATUS] == n.COST_STATUS_INCONSISTENT
    assert n.COST_AMOUNT not in bad.attributes
    assert why in bad.attributes[n.COST_UNPRICED_REASON]
    assert n.USAGE_INPUT_TOKENS not in bad.attributes  # quoted in the reason, kept off the counts
    assert good.attributes[n.COST_STATUS] == n.COST_STATUS_PRICED
    # Every later export still works and the token histogram holds only real counts: 10 + 7 + 3.
    points = telemetry.metric_points(n.METRIC_TOKEN_USAGE)
    total = sum(p.sum for p in points)
    assert math.isfinite(total) and total == 20
    assert all(p.min >= 0 for p in points)
    unpriced = telemetry.metric_points(n.METRIC_UNPRICED_CALLS)
    assert [p.value for p in unpriced] == [1]
