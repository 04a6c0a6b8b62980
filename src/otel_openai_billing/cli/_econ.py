"""Options and plumbing shared by the unit-economics commands (customers, forecast, report, export)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ..reports.customers import InputFileError


class UserError(Exception):
    """A problem with the command's input: printed as ``error: ...``, exit status 2."""


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` (as the end of a range: the end of that day) or an ISO 8601 time, in UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_source_option(parser: argparse.ArgumentParser) -> None:
    """--from: where the billing records are."""
    parser.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        default=os.environ.get("OTEL_OPENAI_BILLING_LEDGER") or None,
        help="a ledger directory or file (default: $OTEL_OPENAI_BILLING_LEDGER)",
    )


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


def add_output_options(
    parser: argparse.ArgumentParser, formats: tuple[str, ...] = ("table", "csv", "json")
) -> None:
    """--format, --out, --progress."""
    parser.add_argument("--format", choices=formats, default=formats[0], help=f"{', '.join(formats)}")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on a terminal anyway)",
    )


class Progress:
    """A one-line count on stderr while records are read: on a terminal, or when forced."""

    def __init__(self, what: str, force: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._on = force or self._stream.isatty()
        self._what = what
        self.count = 0
        self._last = 0.0

    def step(self) -> None:
        self.count += 1
        now = time.monotonic()
        if self._on and now - self._last > 0.1:
            self._last = now
            self._stream.write(f"\r{self._what}: {self.count:,}")
            self._stream.flush()

    def done(self) -> None:
        if self._on:
            self._stream.write(f"\r{self._what}: {self.count:,} done\n")
            self._stream.flush()


def records(
    args: argparse.Namespace, since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The billing records of ``--from`` in the range, counted on stderr as they are read."""
    if args.source is None:
        raise UserError("no source of records: pass --from LEDGER or set OTEL_OPENAI_BILLING_LEDGER")
    from ..ledger.readers import read_records

    progress = Progress("reading billing records", args.progress)

    def problem(message: str) -> None:
        print(f"\nwarning: {message}", file=sys.stderr)

    try:
        for record in read_records(args.source, since, until, on_problem=problem):
            progress.step()
            yield record
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    progress.done()


def read_text(path: str, what: str) -> str:
    """A small input file (revenue, mapping) as text, or a clear error."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {what} file {path}: {exc}") from None


def emit(text: str, out: str | None) -> None:
    """Write the rendered output to --out or stdout."""
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command, turning bad input into one ``error:`` line and exit status 2."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (UserError, InputFileError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper
