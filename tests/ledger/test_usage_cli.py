"""`otel-openai-billing usage` on a ledger of real calls: table, CSV, JSON, ranges, sources."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from otel_openai_billing.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_usage_by_model_as_json(calls, ledger_dir, capsys) -> None:
    assert main(["usage", "--from", ledger_dir, "--by", "model", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in payload["rows"]}
    mini = rows["gpt-4o-mini-2024-07-18"]
    # 3 billed calls x (19 in, 10 out) x ($0.15, $0.60)/1M = 3 x 0.00000885.
    assert (mini["requests"], mini["input_tokens"], mini["output_tokens"]) == (3, 57, 30)
    assert Decimal(mini["cost"]) == Decimal("0.00002655")
    assert (rows["gpt-9-preview"]["unpriced"], rows["gpt-9-preview"]["cost"]) == (1, "0")
    assert rows["tts-1"]["estimated"] == 1
    assert payload["total"]["requests"] == 8 and payload["total"]["failed"] == 1


def test_usage_by_customer_and_feature_as_csv(calls, ledger_dir, tmp_path, capsys) -> None:
    out = tmp_path / "usage.csv"
    assert (
        main(
            ["usage", "--from", ledger_dir, "--by", "customer,feature", "--format", "csv", "--out", str(out)]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "customer",
        "feature",
        "requests",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost",
        "unpriced",
        "estimated",
        "failed",
        "retries",
    ]
    acme = next(r for r in rows if r["customer"] == "acme")
    # gpt-4o-mini 0.00000885 + streamed gpt-4o 19 x $2.50/1M + 10 x $10/1M = 0.0000475 + 0.0001.
    assert (acme["feature"], acme["requests"], Decimal(acme["cost"])) == (
        "search",
        "2",
        Decimal("0.00015635"),
    )


def test_usage_table_on_a_terminal(calls, ledger_dir, capsys) -> None:
    assert main(["usage", "--from", ledger_dir, "--by", "day,project"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["day", "project", *_columns()]
    assert any("proj_other" in line for line in lines)
    assert lines[-1].startswith("total")


def _columns() -> list[str]:
    from otel_openai_billing.reports.usage import COLUMNS

    return list(COLUMNS)


def test_a_range_with_no_calls_is_empty(calls, ledger_dir, capsys) -> None:
    assert main(["usage", "--from", ledger_dir, "--until", "2001-01-01", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == []


def test_a_missing_ledger_is_an_error(tmp_path, capsys) -> None:
    assert main(["usage", "--from", str(tmp_path / "nope")]) == 2
    assert "no ledger at" in capsys.readouterr().err


def test_the_console_script_shows_progress_on_request(calls, ledger_dir) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", "usage", "--from", ledger_dir, "--progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "reading billing records: 9 done" in proc.stderr  # 8 billed calls and 1 failed one
