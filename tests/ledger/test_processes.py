"""The ledger under several worker processes with several threads each, and a process killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from otel_openai_billing.ledger.readers import read_records
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ledger_worker.py")
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def _spawn(server: FakeOpenAI, directory: Path, threads: int, calls: int) -> subprocess.Popen:
    args = [sys.executable, str(WORKER), server.base_url, str(directory), str(threads), str(calls)]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_four_processes_with_three_threads_lose_and_tear_nothing(tmp_path) -> None:
    with FakeOpenAI() as server:
        workers = [_spawn(server, tmp_path, threads=3, calls=10) for _ in range(4)]
        for w in workers:
            _, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
        answered = {r.response_request_id for r in server.requests if r.response_status == 200}
    problems: list[str] = []
    records = list(read_records(str(tmp_path), on_problem=problems.append))
    assert problems == []
    assert len(answered) == 4 * 3 * 10
    # Every call, once, each in the file of the process that made it.
    assert sorted(r["request_id"] for r in records) == sorted(answered)
    assert len({r["record_id"] for r in records}) == len(records)
    assert len(list(tmp_path.glob("billing-*.jsonl"))) == 4
    # 8 input tokens x $0.02/1M = 0.00000016 per call.
    assert {r["cost"] for r in records} == {"0.00000016"}


def test_a_killed_process_leaves_a_readable_ledger(tmp_path) -> None:
    with FakeOpenAI() as server:
        worker = _spawn(server, tmp_path, threads=4, calls=0)
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # let it write about a hundred records, then kill it
            files = list(tmp_path.glob("billing-*.jsonl"))
            if files and files[0].stat().st_size > 100_000:
                break
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        answered = {r.response_request_id for r in server.requests if r.response_status == 200}
    assert worker.returncode == -signal.SIGKILL
    problems: list[str] = []
    records = list(read_records(str(tmp_path), on_problem=problems.append))
    # Whole lines only: at most a torn last line, reported; every record read is a call that was made.
    assert all("torn" in p for p in problems) and len(problems) <= 1
    assert len(records) > 50  # about 100 kB of whole records were on disk before the kill
    assert {r["request_id"] for r in records} <= answered
    # What was lost is at most the records queued in the last flush interval.
    assert len(answered) - len(records) < len(answered) / 2


def test_a_process_forked_after_instrument_writes_its_own_file(ledger, client) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="parent")  # starts the writer thread
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread and queue are not here
        code = 1
        try:
            for _ in range(3):
                client.embeddings.create(model="text-embedding-3-small", input="child")
            ledger.writer.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    records = ledger.records()
    assert len(records) == 4
    files = sorted(ledger.directory.glob("billing-*.jsonl"))
    assert len(files) == 2
    assert sorted(len(f.read_text().splitlines()) for f in files) == [1, 3]
