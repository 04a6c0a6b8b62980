"""Options and plumbing shared by the unit-economics commands (customers, forecast, report, export)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..reports.customers import InputFileError

# The options and helpers every records command shares, so they read the same everywhere.
from ._render import Progress, add_output_options, add_range_options, emit, parse_moment
from .usage import add_source_option

__all__ = [
    "Progress",
    "UserError",
    "add_output_options",
    "add_range_options",
    "add_source_option",
    "emit",
    "guarded",
    "parse_moment",
    "read_text",
    "records",
]


class UserError(Exception):
    """A problem with the command's input: printed as ``error: ...``, exit status 2."""


def records(
    args: argparse.Namespace, since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The billing records of ``--from`` in the range, counted on stderr as they are read."""
    if args.source is None:
        raise UserError("no source of records: pass --from or set OTEL_OPENAI_BILLING_LEDGER")
    from ..ledger.readers import read_records

    progress = Progress("reading billing records", force=args.progress)

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


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command, turning bad input into one ``error:`` line and exit status 2."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (UserError, InputFileError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper
