"""CSV files exported from OpenAI's usage dashboard (Export: "Cost" or "Activity").

OpenAI publishes no column list, so columns are found by name in the header, never by position:
an activity export has ``num_model_requests`` and the Usage API's result fields (``model``,
``input_tokens``, ``input_cached_tokens``, ``output_tokens``, ``project_id``, ``batch``,
``service_tier``, ...); a cost export has ``amount_value`` with ``line_item`` and ``project_id``.
Each row's day is ``start_time`` (Unix seconds) or ``start_time_iso``, in UTC. Numbers may be written
as floats (``59200.0``) and booleans as ``TRUE``/``FALSE``; rows with no quantity (empty buckets) are
skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .types import CostRow, UsageRow


class CSVFormatError(ValueError):
    """A file that is not a dashboard usage or cost export."""


def read(paths: Iterable[str | Path]) -> tuple[list[UsageRow], list[CostRow]]:
    """Usage and cost rows from activity and cost exports (each file is recognised by its header)."""
    usage: list[UsageRow] = []
    costs: list[CostRow] = []
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = {h.strip() for h in reader.fieldnames or ()}
            if "amount_value" in header:
                costs.extend(_costs(path, reader))
            elif "num_model_requests" in header:
                usage.extend(_usage(path, reader))
            else:
                raise CSVFormatError(
                    f"{path}: not an OpenAI usage export (no amount_value or num_model_requests column; "
                    f"columns are {sorted(header)})"
                )
    return usage, costs


def _day(path: str | Path, number: int, row: dict[str, str]) -> str | None:
    raw = (row.get("start_time") or "").strip()
    if raw:
        try:
            return datetime.fromtimestamp(int(float(raw)), UTC).strftime("%Y-%m-%d")
        except ValueError:
            pass
    iso = (row.get("start_time_iso") or raw).strip()
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        raise CSVFormatError(f"{path}: line {number}: unreadable start time {iso!r}") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _number(path: str | Path, number: int, row: dict[str, str], column: str) -> Decimal:
    text = (row.get(column) or "").strip()
    if not text:
        return Decimal(0)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CSVFormatError(f"{path}: line {number}: {column} is not a number: {text!r}") from None


def _text(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _usage(path: str | Path, reader: csv.DictReader) -> list[UsageRow]:
    rows = []
    for number, row in enumerate(reader, 2):
        requests = _number(path, number, row, "num_model_requests")
        day = _day(path, number, row)
        if day is None or (not requests and not _number(path, number, row, "input_tokens")):
            continue  # an empty bucket
        batch = _text(row, "batch")
        rows.append(
            UsageRow(
                day=day,
                endpoint="csv",
                model=_text(row, "model"),
                project=_text(row, "project_id"),
                batch=None if batch is None else batch.lower() == "true",
                tier=_text(row, "service_tier"),
                requests=int(requests),
                input_tokens=int(_number(path, number, row, "input_tokens")),
                cached_tokens=int(_number(path, number, row, "input_cached_tokens")),
                output_tokens=int(_number(path, number, row, "output_tokens")),
            )
        )
    return rows


def _costs(path: str | Path, reader: csv.DictReader) -> list[CostRow]:
    rows = []
    for number, row in enumerate(reader, 2):
        day = _day(path, number, row)
        if day is None or not (row.get("amount_value") or "").strip():
            continue
        rows.append(
            CostRow(
                day=day,
                line_item=_text(row, "line_item"),
                amount=_number(path, number, row, "amount_value"),
                currency=_text(row, "amount_currency") or "usd",
                project=_text(row, "project_id"),
            )
        )
    return rows
