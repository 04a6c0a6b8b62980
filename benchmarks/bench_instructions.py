"""Instructions per call and per stream chunk, counted by valgrind: a load-independent cross-check.

``bench_overhead.py`` times CPU, which other load on a shared machine inflates by tens of µs from run
to run. This counts the instructions the CPU executes instead (valgrind's callgrind tool), which no
other process changes: the same calls, the same in-process transport and the same floor and peer as
``bench_overhead.py``, each in a process of its own. A process runs ``--small`` and then, in another
process, ``--large`` calls after the same set-up and warm-up; the difference divided by the difference
in calls is the per-call figure, free of start-up. Before the counted calls each process waits for
one-off background work (the price data, the tokenizer) and freezes the garbage collector's view of
what start-up left, so a full collection of the whole heap does not land in one run and not the other.

Instructions are not time (cache misses and branch mispredictions are not counted), but the ratios
move together, and these do not move at all from run to run.

Needs valgrind (``apt-get install valgrind``). Run: PYTHONPATH=src python benchmarks/bench_instructions.py
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overhead import (
    PEER_VENV,
    Floor,
    _env,
    _instrumented,
    _join_warm_ups,
    _providers,
    call,
    ensure_peer,
    make_client,
    stream,
)

_COLLECTED = re.compile(r"Collected : (\d+)")


def worker(mode: str, what: str, calls: int, chunks: int) -> None:
    """Set up ``mode``, warm up, then make ``calls`` calls (or streams) for valgrind to count."""
    tp, mp = _providers()
    client = make_client(chunks)
    fn: Any = call if what == "call" else stream
    if mode == "floor":
        fn = Floor(tp, mp, client)  # the same call inside a bare span, then the same metric points
    with _instrumented(mode, tp, mp) if mode in ("ours", "peer") else contextlib.nullcontext():
        for _ in range(30):
            fn(client)
        _join_warm_ups()  # the price data, the tokenizer: loaded once per process
        gc.collect()
        gc.freeze()
        for _ in range(calls):
            fn(client)


def count(python: str, mode: str, what: str, calls: int, chunks: int) -> int:
    """Instructions of one whole worker process, counted by callgrind."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            python,
            str(Path(__file__).resolve()),
            "--worker",
            mode,
            what,
            str(calls),
            str(chunks),
        ],
        capture_output=True,
        text=True,
        env={**_env(), "PYTHONHASHSEED": "0"},
    )
    found = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"{mode} {what}: valgrind failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        mode, what, calls, chunks = argv[1:]
        worker(mode, what, int(calls), int(chunks))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="calls in the first process")
    parser.add_argument("--large", type=int, default=220, help="calls in the second process")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per streamed call")
    parser.add_argument("--peer-python", help="interpreter of a venv with the peer (default: .venv-peer)")
    parser.add_argument("--no-peer", action="store_true", help="count ours only")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed (apt-get install valgrind)")
    peer = None if args.no_peer else ensure_peer(args.peer_python)
    runs: list[tuple[str, str, str]] = [
        (sys.executable, mode, what) for mode in ("plain", "floor", "ours") for what in ("call", "stream")
    ]
    runs = [r for r in runs if not (r[1] == "floor" and r[2] == "stream")]
    if peer:
        runs += [(peer, "peer", "call"), (peer, "peer", "stream")]
    jobs = [(python, mode, what, n) for python, mode, what in runs for n in (args.small, args.large)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counted = list(pool.map(lambda j: count(j[0], j[1], j[2], j[3], args.chunks), jobs))
    per: dict[tuple[str, str], float] = {}
    for (_, mode, what, n), total in zip(jobs, counted, strict=True):
        per.setdefault((mode, what), 0)
        per[(mode, what)] += total if n == args.large else -total
    span = args.large - args.small
    per = {key: value / span for key, value in per.items()}
    import openai

    print(
        f"openai {openai.VERSION}; instructions counted by valgrind's callgrind; "
        f"per call: the difference of {args.large} and {args.small} calls"
    )
    if peer:
        print(f"peer: {PEER_VENV.name if peer.startswith(str(PEER_VENV)) else peer}")
    plain, plain_stream = per[("plain", "call")], per[("plain", "stream")]
    print(f"plain      call {plain:,.0f}; streamed call of {args.chunks} chunks {plain_stream:,.0f}")
    overhead = {
        mode: per[(mode, "call")] - plain for mode in ("floor", "ours", "peer") if (mode, "call") in per
    }
    for mode, value in overhead.items():
        print(f"per call   {mode:5} overhead {value:,.0f}")
    for mode in ("ours", "peer"):
        if (mode, "stream") in per:
            chunk = (per[(mode, "stream")] - plain_stream - overhead[mode]) / args.chunks
            print(f"per chunk  {mode:5} overhead {chunk:,.0f} (without the call's own)")
    print(f"per-call overhead, ours / floor: {overhead['ours'] / overhead['floor']:.2f}x")
    if "peer" in overhead:
        print(f"per-call overhead, ours / peer:  {overhead['ours'] / overhead['peer']:.2f}x")


if __name__ == "__main__":
    main()
