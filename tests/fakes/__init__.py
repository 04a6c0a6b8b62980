"""Local stand-ins for the two services the instrumentation talks to, for tests.

- `tests.fakes.openai_server.FakeOpenAI`: an OpenAI-compatible HTTP API.
- `tests.fakes.otlp_receiver.OTLPReceiver`: an OTLP/HTTP (protobuf) collector.

Both are real HTTP servers (werkzeug) on 127.0.0.1, so tests drive the real `openai` SDK and the
real OTLP exporters over real sockets. This module holds the lifecycle they share.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietRequestHandler(WSGIRequestHandler):
    # Chunked transfer encoding needs HTTP/1.1; without it a dropped stream would look exactly
    # like a finished one to the client.
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One access line per SDK call would bury pytest's output; server errors still log.
        pass


class BackgroundServer:
    """A WSGI app served by werkzeug on 127.0.0.1 (ephemeral port) in a daemon thread."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The application to serve; subclasses implement it."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The bound port; only valid while started."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.port

    def start(self) -> Self:
        """Bind and serve in the background; returns self."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi_app, threaded=True, request_handler=_QuietRequestHandler
        )
        # A short poll interval keeps stop() fast; shutdown() waits for the serve loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        thread.join(timeout=5)
        # werkzeug's serve_forever closes the socket on exit; this covers a loop that never ran.
        server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
