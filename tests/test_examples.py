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
