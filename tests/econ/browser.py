"""Real headless Chromium (Debian's `chromium`) for the HTML report tests, and a PNG reader.

Every run gets a new empty profile and no network: all traffic, loopback included, goes to a proxy
port where nothing listens. ``DevTools`` drives the browser over the DevTools protocol to see which
requests a page makes.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, Self

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    """The Chromium binary; its absence is a failure (scripts/install-system-deps.sh installs it)."""
    path = shutil.which("chromium")
    assert path, "chromium is not installed: run scripts/install-system-deps.sh"
    return path


def dead_port() -> int:
    """A 127.0.0.1 port with nothing listening: a proxy there is a network that is not there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Open ``page`` in a fresh profile with no network: every request goes to a dead proxy."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--proxy-server=http://127.0.0.1:{dead_port()}",
            "--proxy-bypass-list=<-loopback>",
            # Lets the page's scripts run to completion before the DOM is dumped or the screenshot taken.
            "--virtual-time-budget=5000",
            *args,
            page.resolve().as_uri(),
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=90)


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

    Used to see exactly which requests a page makes (``Network.requestWillBeSent``), the exceptions
    its scripts throw, and to screenshot each chart on its own.
    """

    def __init__(self, width: int = 1000, height: int = 1200) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_chrome_r, self._to_chrome = self._high(os.pipe())
        self._from_chrome, from_chrome_w = self._high(os.pipe())

        # bash (dash takes single-digit fds only) puts the pipe ends at the protocol's fds 3 (commands in)
        # and 4 (replies out), then becomes Chromium; no preexec_fn, unsafe with the test servers' threads.
        shell = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self._proc = subprocess.Popen(
            ["/bin/bash", "-c", shell, chromium(), *FLAGS, f"--user-data-dir={self._profile.name}",
             "--remote-debugging-pipe", f"--proxy-server=http://127.0.0.1:{dead_port()}",
             "--proxy-bypass-list=<-loopback>", f"--window-size={width},{height}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w),
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    @staticmethod
    def _high(fds: tuple[int, int]) -> tuple[int, int]:
        # Above 4, so the shell's "3<&r 4>&w" never overwrites one end before it is duplicated.
        out = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
        for fd in fds:
            os.close(fd)
        return out  # type: ignore[return-value]

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        """Call ``method``; returns its result (events that arrive meanwhile are kept in ``events``)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        """The first event named ``method`` (already received or still to come)."""
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise AssertionError(f"no {method} within {timeout} s")

    def open(self, url: str, offline: bool = False) -> None:
        """A new tab on ``url`` with the network and the page's logs watched; returns once loaded.

        ``offline`` also tells the page the network is down (``navigator.onLine`` false, requests fail).
        """
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Network", "Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        if offline:
            conditions = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
            self.send("Network.emulateNetworkConditions", conditions)
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"][
            "value"
        ]

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """A PNG of the page, or of ``clip`` (x, y, width, height in CSS pixels)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def requests(self) -> list[str]:
        """Every URL the page asked for."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def problems(self) -> list[str]:
        """Script exceptions and error-level log entries (a CSP violation is one)."""
        out = []
        for e in self.events:
            if e.get("method") == "Runtime.exceptionThrown":
                details = e["params"]["exceptionDetails"]
                thrown = details.get("exception", {}).get("description", "")
                out.append(f"{details.get('text', 'exception')} {thrown}".strip())
            elif e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                out.append(e["params"]["entry"]["text"])
        return out

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):  # Chromium may close the pipe first
            self.send("Browser.close", session=False)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._profile.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filt == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(b for j, b in enumerate(line) if j % 4 != 3))
    return width, height, rows


def count_color(rows: list[bytes], rgb: str, tolerance: int = 12) -> int:
    """Pixels within ``tolerance`` of ``#rrggbb`` on every channel."""
    r, g, b = (int(rgb[i : i + 2], 16) for i in (1, 3, 5))
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if (
                abs(row[i] - r) <= tolerance
                and abs(row[i + 1] - g) <= tolerance
                and abs(row[i + 2] - b) <= tolerance
            ):
                n += 1
    return n
