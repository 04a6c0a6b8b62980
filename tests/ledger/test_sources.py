"""The same real calls read back from every source give the same records and the same aggregates:
the ledger, the Collector file exporter's OTLP JSON, and the Collector's ClickHouse table (its DDL, in
chdb, the embedded ClickHouse; the SQL is what ``clickhouse://`` sends to a server)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from otel_openai_billing.ledger import clickhouse
from otel_openai_billing.ledger.readers import read_records
from otel_openai_billing.reports.usage import aggregate
from tests.core.conftest import server  # noqa: F401

DDL = Path(__file__).resolve().parents[1] / "queries" / "otel_traces.sql"
# Quantities no span attribute carries, and what only the ledger knows.
NOT_ON_SPANS = {
    "audio_seconds",
    "input_characters",
    "images",
    "web_search_calls",
    "file_search_calls",
    "cache_write_long_ttl_tokens",
    "input_text_tokens",
    "cache_read_audio_tokens",
    "cache_read_image_tokens",
    "output_text_tokens",
    "tool_image_input_text_tokens",
    "tool_image_input_image_tokens",
    "tool_image_output_tokens",
    "data_residency",
    "duration_s",
}


def _as_string(value: Any) -> str:
    # pcommon.Value.AsString(), which the ClickHouse exporter applies to every attribute value:
    # doubles as strconv.FormatFloat(v, 'f', -1, 64) (shortest digits, never an exponent), bools as
    # true/false, slices as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{Decimal(repr(value)):f}"
        return text
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    return str(value)


def _exporter_row(span: ReadableSpan) -> dict[str, Any]:
    """A span as the ClickHouse exporter inserts it (exporter/clickhouseexporter, traces)."""
    seconds, nanos = divmod(span.start_time, 1_000_000_000)
    start = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{nanos:09d}"
    return {
        "Timestamp": start,
        "TraceId": f"{span.context.trace_id:032x}",
        "SpanId": f"{span.context.span_id:016x}",
        "ParentSpanId": "",
        "SpanName": span.name,
        "SpanKind": "Client",
        "ServiceName": "app",
        "ScopeName": span.instrumentation_scope.name,
        "SpanAttributes": {k: _as_string(v) for k, v in (span.attributes or {}).items()},
        "Duration": span.end_time - span.start_time,
        "StatusCode": "Error" if span.status.status_code.name == "ERROR" else "Unset",
    }


@pytest.fixture(scope="module")
def chdb_session(calls: tuple[list[dict], list[ReadableSpan]]) -> Iterator[Any]:
    from chdb import session

    sess = session.Session()
    sess.query(DDL.read_text())
    rows = "\n".join(json.dumps(_exporter_row(s)) for s in calls[1])
    sess.query(f"INSERT INTO otel_traces FORMAT JSONEachRow\n{rows}")
    yield sess
    sess.close()


def _query(sess: Any, sql: str) -> tuple[list[str], list[tuple]]:
    result = sess.query(sql, "JSONCompactEachRowWithNames")
    lines = [json.loads(line) for line in str(result).splitlines() if line.strip()]
    return lines[0], [tuple(r) for r in lines[1:]]


def _span_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in NOT_ON_SPANS}


@pytest.mark.parametrize(
    "by",
    [
        ["day", "model"],
        ["project"],
        ["customer", "feature"],
        ["tier", "batch"],
        ["operation", "model", "customer"],
    ],
)
def test_clickhouse_sql_gives_the_ledgers_aggregates(calls, chdb_session, by) -> None:
    records, _ = calls
    from_ledger = aggregate(records, by)
    names, rows = _query(chdb_session, clickhouse.usage_sql(by))
    from_sql = clickhouse.rows_from_result(by, names, rows)
    assert from_sql == from_ledger
    assert len(from_ledger) > 1


def test_the_aggregates_are_the_calls_made(calls) -> None:
    records, _ = calls
    rows = {r.key: r for r in aggregate(records, ["model"])}
    mini = rows[("gpt-4o-mini-2024-07-18",)]
    # 3 billed calls of 19 + 10 tokens; the one retried after a 500 counts one retry.
    assert (mini.requests, mini.input_tokens, mini.output_tokens, mini.retries) == (3, 57, 30, 1)
    # 3 x (19 x $0.15/1M + 10 x $0.60/1M) = 3 x 0.00000885: gpt-4o-mini has no Flex price, so the
    # flex call is priced at the default tier (with a warning on its record).
    assert mini.cost == Decimal("0.00002655")
    flex = [r for r in records if r["service_tier"] == "flex"]
    assert len(flex) == 1 and flex[0]["cost_reason"]
    assert (rows[("gpt-4o",)].failed, rows[("gpt-4o",)].retries) == (1, 1)  # failed, never answered
    assert rows[("gpt-9-preview",)].unpriced == 1 and rows[("gpt-9-preview",)].cost == 0
    assert rows[("tts-1",)].estimated == 1
    assert sum(r.requests for r in rows.values()) == 8  # models.list is not a billed unit


def test_a_range_is_applied_in_the_engine(calls, chdb_session) -> None:
    records, _ = calls
    times = sorted(r["time"] for r in records)
    middle = datetime.strptime(times[4], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    end = middle + timedelta(days=1)
    expected = aggregate(read_range(records, middle, end), ["model"])
    names, rows = _query(chdb_session, clickhouse.usage_sql(["model"], middle, end))
    assert clickhouse.rows_from_result(["model"], names, rows) == expected
    assert sum(r.requests + r.failed for r in expected) == len(records) - 4


def read_range(records: list[dict], since: datetime, until: datetime) -> list[dict]:
    lo = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    hi = until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [r for r in records if lo <= r["time"] < hi]


def test_clickhouse_rows_read_back_as_the_ledgers_records(calls, chdb_session) -> None:
    records, _ = calls
    _, rows = _query(chdb_session, clickhouse.records_sql())
    from_sql = [clickhouse.record_from_row(*row) for row in rows]
    assert sorted(map(_span_view, from_sql), key=lambda r: r["time"]) == [_span_view(r) for r in records]


def _otlp_json_line(spans: list[ReadableSpan]) -> str:
    """An ExportTraceServiceRequest as the Collector's file exporter writes it (OTLP/JSON: hex ids)."""
    request = MessageToDict(encode_spans(spans))
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(request)


def test_otlp_json_from_the_file_exporter_reads_back_as_the_ledgers_records(calls, tmp_path) -> None:
    records, spans = calls
    path = tmp_path / "traces.json"
    path.write_text(_otlp_json_line(spans[:4]) + "\n" + _otlp_json_line(spans[4:]) + "\n")
    from_file = list(read_records(str(path)))
    assert [_span_view(r) for r in from_file] == [_span_view(r) for r in records]
    assert aggregate(from_file, ["day", "model"]) == aggregate(records, ["day", "model"])
