"""Unit economics: AI cost per customer and feature, set against revenue. Pure: records in, rows out.

Records are billing-record dicts (ledger/schema.py); revenue is parsed from CSV text by
``parse_revenue`` (the caller reads the file). Money is Decimal throughout.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from .usage import UsageRow, aggregate

# --by -> (usage dimensions, the row keys they become)
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "customer": (("customer",), ("customer_id",)),
    "feature": (("feature",), ("feature",)),
    "customer-feature": (("customer", "feature"), ("customer_id", "feature")),
}
PERIODS = ("month", "all")
ALL_PERIODS = "all"
REVENUE_COLUMNS = ("customer", "period", "revenue")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])\Z")
_HUNDRED = Decimal(100)

# Flags, worst first; the table shows them as written here.
FLAG_LOSS = "loss"
FLAG_LOW_MARGIN = "below min margin"
FLAG_NO_REVENUE = "no revenue"
FLAG_UNPRICED = "unpriced calls"


class InputFileError(ValueError):
    """A malformed input file, located to the file, line and column a person opens it at."""

    def __init__(self, source: str, line: int, column: int | None, message: str) -> None:
        where = f"{source}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")
        self.source, self.line, self.column = source, line, column


def parse_decimal(text: str) -> Decimal | None:
    """A plain decimal number (``1234.50``, ``-3``), or None if it is not one."""
    if not re.fullmatch(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*", text):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def parse_revenue(text: str, source: str) -> dict[tuple[str, str], Decimal]:
    """Revenue CSV -> {(customer, "YYYY-MM"): USD}. Columns found by name; extra columns ignored.

    Raises ``InputFileError`` naming the line and column of the first problem.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise InputFileError(source, 1, None, "empty file; expected a header: customer,period,revenue")
    names = [h.strip().lower() for h in header]
    missing = [c for c in REVENUE_COLUMNS if c not in names]
    if missing:
        raise InputFileError(
            source,
            1,
            None,
            f"missing column {', '.join(repr(m) for m in missing)} in the header "
            f"(found {', '.join(repr(h) for h in header)}); expected customer,period,revenue",
        )
    col = {c: names.index(c) for c in REVENUE_COLUMNS}
    currency_col = names.index("currency") if "currency" in names else None
    revenue: dict[tuple[str, str], Decimal] = {}
    first_seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise InputFileError(
                source, line, len(row) + 1, f"expected {len(header)} fields, found {len(row)}"
            )
        if len(row) > len(header):
            # "1,234" unquoted splits a number in two: refuse rather than read 1.
            raise InputFileError(
                source,
                line,
                len(header) + 1,
                f"expected {len(header)} fields, found {len(row)} (a comma inside a value? quote it)",
            )
        customer = row[col["customer"]].strip()
        if not customer:
            raise InputFileError(source, line, col["customer"] + 1, "customer is empty")
        period = row[col["period"]].strip()
        if not _MONTH.match(period):
            raise InputFileError(
                source, line, col["period"] + 1, f"period {period!r} is not a calendar month (YYYY-MM)"
            )
        amount = parse_decimal(row[col["revenue"]])
        if amount is None:
            raise InputFileError(
                source,
                line,
                col["revenue"] + 1,
                f"revenue {row[col['revenue']]!r} is not a number (write 99.00: no currency sign or "
                "thousands separator)",
            )
        if currency_col is not None and row[currency_col].strip().upper() not in ("", "USD"):
            raise InputFileError(
                source, line, currency_col + 1, f"currency {row[currency_col]!r}: only USD is supported"
            )
        key = (customer, period)
        if key in first_seen:
            raise InputFileError(
                source,
                line,
                col["customer"] + 1,
                f"{customer!r} in {period} appears twice (first on line {first_seen[key]})",
            )
        first_seen[key] = line
        revenue[key] = amount
    return revenue


@dataclass(slots=True)
class _Totals:
    calls: int = 0
    failed: int = 0
    unpriced: int = 0
    estimated: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)

    def add(self, row: UsageRow) -> None:
        # Billed requests and failed calls (which OpenAI does not bill) are both calls made.
        self.calls += row.requests + row.failed
        self.failed += row.failed
        self.unpriced += row.unpriced
        self.estimated += row.estimated
        self.input_tokens += row.input_tokens
        self.cached_tokens += row.cached_tokens
        self.output_tokens += row.output_tokens
        self.cost += row.cost


def unique(records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Each billed unit once: a record seen again (same ``record_id``, e.g. a ledger file copied next
    to itself, or the ledger and the Collector's copy read together) is skipped, as ``usage`` does."""
    seen: set[str] = set()
    for record in records:
        rid = record.get("record_id")
        if rid is not None:
            if rid in seen:
                continue
            seen.add(rid)
        yield record


def _places(value: Decimal, places: int) -> Decimal:
    # Ratios and averages do not terminate (0.01 / 3); a fixed number of places keeps files readable.
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def dimensions(by: str) -> list[str]:
    """The usage dimensions (``reports.usage``) the report for ``by`` is built from: the UTC day first."""
    return ["day", *GROUPS[by][0]]


def customer_report(
    records: Iterable[Mapping[str, Any]], *, by: str = "customer", **options: Any
) -> list[dict[str, Any]]:
    """``customer_report_from_usage`` over billing records (a record read twice counts once)."""
    return customer_report_from_usage(aggregate(records, dimensions(by)), by=by, **options)


def customer_report_from_usage(
    rows: Iterable[UsageRow],
    *,
    by: str = "customer",
    period: str = "month",
    revenue: Mapping[tuple[str, str], Decimal] | None = None,
    months: Iterable[str] | None = None,
    min_margin: Decimal = Decimal(0),
) -> list[dict[str, Any]]:
    """Calls, tokens and cost per customer, feature or both, per period; with revenue, the margin.

    ``rows`` are usage rows by ``dimensions(by)``, aggregated in Python (``reports.usage.aggregate``)
    or by ClickHouse (``ledger.clickhouse.usage_rows``).

    ``months`` are the calendar months the report covers (for revenue of customers with no calls,
    and for ``period="all"``); by default the months that have calls. Revenue is per customer, so
    margins appear only when grouping by customer. Rows come sorted per period: with revenue,
    lowest margin % first (losses on top), then customers with cost but no revenue, by cost;
    without revenue, by cost, highest first.
    """
    keys = GROUPS[by][1]
    totals: dict[tuple[str, tuple[Any, ...]], _Totals] = {}
    seen_months: set[str] = set()
    for row in rows:
        day, *values = row.key
        month = day[:7]
        seen_months.add(month)
        group = (month if period == "month" else ALL_PERIODS, tuple(values))
        acc = totals.get(group)
        if acc is None:
            acc = totals[group] = _Totals()
        acc.add(row)

    covered = set(months) if months is not None else seen_months
    with_revenue = revenue is not None and by == "customer"
    if with_revenue:
        assert revenue is not None
        # A paying customer with no calls is a row too: all margin, and worth seeing.
        for customer, month in revenue:
            if month in covered:
                group = (month if period == "month" else ALL_PERIODS, (customer,))
                totals.setdefault(group, _Totals())

    period_cost: dict[str, Decimal] = {}
    for (p, _), acc in totals.items():
        period_cost[p] = period_cost.get(p, Decimal(0)) + acc.cost

    rows = []
    for (p, values), acc in totals.items():
        row: dict[str, Any] = {"period": p}
        row.update(zip(keys, values, strict=True))
        row.update(
            calls=acc.calls,
            failed_calls=acc.failed,
            unpriced_calls=acc.unpriced,
            estimated_calls=acc.estimated,
            input_tokens=acc.input_tokens,
            cached_tokens=acc.cached_tokens,
            output_tokens=acc.output_tokens,
            tokens=acc.input_tokens + acc.output_tokens,
            cost=acc.cost,
            cost_per_call=_places(acc.cost / acc.calls, 12) if acc.calls else None,
            share=_places(acc.cost / period_cost[p], 6) if period_cost[p] else None,
        )
        flags = []
        if with_revenue:
            assert revenue is not None
            customer = values[0]
            row_months = [p] if period == "month" else sorted(covered)
            amounts = [revenue[(customer, m)] for m in row_months if (customer, m) in revenue]
            rev = sum(amounts, Decimal(0)) if amounts else None
            margin = rev - acc.cost if rev is not None else None
            pct = _places(margin / rev * _HUNDRED, 4) if margin is not None and rev else None
            row.update(revenue=rev, margin=margin, margin_pct=pct)
            if margin is not None and margin < 0:
                flags.append(FLAG_LOSS)
            elif margin is not None and (pct is None or pct < min_margin):
                flags.append(FLAG_LOW_MARGIN)
            if rev is None and acc.cost:
                flags.append(FLAG_NO_REVENUE)
        if acc.unpriced:
            flags.append(FLAG_UNPRICED)
        row["flags"] = flags
        rows.append(row)

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        if with_revenue and row["revenue"] is not None:
            pct = row["margin_pct"]
            # Revenue of 0 with any cost is the worst margin there is.
            rank = pct if pct is not None else (Decimal("-Infinity") if row["cost"] else Decimal(0))
            return (row["period"], 0, rank, -row["cost"])
        return (row["period"], 1, -row["cost"], str(row.get(keys[0])))

    rows.sort(key=order)
    return rows


def summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over rows: calls, cost, and revenue and margin where the rows have them."""
    calls, cost, revenue, flagged = 0, Decimal(0), None, 0
    for row in rows:
        calls += row["calls"]
        cost += row["cost"]
        if row.get("revenue") is not None:
            revenue = (revenue or Decimal(0)) + row["revenue"]
        flagged += bool({FLAG_LOSS, FLAG_LOW_MARGIN} & set(row["flags"]))
    out: dict[str, Any] = {"calls": calls, "cost": cost, "flagged": flagged}
    if revenue is not None:
        out.update(revenue=revenue, margin=revenue - cost)
    return out


def cost_by_day(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str | None, Decimal]]:
    """Priced cost per UTC day and model: {day: {model: USD}}."""
    out: dict[str, dict[str | None, Decimal]] = {}
    for row in aggregate(records, ["day", "model"]):
        day, model = row.key
        if row.cost:
            out.setdefault(day, {})[model] = row.cost
    return out
