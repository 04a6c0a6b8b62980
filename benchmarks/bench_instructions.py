"""Instructions per call and per stream chunk, counted by valgrind: a load-independent cross-check.

``bench_overhead.py`` times CPU, which other load on a shared machine inflates by tens of µs from run
to run. This counts the instructions the CPU executes instead (valgrind's callgrind tool), which no
other process changes: the same calls, the same in-process transport and the same floor and peer as
``bench_overhead.py``, each in a process of its own. A process runs ``--small`` and then, in another
process, ``--large`` calls after the same set-up and warm-up; the difference divided by the difference
in calls is the per-call figure, free of start-up. A stream chunk's figure is the slope between streams
of ``--short-chunks`` and ``--chunks`` chunks, so what a stream costs once (its call, the usage chunk we
ask for, following it) cancels out; that once-per-stream figure is printed too. Streams are counted
twice: as the caller asks for them (we ask the API for usage, so each chunk it sends carries
``"usage": null``, which the SDK decodes and we drop), and with the caller asking for usage, where the
API's chunks are the same with and without us and the difference is our work alone. Before the counted
calls each process waits for one-off background work (the price data, the tokenizer) and freezes the
garbage collector's view of what start-up left, so a full collection of the whole heap does not land
in one run and not the other.

Instructions are not time (cache misses and branch mispredictions are not counted), but the ratios
move together, and these do not move at all from run to run. ``--cache-sim`` runs valgrind's cachegrind
with its cache and branch simulation instead and adds what the same calls miss in that model: L1
instruction and data misses, last-level misses and mispredicted branches, per call and per chunk. A
model (two cache levels, no prefetching, a simple predictor), not this CPU; but no other load moves it
either, and it tells whether the instructions we add run worse than the SDK's own.

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
    EVENTS,
    PEER_VENV,
    Events,
    Floor,
    _env,
    _instrumented,
    _join_warm_ups,
    _providers,
    call,
    ensure_peer,
    make_client,
    stream,
    stream_with_usage,
)

_COLLECTED = re.compile(r"Collected : (\d+)")
# cachegrind's summary with --cache-sim=yes --branch-sim=yes: the event and its total.
_SIMULATED = {
    "Ir": re.compile(r"I\s+refs:\s+([\d,]+)"),
    "I1": re.compile(r"I1\s+misses:\s+([\d,]+)"),
    "D1": re.compile(r"D1\s+misses:\s+([\d,]+)"),
    "LL": re.compile(r"LL misses:\s+([\d,]+)"),
    "Bm": re.compile(r"Mispredicts:\s+([\d,]+)"),
}
_SIMULATED_NAMES = {
    "I1": "L1 instruction misses",
    "D1": "L1 data misses",
    "LL": "last-level misses",
    "Bm": "mispredicted branches",
}


# How many counted "event" calls the two processes make: a whole process's count moves by a couple of
# million instructions from run to run (start-up), so the difference is taken over many rounds.
EVENT_ROUNDS = (200, 10_200)


def worker(mode: str, what: str, calls: int, chunks: int) -> None:
    """Set up ``mode``, warm up, then make ``calls`` calls (or streams) for valgrind to count."""
    tp, mp = _providers()
    client = make_client(chunks)
    fn: Any = {"call": call, "stream": stream, "stream_usage": stream_with_usage}.get(what)
    if mode == "floor":
        fn = Floor(tp, mp, client)  # the same call inside a bare span, then the same metric points
    with _instrumented(mode, tp, mp) if mode in ("ours", "peer") else contextlib.nullcontext():
        # One-off background work (the price data; the tokenizer, which the first stream starts) is
        # waited for as soon as it starts: run beside the main thread, it left the heap in a different
        # state from run to run, and the counts of two identical runs apart by a few million.
        _join_warm_ups()
        if what == "event":
            fn = Events(client, mode)
        for i in range(30):
            fn(client)
            if i == 0:
                _join_warm_ups()
        gc.collect()
        gc.freeze()
        for _ in range(calls):
            fn(client)
        if isinstance(fn, Events):
            fn.finish()


def count(
    python: str, mode: str, what: str, calls: int, chunks: int, cache_sim: bool = False
) -> dict[str, int]:
    """Instructions of one whole worker process, counted by callgrind (``{"Ir": n}``); with
    ``cache_sim``, cachegrind's simulated misses and mispredictions as well."""
    tool = (
        ["--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes", "--cachegrind-out-file=/dev/null"]
        if cache_sim
        else ["--tool=callgrind", "--callgrind-out-file=/dev/null"]
    )
    out = subprocess.run(
        [
            "valgrind",
            *tool,
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
    if cache_sim:
        found = {k: rx.search(out.stderr) for k, rx in _SIMULATED.items()}
        if out.returncode == 0 and all(found.values()):
            return {k: int(m.group(1).replace(",", "")) for k, m in found.items() if m is not None}
    else:
        total = _COLLECTED.search(out.stderr)
        if out.returncode == 0 and total is not None:
            return {"Ir": int(total.group(1))}
    raise RuntimeError(f"{mode} {what}: valgrind failed:\n{out.stderr[-2000:]}")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        mode, what, calls, chunks = argv[1:]
        worker(mode, what, int(calls), int(chunks))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="calls in the first process")
    parser.add_argument("--large", type=int, default=220, help="calls in the second process")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per long streamed call")
    parser.add_argument("--short-chunks", type=int, default=10, help="chunks per short streamed call")
    parser.add_argument("--stream-small", type=int, default=10, help="streams in the first process")
    parser.add_argument("--stream-large", type=int, default=60, help="streams in the second process")
    parser.add_argument("--peer-python", help="interpreter of a venv with the peer (default: .venv-peer)")
    parser.add_argument("--no-peer", action="store_true", help="count ours only")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="cachegrind's cache and branch simulation as well (slower): misses per call and per chunk",
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed (apt-get install valgrind)")
    peer = None if args.no_peer else ensure_peer(args.peer_python)
    modes = [(sys.executable, "plain"), (sys.executable, "ours"), *([(peer, "peer")] if peer else [])]
    # (python, mode, what, chunks, calls): calls, then streams of two lengths, each in two processes.
    jobs = [(sys.executable, "floor", "call", 0, n) for n in (args.small, args.large)]
    for python, mode in modes:
        jobs += [(python, mode, "call", 0, n) for n in (args.small, args.large)]
        if mode != "peer":  # the peer follows its streams elsewhere: this step is not its per-chunk path
            jobs += [(python, mode, "event", 0, n) for n in EVENT_ROUNDS]
        # Streams as the caller asks for them, and (plain and ours) with the caller asking for usage: the
        # API's chunks are then the same with and without us, and the difference is our work alone.
        for what in ("stream", "stream_usage") if mode != "peer" else ("stream",):
            for chunks in (args.short_chunks, args.chunks):
                jobs += [(python, mode, what, chunks, n) for n in (args.stream_small, args.stream_large)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counted = list(
            pool.map(lambda j: count(j[0], j[1], j[2], j[4], j[3] or args.chunks, args.cache_sim), jobs)
        )
    # (mode, what, chunks) -> event -> per call (or per round, per stream); "Ir" is instructions.
    counts: dict[tuple[str, str, int], dict[str, float]] = {}
    for (_, mode, what, chunks, n), totals in zip(jobs, counted, strict=True):
        if what == "event":
            small, large = EVENT_ROUNDS
        elif what in ("stream", "stream_usage"):
            small, large = args.stream_small, args.stream_large
        else:
            small, large = args.small, args.large
        into = counts.setdefault((mode, what, chunks), {})
        for event, total in totals.items():
            into[event] = into.get(event, 0) + (total if n == large else -total) / (large - small)
    per = {key: events["Ir"] for key, events in counts.items()}
    import openai

    tool = "cachegrind (cache and branch simulation)" if args.cache_sim else "callgrind"
    print(
        f"openai {openai.VERSION}; instructions counted by valgrind's {tool}; per call: the difference "
        f"of {args.large} and {args.small} calls ({args.stream_large} and {args.stream_small} streams)"
    )
    if peer:
        print(f"peer: {PEER_VENV.name if peer.startswith(str(PEER_VENV)) else peer}")
    long, short = args.chunks, args.short_chunks
    plain = per[("plain", "call", 0)]
    # A chunk's cost is the slope between streams of two lengths: what a stream costs once (its call,
    # the usage chunk we ask for, following it) cancels out.
    sdk_chunk = (per[("plain", "stream", long)] - per[("plain", "stream", short)]) / (long - short)
    print(f"plain      call {plain:,.0f}; a stream chunk {sdk_chunk:,.0f} (the SDK's own work)")
    overhead = {
        mode: per[(mode, "call", 0)] - plain for mode in ("floor", "ours", "peer") if (mode, "call", 0) in per
    }
    for mode, value in overhead.items():
        print(f"per call   {mode:5} overhead {value:,.0f}")
    for mode in ("ours", "peer"):
        if mode not in overhead:
            continue
        added = {c: per[(mode, "stream", c)] - per[("plain", "stream", c)] for c in (short, long)}
        chunk = (added[long] - added[short]) / (long - short)
        once = added[short] - short * chunk
        print(
            f"per chunk  {mode:5} overhead {chunk:,.0f} ({chunk / sdk_chunk:.1%} of the SDK's); "
            f"once per stream {once:,.0f}"
        )
    asked = {c: per[("ours", "stream_usage", c)] - per[("plain", "stream_usage", c)] for c in (short, long)}
    same_wire = (asked[long] - asked[short]) / (long - short)
    print(
        f"per chunk  ours  overhead {same_wire:,.0f} when the caller asks for usage "
        "(the same chunks from the API with and without us)"
    )
    event = (per[("ours", "event", 0)] - per[("plain", "event", 0)]) / EVENTS
    print(f"per chunk  ours  our path alone {event:,.0f} (one chunk event, without SSE decoding)")
    print(f"per-call overhead, ours / floor: {overhead['ours'] / overhead['floor']:.2f}x")
    if "peer" in overhead:
        print(f"per-call overhead, ours / peer:  {overhead['ours'] / overhead['peer']:.2f}x")
    if args.cache_sim:
        _print_simulated(counts, short, long)


def _print_simulated(counts: dict[tuple[str, str, int], dict[str, float]], short: int, long: int) -> None:
    """What each implementation adds to the simulated misses of a call and of a chunk, beside the
    SDK's own: whether the instructions we add run worse than the SDK's (a model, not this CPU)."""

    def chunk_of(mode: str, event: str) -> float:
        longer, shorter = counts[(mode, "stream", long)][event], counts[(mode, "stream", short)][event]
        return (longer - shorter) / (long - short)

    for event, name in _SIMULATED_NAMES.items():
        sdk_call = counts[("plain", "call", 0)][event]
        added = ", ".join(
            f"{mode} {counts[(mode, 'call', 0)][event] - sdk_call:+,.0f}"
            for mode in ("floor", "ours", "peer")
            if (mode, "call", 0) in counts
        )
        print(f"simulated  per call   {name}: the SDK's {sdk_call:,.0f}; added: {added}")
    for event, name in _SIMULATED_NAMES.items():
        sdk_chunk = chunk_of("plain", event)
        added = ", ".join(
            f"{mode} {chunk_of(mode, event) - sdk_chunk:+,.0f}"
            for mode in ("ours", "peer")
            if (mode, "stream", long) in counts
        )
        print(f"simulated  per chunk  {name}: the SDK's {sdk_chunk:,.0f}; added: {added}")


if __name__ == "__main__":
    main()
