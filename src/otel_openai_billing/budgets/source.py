"""Where budgets come from: code (``instrument(budgets=...)``), an environment variable, a file.

The file is re-read when it changes (checked at most once a second, on the calls that need budgets),
so edits apply without a restart; a file that fails to parse is reported with its path and entry,
and the last good budgets stay in force.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from .policy import Budget, BudgetConfigError, parse_budgets

logger = logging.getLogger("otel_openai_billing")

CHECK_INTERVAL_S = 1.0


def parse_json_text(text: str, source: str) -> tuple[Budget, ...]:
    """Budgets from JSON text (a list, or an object with a ``budgets`` list)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BudgetConfigError(f"{source}: not valid JSON: {exc}") from None
    return parse_budgets(data, source)


def load_file(path: str | Path) -> tuple[Budget, ...]:
    """Budgets from a JSON file; errors name the file and the entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BudgetConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_json_text(text, str(path))


class BudgetSource:
    """The budgets in force: fixed ones (code or environment) plus a file's, reloaded when it changes."""

    def __init__(self, fixed: tuple[Budget, ...], path: str | None, clock: Any = time.monotonic) -> None:
        self._fixed = fixed
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._budgets = fixed
        if path is not None:
            # At start a bad file is an error the caller sees; later a bad edit keeps the last good.
            self._stamp = self._stat()
            self._budgets = self._combine(load_file(path))
            self._next_check = clock() + CHECK_INTERVAL_S

    @property
    def path(self) -> str | None:
        return self._path

    def current(self) -> tuple[Budget, ...]:
        """The budgets in force now."""
        if self._path is not None and self._clock() >= self._next_check:
            self._maybe_reload()
        return self._budgets

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._path)  # type: ignore[arg-type]
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _combine(self, from_file: tuple[Budget, ...]) -> tuple[Budget, ...]:
        names = {b.name for b in self._fixed}
        for b in from_file:
            if b.name in names:
                raise BudgetConfigError(
                    f"{self._path}: budget {b.name!r} is also defined in code or the environment"
                )
        return self._fixed + from_file

    def _maybe_reload(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; this call uses the budgets in force
        try:
            self._next_check = self._clock() + CHECK_INTERVAL_S
            stamp = self._stat()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                budgets = self._combine(load_file(self._path))  # type: ignore[arg-type]
            except BudgetConfigError as exc:
                logger.error("otel-openai-billing: budgets not reloaded, the last good ones stay: %s", exc)
                return
            self._budgets = budgets
            logger.info(
                "otel-openai-billing: budgets reloaded from %s (%d from the file)", self._path, len(budgets)
            )
        finally:
            self._lock.release()
