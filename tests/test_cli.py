"""The console script, run as a subprocess the way a person or a script would."""

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "prices" in result.stdout and "cost" in result.stdout


def test_cost_line_by_line() -> None:
    result = run(
        "cost",
        "gpt-4o-2024-08-06",
        "--input-tokens",
        "1200",
        "--cached-tokens",
        "800",
        "--output-tokens",
        "350",
        "--reasoning-tokens",
        "100",
        "--date",
        "2026-11-20",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # 400 x $2.50/1M = 0.001 ; 800 x $1.25/1M = 0.001 ; 350 x $10/1M = 0.0035 ; total 0.0055
    assert "400 tokens x $2.5 / 1M tokens" in out and "= $0.001" in out
    assert "800 tokens x $1.25 / 1M tokens" in out
    assert "350 tokens x $10 / 1M tokens" in out and "= $0.0035" in out
    assert "= $0.0055 USD" in out
    assert "status: priced" in out


def test_cost_json() -> None:
    result = run(
        "cost",
        "gpt-5",
        "--tier",
        "priority",
        "--input-tokens",
        "10000",
        "--cached-tokens",
        "5000",
        "--output-tokens",
        "2000",
        "--date",
        "2026-11-20",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # 5000 x 2.50 + 5000 x 0.25 + 2000 x 20, per 1M = 0.05375
    assert data["amount_usd"] == "0.05375"
    assert data["tier"] == "priority" and data["status"] == "priced"
    assert [c["component"] for c in data["components"]] == ["input", "cached_input", "output"]


def test_cost_unknown_model_exits_1() -> None:
    result = run("cost", "gpt-99", "--input-tokens", "10", "--output-tokens", "1", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["status"] == "unpriced" and data["amount_usd"] is None


def test_prices_shows_layers() -> None:
    result = run("prices", "gpt-6-astra", "--tier", "ultrafast", "--date", "2026-11-20", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tier"] == "ultrafast"
    assert data["rates"]["input"]["usd"] == "60"  # $10 x 6
    assert data["rates"]["output"]["usd"] == "300"  # $50 x 6
    assert data["modifiers"] == ["supplement"]


def test_prices_text_and_long_context() -> None:
    result = run("prices", "gpt-5.4", "--date", "2026-11-20")
    assert result.returncode == 0
    assert "$2.5 / 1M tokens" in result.stdout
    assert "above 272000 input tokens" in result.stdout and "$22.5 / 1M tokens" in result.stdout


def test_broken_price_file_reported(tmp_path: Path) -> None:
    bad = tmp_path / "mine.json"
    bad.write_text(
        '{"schema": 1, "models": [{"match": {"exact": ["x"]}, "prices": [{"per_1m_tokens": '
        '{"input": 0.5}}]}]}'
    )
    result = run("prices", "gpt-4o", "--price-file", str(bad))
    assert result.returncode == 1
    assert "mine.json" in result.stderr and "/models/0/prices/0/per_1m_tokens/input" in result.stderr
    assert "$2.5 / 1M tokens" in result.stdout  # still shows the rates it can


def test_bad_date_is_a_usage_error() -> None:
    result = run("prices", "gpt-4o", "--date", "20-11-2026")
    assert result.returncode == 2
    assert "YYYY-MM-DD" in result.stderr
