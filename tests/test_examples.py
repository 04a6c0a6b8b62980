"""The examples and the demo run, offline, against the local fake API (and a local Redis)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(*path: str, timeout: int = 120) -> str:
    """Run one example script as a user would; its standard output, once it has exited 0."""
    proc = subprocess.run(
        [sys.executable, str(ROOT.joinpath("examples", *path))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_webapp_example_runs_and_reports_rollups() -> None:
    out = run_example("webapp", "run_example.py")
    # Baggage from the upstream caller attributes that request's calls to its customer.
    assert "initech" in out
    assert "rollup" in out.lower()


def test_budgets_example_refuses_the_call_over_budget_and_shows_the_status() -> None:
    out = run_example("budgets", "run_example.py")
    # Three calls of $0.00000885 fit in $0.00003; the fourth's worst case does not, and is never sent.
    assert "acme call 4: refused, nothing sent to OpenAI" in out
    assert "globex call 1: sent" in out
    assert "requests the API received: 4" in out
    # budgets status reads the same Redis: acme has spent 3 x $0.00000885.
    assert "customer_id=acme" in out and "$0.00002655" in out


def test_demo_prints_a_usage_table_from_its_ledger() -> None:
    # `make demo` writes a ledger and ends with a `usage` table read from it.
    table = (
        run_example("demo", "run_demo.py", timeout=180)
        .split("$ otel-openai-billing usage --from ", 1)[1]
        .splitlines()
    )
    header = table[2].split()
    assert header[:3] == ["model", "requests", "input_tokens"]
    rows = {line.split()[0]: line.split() for line in table[4:] if line.strip()}
    # gpt-4o-mini-2024-07-18: 1 call, 19 in, 10 out, 19 x $0.15/1M + 10 x $0.60/1M = 0.00000885.
    assert rows["gpt-4o-mini-2024-07-18"][1:4] == ["1", "19", "0"]
    assert rows["gpt-4o-mini-2024-07-18"][6] == "0.00000885"
    # The rate-limited last call: not billed, counted as failed under the model it asked for.
    assert rows["gpt-4o-mini"][1] == "0" and rows["gpt-4o-mini"][9] == "1"
    assert "total" in rows
