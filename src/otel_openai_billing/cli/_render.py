"""Rendering report rows for a person (a table) or a program (CSV, JSON), and progress on stderr."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from ._common import money


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(_numeric(row.get(c)) for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = zip(values, widths, numeric, strict=True)
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in parts).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)]
    lines.extend(line(r) for r in cells)
    return "\n".join(lines) + "\n"


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float | Decimal) and not isinstance(value, bool))


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header row; money as exact decimal strings."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def to_json(payload: Any) -> str:
    """JSON; Decimals as strings so no digit is lost."""
    return (
        json.dumps(payload, indent=2, default=lambda v: money(v) if isinstance(v, Decimal) else str(v)) + "\n"
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--format, --out, --progress."""
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv or json",
    )
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on a terminal anyway)",
    )


def emit(text: str, out: str | None) -> None:
    """Write the rendered report to --out or stdout."""
    if out:
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` (as the end of a range: the end of that day) or an ISO datetime, in UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_range_options(parser: argparse.ArgumentParser) -> None:
    """--since / --until."""
    parser.add_argument(
        "--since", type=parse_moment, metavar="DAY", help="from this UTC day (YYYY-MM-DD) or time, inclusive"
    )
    parser.add_argument(
        "--until",
        type=lambda t: parse_moment(t, end=True),
        metavar="DAY",
        help="up to this UTC day, inclusive (YYYY-MM-DD), or before this time (ISO 8601)",
    )


class Progress:
    """A one-line progress indicator on stderr, shown on a terminal (or when forced)."""

    def __init__(self, what: str, force: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._on = force or self._stream.isatty()
        self._what = what
        self._count = 0
        self._last = 0.0

    def step(self, count: int = 1, note: str = "") -> None:
        """Count ``count`` more items; redraws at most ten times a second."""
        self._count += count
        now = time.monotonic()
        if self._on and (now - self._last > 0.1 or note):
            self._last = now
            self._stream.write(f"\r{self._what}: {self._count:,}{' ' + note if note else ''}")
            self._stream.flush()

    def done(self) -> None:
        """End the line."""
        if self._on:
            self._stream.write(f"\r{self._what}: {self._count:,} done{' ' * 20}\n")
            self._stream.flush()


def default_source() -> str | None:
    """The ledger of this environment, if OTEL_OPENAI_BILLING_LEDGER names one."""
    return os.environ.get("OTEL_OPENAI_BILLING_LEDGER") or None
