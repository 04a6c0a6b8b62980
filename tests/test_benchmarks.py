"""The overhead benchmark runs end to end on a small budget: every line it prints stays printable.

Timings are never asserted (they belong to the benchmark, not a test); this checks that each figure is
there and is a number, so the benchmark the README quotes does not rot between runs of ``make bench``.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NUMBER = r"(-?\d+(?:\.\d+)?)"


def test_bench_overhead_prints_every_figure() -> None:
    args = ["--calls", "10", "--chunks", "20", "--repeats", "1"]
    args += ["--memory-calls", "200", "--startup-runs", "1"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_overhead.py"), *args, "--no-peer"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for pattern in (
        rf"floor .* overhead {_NUMBER} µs",
        rf"per call   ours  plain {_NUMBER} µs .* overhead {_NUMBER} µs",
        rf"per chunk  ours  plain {_NUMBER} µs .* overhead {_NUMBER} µs .*; once per stream {_NUMBER} µs",
        rf"per chunk  ours  our step alone {_NUMBER} µs .*; the SDK's same step {_NUMBER} µs",
        rf"per-call overhead, ours / floor: {_NUMBER}x",
        rf"memory     ours  200 calls after warm-up: RSS [+-]{_NUMBER} MB",
        rf"start-up   ours  import \+ instrument\(\): {_NUMBER} ms",
    ):
        found = re.search(pattern, out)
        assert found is not None, f"{pattern!r} not in:\n{out}"
        assert all(math.isfinite(float(x)) for x in found.groups())
    assert "scenario   ledger on: overhead" in out
