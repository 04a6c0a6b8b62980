"""The unit-economics commands as a person meets them: help with an example, clear input errors."""

from __future__ import annotations

import pytest

from otel_openai_billing.cli import main

from .conftest import EconLedger


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["customers"], "otel-openai-billing customers --from ./ledger --revenue revenue.csv"),
        (["forecast"], "--swap gpt-4o=gpt-4o-mini:50%"),
        (["report"], "otel-openai-billing report --from ./ledger --html report.html"),
        (["export", "stripe"], "--checkpoint stripe.checkpoint --dry-run"),
    ],
)
def test_help_has_an_example(argv: list[str], example: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    assert example in capsys.readouterr().out


def test_missing_and_malformed_revenue_file(econ_ledger: EconLedger, tmp_path, capsys) -> None:
    src = ["customers", "--from", str(econ_ledger.directory)]
    assert main([*src, "--revenue", str(tmp_path / "nope.csv")]) == 2
    assert f"error: revenue file not found: {tmp_path / 'nope.csv'}" in capsys.readouterr().err
    bad = tmp_path / "revenue.csv"
    bad.write_text("customer,period,revenue\nacme,2026-13,5\n")
    assert main([*src, "--revenue", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}:2:2: period '2026-13' is not a calendar month (YYYY-MM)\n"


def test_malformed_mapping_file(econ_ledger: EconLedger, tmp_path, capsys) -> None:
    mapping = tmp_path / "map.csv"
    mapping.write_text("customer,stripe_customer_id\nacme,cus_1\nbeta,beta@example.com\n")
    argv = ["export", "stripe", "--from", str(econ_ledger.directory), "--event-name", "m"]
    argv += ["--mapping", str(mapping), "--checkpoint", str(tmp_path / "cp"), "--dry-run"]
    assert main(argv) == 2
    assert f"error: {mapping}:3:2: 'beta@example.com' is not a Stripe customer id" in capsys.readouterr().err


def test_no_source_and_bad_scenario(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OTEL_OPENAI_BILLING_LEDGER", raising=False)
    assert main(["customers"]) == 2
    assert "no source of records" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["forecast", "--from", str(tmp_path), "--swap", "gpt-4o"])
    assert "expected FROM=TO or FROM=TO:SHARE" in capsys.readouterr().err
    assert main(["forecast", "--from", str(tmp_path), "--batch", "60%", "--flex", "50%"]) == 2
    assert "more than all of the traffic" in capsys.readouterr().err


def test_progress_on_stderr(econ_ledger: EconLedger, capsys) -> None:
    assert main(["customers", "--from", str(econ_ledger.directory), "--progress", "--format", "json"]) == 0
    assert "reading billing records: 9 done" in capsys.readouterr().err
