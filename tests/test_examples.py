"""The examples run: the web app with attribution and roll-up, offline, against the local fake API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_webapp_example_runs_and_reports_rollups() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "webapp" / "run_example.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # Baggage from the upstream caller attributes that request's calls to its customer.
    assert "initech" in out
    assert "rollup" in out.lower()


def test_budgets_example_refuses_the_call_over_budget_and_shows_the_status() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "budgets" / "run_example.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # Three calls of $0.00000885 fit in $0.00003; the fourth's worst case does not, and is never sent.
    assert "acme call 4: refused, nothing sent to OpenAI" in out
    assert "globex call 1: sent" in out
    assert "requests the API received: 4" in out
    # budgets status reads the same Redis: acme has spent 3 x $0.00000885.
    assert "customer_id=acme" in out and "$0.00002655" in out
