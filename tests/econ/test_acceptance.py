"""Acceptance on a ledger of real instrumented calls (see conftest.py for the hand-worked costs)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from otel_openai_billing.cli import main

from .conftest import EconLedger


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_margin_table_and_flags_are_exact(econ_ledger: EconLedger, tmp_path: Path, capsys) -> None:
    revenue = econ_ledger.revenue_file(tmp_path)
    rows = run_json(
        capsys,
        "customers",
        "--from",
        str(econ_ledger.directory),
        "--revenue",
        str(revenue),
        "--min-margin",
        "20",
    )
    got = [(r["customer_id"], r["calls"], r["cost"], r["revenue"], r["margin"], r["flags"]) for r in rows]
    assert got == [
        # acme: 0.03 against 0.02 -> -0.01 (-50%): a loss, on top.
        ("acme", 4, "0.03", "0.02", "-0.01", ["loss"]),
        # gamma: 0.009 - 0.0075 = 0.0015 = 16.67% < 20%; its failed call is counted, not billed.
        ("gamma", 2, "0.0075", "0.009", "0.0015", ["below min margin"]),
        # beta: 0.01 - 0.0009 = 0.0091 = 91%.
        ("beta", 2, "0.0009", "0.01", "0.0091", []),
        # The call with no customer: its own row, cost and no revenue.
        (None, 1, "0.00000885", None, None, ["no revenue"]),
    ]
    assert rows[0]["margin_pct"] == "-50"
    assert Decimal(rows[1]["margin_pct"]).quantize(Decimal("0.01")) == Decimal("16.67")
    assert rows[1]["failed_calls"] == 1


def test_margin_table_on_a_terminal(econ_ledger: EconLedger, tmp_path: Path, capsys) -> None:
    revenue = econ_ledger.revenue_file(tmp_path)
    assert main(["customers", "--from", str(econ_ledger.directory), "--revenue", str(revenue)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["period", "customer", "calls"]
    assert "acme" in lines[2] and "-$0.0100" in lines[2] and "-50.0%" in lines[2] and "loss" in lines[2]
    assert "(no customer)" in out
    # 9 calls; cost 0.03 + 0.0009 + 0.0075 + 0.00000885 = 0.03840885; revenue 0.039; margin 0.00059115
    # (under a cent: shown to 6 places).
    assert "9 calls, AI cost $0.0384, revenue $0.0390, margin $0.000591" in out


def test_by_feature_csv(econ_ledger: EconLedger, capsys) -> None:
    assert (
        main(["customers", "--from", str(econ_ledger.directory), "--by", "feature", "--format", "csv"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("period,feature,calls,")
    search = next(line for line in lines if ",search," in line)
    # search: acme 4 x 0.0075 + gamma 0.0075 (+ its failed call) = 0.0375 over 6 calls.
    assert search.split(",")[2:3] == ["6"] and ",0.0375," in search


def test_forecast_reprices_a_swap_and_growth(econ_ledger: EconLedger, capsys) -> None:
    base = ["forecast", "--from", str(econ_ledger.directory), "--days", "1", "--until", econ_ledger.day]
    base += ["--as-of", econ_ledger.day, "--horizon", "30"]
    out = run_json(capsys, *base, "--growth", "3x")
    s = out["summary"]
    # One day of history: 0.03840885 a day (see the margin test), x 30 = 1.1522655; x 3 = 3.4567965.
    assert s["days_observed"] == 1 and s["calls"] == 9
    assert s["baseline_projection"] == "1.1522655"
    assert s["scenario_projection"] == "3.4567965"
    out = run_json(capsys, *base, "--swap", "gpt-4o=gpt-4o-mini")
    # The 5 gpt-4o calls at gpt-4o-mini rates: 5 x (1000 x 0.15 + 500 x 0.60) / 1M = 0.00225;
    # plus the gpt-4o-mini calls 0.0009 + 0.00000885: 0.00315885 a day, x 30 = 0.0947655.
    assert out["summary"]["scenario_projection"] == "0.0947655"
    models = {m["model"]: m for m in out["models"]}
    assert models["gpt-4o-2024-08-06"]["scenario_cost"] == "0"
    assert models["gpt-4o-mini"]["scenario_calls_per_day"] == "5"


def test_forecast_table_shows_the_basis(econ_ledger: EconLedger, capsys) -> None:
    argv = ["forecast", "--from", str(econ_ledger.directory), "--days", "7", "--until", econ_ledger.day]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 day, 9 calls" in out
    assert "calls start on" in out  # 7 days asked, 1 observed: said so
    assert "scenario: no change (baseline)" in out


def test_forecast_with_no_history_says_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "ledger").mkdir()
    argv = ["forecast", "--from", str(tmp_path / "ledger"), "--until", "2026-11-30", "--days", "30"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(
        "basis: no calls from 2026-11-01 to 2026-11-30 (UTC): nothing to forecast from\n"
    )


def test_forecast_on_a_flat_history_of_real_calls(flat_ledger: Path, capsys) -> None:
    base = ["forecast", "--from", str(flat_ledger), "--days", "5", "--until", "2026-11-24"]
    base += ["--as-of", "2026-11-30", "--horizon", "30"]
    s = run_json(capsys, *base)["summary"]
    # 2 calls x 0.0001475 = 0.000295 every day: no spread, no trend; x 30 days = 0.00885.
    assert (s["days_observed"], s["calls"]) == (5, 10)
    assert (s["mean_daily_cost"], s["daily_stdev"], s["trend_per_day"]) == ("0.000295", "0", "0")
    assert s["baseline_projection"] == "0.00885"
    grown = run_json(capsys, *base, "--growth", "3x")["summary"]
    assert grown["scenario_projection"] == "0.02655"  # 3 x 0.00885
    acme = run_json(capsys, *base, "--growth", "customer:acme=3x")["summary"]
    assert acme["scenario_projection"] == "0.0177"  # acme's half x 3 + beta's half: 2 x 0.00885
    swapped = run_json(capsys, *base, "--swap", "gpt-4o=gpt-4o-mini")["summary"]
    # gpt-4o-mini: 19 x 0.15/1M + 10 x 0.60/1M = 0.00000885 a call; 2 a day x 30 = 0.000531.
    assert swapped["scenario_projection"] == "0.000531"
