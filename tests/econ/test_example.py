"""examples/economics runs offline end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_economics_example_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "economics" / "run_example.py"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # initech: 3 gpt-4o calls of 6000 in / 900 out = 3 x (0.015 + 0.009) = 0.072 against 0.05: a loss.
    assert "initech            3" in out and "-$0.0220" in out and "loss" in out
    # Tokens billed: acme 6 x 3000 + 10 x 1200 = 30000, globex 8 x 1600 = 12800, initech 3 x 6900 = 20700.
    assert "tokens billed through Stripe: 63,500" in out
    assert "not sent: 27 record(s): already exported" in out
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
