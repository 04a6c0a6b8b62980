"""Real servers for the end-to-end tests: processes started on 127.0.0.1 and stopped by their PID.

Each helper fails the test (never skips it) when a binary is missing, with the command that
installs it, and puts the tail of the process's log in every failure message.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import pytest

from tests.fakes import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(name: str, install_hint: str) -> str:
    """The path of `name`; fails the test with `install_hint` when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed. {install_hint}")
    return path


def http_json(url: str, body: Any = None, timeout: float = 5.0) -> Any:
    """GET (or POST `body` as JSON to) `url` and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=timeout) as resp:
        return json.loads(resp.read())


def http_ok(url: str) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def wait_until(what: str, check: Callable[[], T], timeout: float = 60.0, watch: Sequence[Process] = ()) -> T:
    """Poll `check` until it returns something truthy. Fail after `timeout` s, or as soon as a
    watched process exits, with the watched processes' logs in the message."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        dead = [p for p in watch if p.proc is not None and p.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"{dead[0].name} exited" if dead else f"not within {timeout:.0f} s"
            logs = "\n".join(f"--- {p.name} log:\n{p.log_tail()}" for p in watch)
            pytest.fail(f"{what}: {why}\n{logs}")
        time.sleep(0.25)


class Process:
    """A server process with its output in a log file; stopped with SIGTERM (then SIGKILL) by PID."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.log = log_dir / f"{name}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )
        return self

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, what: str, check: Callable[[], T], timeout: float = 60.0) -> T:
        """`wait_until` watching this process."""
        return wait_until(what, check, timeout, watch=[self])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WebhookReceiver(BackgroundServer):
    """Records every JSON POST it receives as (path, body); Alertmanager's webhook receiver target."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        with self._lock:
            self.posts.append((environ["PATH_INFO"], json.loads(body)))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    def alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """Every alert delivered so far, as (path, alert), across all notifications."""
        with self._lock:
            return [(path, alert) for path, body in self.posts for alert in body.get("alerts", [])]


def listening_sockets_beyond_loopback(pid: int) -> list[str]:
    """TCP listeners of process `pid` (and its children) bound to anything but 127.0.0.1.

    Read from /proc so that no extra tool is needed: the socket inodes the processes hold, matched
    against /proc/net/tcp and tcp6 of the namespace the process is in.
    """
    pids = {pid} | {int(p) for p in _children(pid)}
    inodes: set[str] = set()
    for p in pids:
        fd_dir = Path(f"/proc/{p}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    bad = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes and local.split(":")[0] != "0100007F":
                bad.append(f"{table} {local}")
    return bad


def _children(pid: int) -> list[str]:
    out: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            out += [child, *_children(int(child))]
    return out


CLONE_NEWNET = 0x40000000


class NetnsForwarder:
    """A TCP port on 127.0.0.1 in this network namespace that forwards to a port on 127.0.0.1 in the
    network namespace of another process (e.g. a server started with `unshare -n`).

    The listening socket is created here, in the test's namespace; the accept thread then joins the
    target namespace with setns(2), which affects that thread only, so each upstream connection it
    opens is in the target namespace. Bytes are pumped both ways by one thread per direction.
    """

    def __init__(self, pid: int, target_port: int) -> None:
        self.pid, self.target_port = pid, target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # so that the accept loop notices stop()
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"netns-forward:{self.port}", daemon=True)

    def start(self) -> Self:
        # `unshare -n cmd` enters the new namespace only after it has started: wait for that.
        own = os.readlink("/proc/self/ns/net")
        wait_until(
            f"process {self.pid} in a network namespace of its own",
            lambda: os.readlink(f"/proc/{self.pid}/ns/net") != own,
            timeout=10,
        )
        self._ns = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        self._thread.start()
        return self

    def _serve(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(self._ns, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the server's network namespace")
        while not self._closed.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def stop(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()
        os.close(self._ns)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        src.close()
