"""Billing data in the Collector's ClickHouse exporter table (``otel_traces``), read with
clickhouse-connect (``pip install 'otel-openai-billing[clickhouse]'``, imported only here).

``clickhouse://user:password@host:8123/database?table=otel_traces&secure=false`` (HTTP interface;
defaults: port 8123, or 8443 with ``secure=true``, database ``otel``, table ``otel_traces``).

The usage report runs in the engine: ``usage_sql`` builds one ``GROUP BY`` query over the span
attributes (stored as strings in the ``SpanAttributes`` map) and ClickHouse returns one row per group;
no span is pulled into Python. Costs are summed as ``Decimal128(18)`` from the attribute's shortest
decimal text, so the sum is exact, as the ledger's is. The SQL is plain ClickHouse SQL against the
exporter's DDL: tests run it unchanged in chdb (embedded ClickHouse).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .. import names as n
from ..reports.usage import DIMENSIONS, UsageRow
from .spans import record_from_span

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def attr(name: str) -> str:
    """The SQL for a span attribute's value (a string; '' when absent)."""
    return f"SpanAttributes['{name}']"


def _first(*names: str) -> str:
    first, *rest = names
    expr = attr(first)
    for other in rest:
        expr = f"if({expr} != '', {expr}, {attr(other)})"
    return expr


_DIMENSION_SQL = {
    "day": "toString(toDate(Timestamp, 'UTC'))",
    "model": _first(n.RESPONSE_MODEL, n.REQUEST_MODEL),
    "project": attr(n.OPENAI_PROJECT),
    "customer": attr(n.CUSTOMER_ID),
    "feature": attr(n.FEATURE),
    "tier": _first(n.OPENAI_RESPONSE_SERVICE_TIER, n.OPENAI_REQUEST_SERVICE_TIER),
    "batch": f"{attr(n.COST_BATCH)} = 'true'",
    "operation": attr(n.OPERATION_NAME),
}
_BILLED = f"toInt32OrZero({attr(n.HTTP_STATUS_CODE)}) BETWEEN 200 AND 299"
_STATUS = attr(n.COST_STATUS)


def _int_sum(attribute: str) -> str:
    return f"sumIf(toInt64OrZero({attr(attribute)}), billed)"


def _moment(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"toDateTime64('{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}', 9, 'UTC')"


def _where(table: str, since: datetime | None, until: datetime | None, provider: str | None) -> str:
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")
    conditions = [
        f"ScopeName = '{n.INSTRUMENTATION_SCOPE}'",
        f"{attr(n.ENDPOINT)} != ''",
        f"{attr(n.BILLABLE)} = 'true'",
    ]
    if since is not None:
        conditions.append(f"Timestamp >= {_moment(since)}")
    if until is not None:
        conditions.append(f"Timestamp < {_moment(until)}")
    if provider is not None:
        wanted = {"openai": n.PROVIDER_OPENAI, "azure": n.PROVIDER_AZURE}.get(provider, provider)
        if "'" in wanted:
            raise ValueError(f"not a provider: {provider!r}")
        conditions.append(f"{attr(n.PROVIDER_NAME)} = '{wanted}'")
    return f"FROM {table}\nWHERE " + "\n  AND ".join(conditions)


def usage_sql(
    by: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    table: str = "otel_traces",
    provider: str | None = None,
) -> str:
    """The usage report as one ClickHouse query: a row per group, the columns of ``UsageRow``."""
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}; expected one of {', '.join(DIMENSIONS)}")
    keys = [f"{_DIMENSION_SQL[d]} AS k_{d}" for d in by]
    clock = "formatDateTime(Timestamp, '%H:%i', 'UTC')"
    no_cost = f"{attr(n.COST_AMOUNT)} = ''"
    columns = [
        "countIf(billed) AS requests",
        f"{_int_sum(n.USAGE_INPUT_TOKENS)} AS input_tokens",
        f"{_int_sum(n.USAGE_CACHE_READ_INPUT_TOKENS)} AS cached_tokens",
        f"{_int_sum(n.USAGE_OUTPUT_TOKENS)} AS output_tokens",
        f"{_int_sum(n.USAGE_REASONING_OUTPUT_TOKENS)} AS reasoning_tokens",
        f"toString(sumIf(toDecimal128OrZero({attr(n.COST_AMOUNT)}, 18), billed)) AS cost",
        f"countIf(billed AND {no_cost} AND {_STATUS} IN ('unpriced', 'inconsistent')) AS unpriced",
        f"countIf(billed AND ({_STATUS} = 'estimated' OR {attr(n.USAGE_ESTIMATED)} = 'true')) AS estimated",
        "countIf(NOT billed) AS failed",
        f"sum(toInt64OrZero({attr(n.OPENAI_RETRY_COUNT)})) AS retries",
        f"countIf(billed AND {attr(n.COST_BATCH)} = 'true') AS batch_requests",
        f"countIf(billed AND ({clock} >= '23:55' OR {clock} < '00:05')) AS near_midnight",
    ]
    select = ",\n    ".join([*keys, *columns])
    group = ", ".join(f"k_{d}" for d in by)
    return f"WITH {_BILLED} AS billed\nSELECT\n    {select}\n{_where(table, since, until, provider)}\n" + (
        f"GROUP BY {group}\nORDER BY {group}\n" if by else ""
    )


def rows_from_result(
    by: Sequence[str], names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[UsageRow]:
    """``UsageRow``s from the query's result (column names and row tuples, as any client returns them)."""
    out = []
    for values in rows:
        row = dict(zip(names, values, strict=True))
        key = tuple(_key_value(d, row[f"k_{d}"]) for d in by)
        usage = UsageRow(key)
        for column in (
            "requests",
            "input_tokens",
            "cached_tokens",
            "output_tokens",
            "reasoning_tokens",
            "unpriced",
            "estimated",
            "failed",
            "retries",
            "batch_requests",
            "near_midnight",
        ):
            setattr(usage, column, int(row[column]))
        usage.cost = Decimal(str(row["cost"]))
        out.append(usage)
    return out


def _key_value(dim: str, value: Any) -> Any:
    if dim == "batch":
        return bool(int(value)) if not isinstance(value, bool) else value
    return value if value != "" else None


def records_sql(
    since: datetime | None = None, until: datetime | None = None, table: str = "otel_traces"
) -> str:
    """The billing spans themselves, for reports that need records rather than totals."""
    return (
        "SELECT TraceId, SpanId, toUnixTimestamp64Nano(Timestamp) AS start_ns, Duration, SpanAttributes\n"
        f"{_where(table, since, until, None)}\nORDER BY Timestamp\n"
    )


def record_from_row(
    trace_id: str, span_id: str, start_ns: int, duration_ns: int, attrs: dict[str, str]
) -> dict:
    """The billing record of one row of ``records_sql``."""
    return record_from_span(
        attrs,
        trace_id=trace_id or None,
        span_id=span_id or None,
        start_ns=int(start_ns),
        end_ns=int(start_ns) + int(duration_ns),
    )


# --- clickhouse-connect ----------------------------------------------------------------------------
def _connect(url: str) -> tuple[Any, str]:
    parsed = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    secure = query.get("secure", "false").lower() in ("1", "true", "yes")
    try:
        import clickhouse_connect
    except ImportError:
        raise ValueError(
            "reading ClickHouse needs clickhouse-connect: pip install 'otel-openai-billing[clickhouse]'"
        ) from None
    client = clickhouse_connect.get_client(
        host=parsed.hostname or "localhost",
        port=parsed.port or (8443 if secure else 8123),
        username=urllib.parse.unquote(parsed.username or "default"),
        password=urllib.parse.unquote(parsed.password or ""),
        database=parsed.path.strip("/") or "otel",
        secure=secure,
    )
    return client, query.get("table", "otel_traces")


def usage_rows(
    url: str,
    by: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    provider: str | None = None,
) -> list[UsageRow]:
    """The usage report, aggregated by the ClickHouse server."""
    client, table = _connect(url)
    result = client.query(usage_sql(by, since, until, table, provider))
    return rows_from_result(by, result.column_names, result.result_rows)


def read_records(url: str, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    """Every billing record in the range, streamed from the server."""
    client, table = _connect(url)
    with client.query_rows_stream(records_sql(since, until, table)) as stream:
        for trace_id, span_id, start_ns, duration, attrs in stream:
            yield record_from_row(trace_id, span_id, start_ns, duration, attrs)
