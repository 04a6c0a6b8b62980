"""Rows (dicts) -> an aligned terminal table, CSV or JSON.

Money stays exact in CSV and JSON (decimal strings); only the terminal table rounds, for reading.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

Kind = Literal["text", "int", "usd", "pct", "share", "num", "list"]


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: the row key, its heading, and how a person reads its value."""

    key: str
    title: str
    kind: Kind = "text"


def exact(value: Any) -> Any:
    """A value for CSV/JSON: Decimals as plain decimal strings (no exponent, no lost digit)."""
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return "0" if text == "-0" else text
    if isinstance(value, Mapping):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exact(v) for v in value]
    return value


def _round(value: Decimal, places: int) -> str:
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{q:,f}"


def usd(value: Decimal | None) -> str:
    """Dollars for a person: cents from $10 up, more digits below so small costs do not read as $0."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 10 or magnitude == 0:
        places = 2
    elif magnitude >= Decimal("0.01"):
        places = 4
    else:
        places = 6
    text = _round(magnitude, places)
    return f"-${text}" if value < 0 else f"${text}"


def display(value: Any, kind: Kind) -> str:
    """One cell as the terminal table shows it."""
    if value is None:
        return "-"
    if kind == "usd":
        return usd(value)
    if kind == "pct":
        return f"{_round(Decimal(value), 1)}%"
    if kind == "share":
        return f"{_round(Decimal(value) * 100, 1)}%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num":
        return _round(Decimal(value), 2)
    if kind == "list":
        return ", ".join(str(v) for v in value) if value else ""
    return str(value)


def text_table(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> str:
    """An aligned table: numbers right-aligned, text left-aligned."""
    cells = [[display(row.get(c.key), c.kind) for c in columns] for row in rows]
    widths = [max([len(c.title), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, (value, column) in enumerate(zip(values, columns, strict=True)):
            left = column.kind in ("text", "list")
            parts.append(value.ljust(widths[i]) if left else value.rjust(widths[i]))
        return "  ".join(parts).rstrip()

    out = [line([c.title for c in columns]), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out) + "\n"


def csv_text(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header of column keys; exact values, lists joined with ';'."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        values = []
        for c in columns:
            value = exact(row.get(c.key))
            if isinstance(value, list):
                value = ";".join(str(v) for v in value)
            values.append("" if value is None else value)
        writer.writerow(values)
    return buf.getvalue()


def json_text(payload: Any) -> str:
    """JSON with Decimals as strings, so no digit of money is lost."""
    return json.dumps(exact(payload), indent=2, default=str) + "\n"
