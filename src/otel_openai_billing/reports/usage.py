"""Usage by any of day, model, project, customer, feature, tier and batch.

``aggregate`` folds billing records into one row per group. The ClickHouse source computes the same
rows in SQL (``ledger.clickhouse.usage_rows``); both return :class:`UsageRow`, so everything after
(rendering, reconciliation) does not care which ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Grouping dimension -> how a record gives it. "model" is what the API reported (the dated snapshot,
# as OpenAI's Usage API reports it), else what was asked for.
DIMENSIONS: dict[str, str] = {
    "day": "UTC day of the call's start",
    "model": "response model, else request model",
    "project": "OpenAI project",
    "customer": "attribution customer_id",
    "feature": "attribution feature",
    "tier": "service tier",
    "batch": "Batch API (true/false)",
    "operation": "gen_ai.operation.name",
}

COLUMNS = (
    "requests",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "unpriced",
    "estimated",
    "failed",
    "retries",
)


def dimension_value(record: Mapping[str, Any], dim: str) -> Any:
    """A record's value of a grouping dimension (None when it has none)."""
    if dim == "day":
        return record["time"][:10]
    if dim == "model":
        return record.get("response_model") or record.get("request_model")
    if dim == "project":
        return record.get("project")
    if dim == "customer":
        return record.get("customer_id")
    if dim == "tier":
        return record.get("service_tier")
    if dim == "batch":
        return bool(record.get("batch"))
    return record.get(dim)


def is_billed(record: Mapping[str, Any]) -> bool:
    """The API accepted the call (2xx), so OpenAI counts it; failed calls are not billed."""
    status = record.get("http_status")
    if isinstance(status, int):
        return 200 <= status < 300
    return record.get("cost_status") is not None  # a unit settled without an HTTP call (Batch)


@dataclass(slots=True)
class UsageRow:
    """Totals of one group. ``cost`` sums priced calls only; unpriced calls are counted, not zeroed."""

    key: tuple[Any, ...]
    requests: int = 0  # billed calls (2xx)
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0  # billed calls with no price: their cost is unknown, not 0
    estimated: int = 0  # billed calls whose usage or price is an estimate
    failed: int = 0  # calls that failed (4xx/5xx, connection errors): not billed by OpenAI
    retries: int = 0  # retried attempts over all calls
    batch_requests: int = 0  # of requests, Batch API ones
    near_midnight: int = 0  # of requests, started within 5 minutes of a UTC day boundary

    def add(self, record: Mapping[str, Any]) -> None:
        """Fold one billing record in."""
        self.retries += record.get("retry_count") or 0
        if not is_billed(record):
            self.failed += 1
            return
        count = record.get("requests") or 1  # a Batch settlement may stand for many requests
        self.requests += count
        self.input_tokens += record.get("input_tokens") or 0
        self.cached_tokens += record.get("cache_read_tokens") or 0
        self.output_tokens += record.get("output_tokens") or 0
        self.reasoning_tokens += record.get("reasoning_tokens") or 0
        if record.get("batch"):
            self.batch_requests += count
        clock = record["time"][11:16]
        if clock >= "23:55" or clock < "00:05":
            self.near_midnight += count
        status = record.get("cost_status")
        if record.get("cost") is not None:
            self.cost += Decimal(record["cost"])
        elif status in ("unpriced", "inconsistent"):
            self.unpriced += count
        if status == "estimated" or record.get("usage_estimated"):
            self.estimated += count

    def as_dict(self, dims: Sequence[str]) -> dict[str, Any]:
        """The row as a flat dict: the dimensions, then the columns (cost as a Decimal)."""
        out: dict[str, Any] = dict(zip(dims, self.key, strict=True))
        for column in COLUMNS:
            out[column] = getattr(self, column)
        return out


def aggregate(records: Iterable[Mapping[str, Any]], by: Sequence[str]) -> list[UsageRow]:
    """One row per distinct value of ``by`` over ``records``, sorted by key.

    A record seen twice (the same ``record_id``, e.g. a ledger file copied next to itself) counts
    once.
    """
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}; expected one of {', '.join(DIMENSIONS)}")
    rows: dict[tuple[Any, ...], UsageRow] = {}
    seen: set[str] = set()
    for record in records:
        rid = record.get("record_id")
        if rid is not None:
            if rid in seen:
                continue
            seen.add(rid)
        key = tuple(dimension_value(record, dim) for dim in by)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UsageRow(key)
        row.add(record)
    return [rows[k] for k in sorted(rows, key=_sort_key)]


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    # None sorts first and apart from strings; bools and strings never meet in one position.
    return tuple((v is not None, str(v)) for v in key)


def total(rows: Iterable[UsageRow]) -> UsageRow:
    """The sum of rows (key ``()``)."""
    out = UsageRow(())
    for row in rows:
        for name in (*COLUMNS, "batch_requests", "near_midnight"):
            setattr(out, name, getattr(out, name) + getattr(row, name))
    return out
