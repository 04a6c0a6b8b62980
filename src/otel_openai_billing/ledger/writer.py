"""The ledger writer: billing records to local JSON Lines files, off the caller's thread.

``write()`` is what a finished call pays: one pid check and one append to a bounded queue. A background
thread builds each record and appends it to ``<dir>/billing-<UTC day>-<host>-<pid>.jsonl`` (one file
per process per UTC day of the call, so any number of worker processes can write at once). A full queue
drops the record, counts it (``openai_billing.ledger.dropped``) and warns: it never blocks or slows
the app.

Crash safety: lines are written with ``os.write`` on an ``O_APPEND`` descriptor, whole lines per
call, so a killed process leaves whole lines (at most the records still queued, under one flush
interval, are lost). A file that ends in a torn line (power loss, disk full) gets a newline before new
records are appended, so the fragment stays one bad line that readers skip and report.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
from collections import deque
from pathlib import Path
from typing import Any

from .. import names as n
from ..billing_record import build

logger = logging.getLogger("otel_openai_billing")

FILE_PREFIX = "billing-"
FILE_SUFFIX = ".jsonl"
_MAX_BATCH = 2000  # records per os.write: bounds the memory of one flush


def file_name(day: str, pid: int | None = None) -> str:
    """The ledger file of this process (or ``pid``) for a UTC day ``YYYY-MM-DD``."""
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{FILE_PREFIX}{day}-{host}-{pid if pid is not None else os.getpid()}{FILE_SUFFIX}"


class LedgerWriter:
    """Appends billing records to a ledger directory from a background thread."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        queue_size: int = 10_000,
        meter: Any = None,
        flush_interval: float = 0.2,
    ) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"ledger: cannot create the directory {str(self.directory)!r}: {exc}") from exc
        if not os.access(self.directory, os.W_OK):
            raise ValueError(f"ledger: the directory {str(self.directory)!r} is not writable")
        self.queue_size = queue_size
        self.flush_interval = flush_interval
        self.dropped = 0  # records dropped so far: queue full, or a write that failed
        self._drop_lock = threading.Lock()  # callers on many threads may drop at once
        self.written = 0
        self._dropped_counter = (
            meter.create_counter(
                n.METRIC_LEDGER_DROPPED,
                unit="{record}",
                description="Billing records dropped because the ledger's queue was full.",
            )
            if meter is not None
            else None
        )
        self._reset()
        self._exiting = False
        atexit.register(self._at_exit)
        # A worker forked after instrument() (gunicorn --preload, multiprocessing) starts afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also the state of a forked child: the parent's queue, files and thread are the parent's.
        self._pid = os.getpid()
        self._pending: deque[tuple[Any, ...]] = deque()
        self._files: dict[str, int] = {}
        self._io_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    # --- the caller's side -------------------------------------------------------------------------
    def write(self, rec: Any, usage: Any, cost: Any, span_attributes: dict[str, Any] | None) -> None:
        """Queue a finished call's billing record; never blocks.

        Calls to endpoints that never incur spend (listing models, reading files) are not billed units
        and are not recorded; failed calls to billable endpoints are (reconciliation explains them).
        """
        if rec.kind == "call" and not rec.endpoint.billable:
            return
        if len(self._pending) >= self.queue_size:
            self._drop()
            return
        self._pending.append((rec, usage, cost, span_attributes))
        if self._thread is None:
            self._start()

    def _drop(self, count: int = 1) -> None:
        with self._drop_lock:
            self.dropped += count
        if self._dropped_counter is not None:
            self._dropped_counter.add(count)
        if not self._warned:
            self._warned = True
            logger.warning(
                "otel-openai-billing: the ledger queue is full (%d records); billing records are being "
                "dropped and counted in %s. Is %s on a slow or full disk?",
                self.queue_size,
                n.METRIC_LEDGER_DROPPED,
                self.directory,
            )

    def _start(self) -> None:
        with self._start_lock:  # two first calls at once start one thread
            if self._thread is not None:
                return
            if self._exiting:
                # A call ending after the exit flush (a stream finalized at exit): no thread would
                # outlive the interpreter, so write now.
                self.flush()
                return
            thread = threading.Thread(target=self._run, name="otel-openai-billing-ledger", daemon=True)
            thread.start()
            self._thread = thread

    # --- the background thread ---------------------------------------------------------------------
    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.flush_interval):
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every queued record now (the background thread does this every flush interval)."""
        with self._io_lock:
            pending = self._pending
            while pending:
                by_day: dict[str, list[str]] = {}
                for _ in range(_MAX_BATCH):
                    try:
                        item = pending.popleft()
                    except IndexError:
                        break
                    try:
                        record = build(*item)
                        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
                    except Exception as exc:  # one bad record never stops the ledger
                        _log_once("building a billing record", exc)
                        continue
                    by_day.setdefault(record["time"][:10], []).append(line)
                for day, lines in by_day.items():
                    try:
                        self._append(day, ("\n".join(lines) + "\n").encode())
                        self.written += len(lines)
                    except OSError as exc:
                        self._drop(len(lines))
                        _log_once("writing the ledger", exc)

    def _append(self, day: str, data: bytes) -> None:
        fd = self._files.get(day)
        if fd is None:
            fd = self._open(day)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def _open(self, day: str) -> int:
        path = self.directory / file_name(day, self._pid)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    os.write(fd, b"\n")  # end a torn line left by an earlier process with this pid
        # Calls of two days at most are in flight around midnight; close older days' files.
        for old in sorted(self._files)[:-1]:
            os.close(self._files.pop(old))
        self._files[day] = fd
        return fd

    def _at_exit(self) -> None:
        self._exiting = True
        self.close()

    def close(self) -> None:
        """Write what is queued and stop the thread; later writes start it again."""
        if self._pid != os.getpid():
            return
        thread = self._thread
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()
        with self._io_lock:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()
        self._thread = None
        self._stop = threading.Event()
        if self.dropped:
            logger.info("otel-openai-billing: the ledger dropped %d billing records in all", self.dropped)


_logged: set[str] = set()


def _log_once(where: str, exc: BaseException) -> None:
    key = f"{where}:{type(exc).__name__}"
    level = logging.DEBUG if key in _logged else logging.WARNING
    _logged.add(key)
    logger.log(level, "otel-openai-billing: %s failed: %r", where, exc, exc_info=exc)
