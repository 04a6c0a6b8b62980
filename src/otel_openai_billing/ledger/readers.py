"""Readers: billing records (``ledger.schema`` dicts) from any source, so reports never care where
they came from.

- a ledger file or directory (JSON Lines written by ``ledger.writer``);
- an OpenTelemetry Collector file exporter's OTLP JSON (see ``ledger.otlp_json``), told apart from a
  ledger by its first line;
- ``clickhouse://...``: the Collector's ClickHouse exporter table (see ``ledger.clickhouse``; reports
  push their aggregation into SQL there instead of reading records).

A line that is not a whole record (the torn last line of a killed process, a corrupt line) is skipped
and reported through ``on_problem`` (default: a warning on the ``otel_openai_billing`` logger).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .schema import problem
from .writer import FILE_PREFIX, FILE_SUFFIX

logger = logging.getLogger("otel_openai_billing")

Problem = Callable[[str], None]


def _warn(message: str) -> None:
    logger.warning("otel-openai-billing: %s", message)


def iso_z(moment: datetime) -> str:
    """A datetime as the records spell ``time`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_records(
    source: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    on_problem: Problem | None = None,
) -> Iterator[dict[str, Any]]:
    """Billing records from ``source`` with ``since <= time < until`` (UTC), file order.

    ``source`` is a ledger file or directory, a Collector OTLP JSON file (or a directory of them), or
    ``clickhouse://...``.
    """
    report = on_problem or _warn
    low = iso_z(since) if since is not None else None
    high = iso_z(until) if until is not None else None
    if source.startswith("clickhouse://"):
        from .clickhouse import read_records as from_clickhouse

        yield from from_clickhouse(source, since, until)
        return
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {source!r}")
    for file in _files(path, low, high):
        for record in _read_file(file, report):
            when = record["time"]
            if (low is None or when >= low) and (high is None or when < high):
                yield record


def _files(path: Path, low: str | None, high: str | None) -> Iterable[Path]:
    if path.is_file():
        return [path]
    files = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json")):
        day = _file_day(file)
        # A ledger file holds the calls of one UTC day: skip days outside the range unread.
        if day is not None and (
            (low is not None and day < low[:10]) or (high is not None and day > high[:10])
        ):
            continue
        files.append(file)
    return files


def _file_day(file: Path) -> str | None:
    name = file.name
    if name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX):
        return name[len(FILE_PREFIX) : len(FILE_PREFIX) + 10]
    return None


def _read_file(file: Path, report: Problem) -> Iterator[dict[str, Any]]:
    with open(file, "rb") as f:
        if f.read(64).lstrip(b"{ \t\r\n").startswith(b'"resourceSpans"'):
            from .otlp_json import records_from_file

            yield from records_from_file(file, report)
            return
        f.seek(0)
        for number, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                report(f"{file}: line {number} is torn (no newline at its end: a killed writer); skipped")
                return
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                report(f"{file}: line {number} is not JSON; skipped")
                continue
            why = problem(record)
            if why is not None:
                report(f"{file}: line {number}: {why}; skipped")
                continue
            yield record
