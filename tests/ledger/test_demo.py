"""`make demo` (examples/demo/run_demo.py) writes a ledger and ends with a `usage` table read from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_a_usage_table_from_its_ledger() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo" / "run_demo.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("$ otel-openai-billing usage --from ", 1)[1].splitlines()
    header = table[2].split()
    assert header[:3] == ["model", "requests", "input_tokens"]
    rows = {line.split()[0]: line.split() for line in table[4:] if line.strip()}
    # gpt-4o-mini-2024-07-18: 1 call, 19 in, 10 out, 19 x $0.15/1M + 10 x $0.60/1M = 0.00000885.
    assert rows["gpt-4o-mini-2024-07-18"][1:4] == ["1", "19", "0"]
    assert rows["gpt-4o-mini-2024-07-18"][6] == "0.00000885"
    # The rate-limited last call: not billed, counted as failed under the model it asked for.
    assert rows["gpt-4o-mini"][1] == "0" and rows["gpt-4o-mini"][9] == "1"
    assert "total" in rows
