"""A ``Pricer`` built on a thread of its own, so ``instrument()`` does not wait for the price data.

Building a ``Pricer`` imports genai-prices and its bundled database and parses the price files: tens
of milliseconds that would otherwise be added to every app's start-up. ``BackgroundPricer`` starts
that work and returns at once; a call priced before it is done waits for it (never a silent $0, never
"unknown" because the data was late). Once built, ``price`` is the real pricer's own bound method, so
the hot path pays no extra call for the indirection.

A fork (a pre-forking server loading the app first) waits for a build in progress, so a child never
inherits a module half imported by a thread it does not have; the child then has the built pricer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .types import Cost, PriceQuery

if TYPE_CHECKING:
    from ..usage import Usage
    from .engine import Pricer

logger = logging.getLogger("otel_openai_billing")

# How long a fork waits for builds in progress; a child forked past it builds its own pricer.
FORK_WAIT_S = 10.0
# The build threads at work. No lock guards it (adding, discarding and copying a set are atomic under
# the GIL): a lock held by another thread at a fork would stay held in the child for good.
_building: set[threading.Thread] = set()


def _finish_builds_before_fork() -> None:
    for thread in list(_building):
        if thread is not threading.current_thread():
            thread.join(FORK_WAIT_S)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_finish_builds_before_fork)


class BackgroundPricer:
    """Builds a ``Pricer`` with ``build`` on a daemon thread (from ``start()``); acts as that pricer
    once it is built.

    ``on_built`` runs on the thread with the new pricer before any call is priced with it (the place
    to report its problems). If ``build`` raises, the error is logged and every call is unpriced with
    the reason.
    """

    _pricer: Pricer | None = None
    _failure: str | None = None

    def __init__(self, build: Callable[[], Pricer], on_built: Callable[[Pricer], None]) -> None:
        self._build = build
        self._on_built = on_built
        # Taken only by a build that replaces the thread's (see wait), never by the thread itself.
        self._fallback = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="otel-openai-billing-prices", daemon=True)

    def start(self) -> None:
        """Start building (once). A call priced before this starts it itself."""
        if self._thread.ident is not None:
            return
        _building.add(self._thread)
        # Another caller started it in the meantime, or no thread can be started (wait() then builds).
        with contextlib.suppress(RuntimeError):
            self._thread.start()

    def _run(self) -> None:
        try:
            pricer = self._build()
            self._on_built(pricer)
        except Exception as exc:  # never leave callers waiting on a pricer that will not come
            logger.exception("otel-openai-billing: the price data did not load; calls will be unpriced")
            self._failure = f"price data did not load ({type(exc).__name__}: {exc})"
            return
        finally:
            _building.discard(self._thread)
        self._pricer = pricer
        # Later lookups of .price find the pricer's own method on the instance: no extra frame per call.
        self.price = pricer.price  # type: ignore[method-assign]

    def wait(self) -> Pricer | None:
        """The built pricer, waiting for the thread if it is still at work; None if building failed."""
        self.start()
        thread = self._thread
        if thread.ident is not None and thread is not threading.current_thread():
            thread.join()
        if self._pricer is None and self._failure is None:
            # No result from the thread: it could not be started, or the process forked while it ran
            # (past FORK_WAIT_S) and threads do not survive a fork. Build it here, once.
            with self._fallback:
                if self._pricer is None and self._failure is None:
                    self._run()
        return self._pricer

    def price(self, usage: Usage | None, query: PriceQuery, checked: bool = False) -> Cost:
        """The cost of one call, waiting for the pricer if a call comes before it is built."""
        pricer = self.wait()
        if pricer is None:
            return Cost(status="unpriced", reason=self._failure, batch=query.batch)
        return pricer.price(usage, query, checked)

    def __getattr__(self, name: str) -> Any:
        # Everything else a Pricer has (explain, rate_card, errors, data, ...), once it is built.
        if name.startswith("__"):
            raise AttributeError(name)
        pricer = self.wait()
        if pricer is None:
            raise AttributeError(f"{name}: {self._failure}")
        return getattr(pricer, name)
