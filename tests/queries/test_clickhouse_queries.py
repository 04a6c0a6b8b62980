"""The billing SQL in queries/clickhouse/, run in an embedded ClickHouse (chdb) against spans shaped
as this package produces them and as the Collector's ClickHouse exporter stores them.

Expected answers are written by hand from the spans below (derivations in comments), never by
running the same SQL another way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from otel_openai_billing import names

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "queries" / "clickhouse"
DDL = Path(__file__).with_name("otel_traces.sql")
QUERIES_DOC = ROOT / "docs" / "queries.md"

SERVICE = "support-bot"


def _call(
    trace: str,
    span: str,
    parent: str,
    ts: str,
    model: str,
    *,
    request_id: str,
    cost: str | None,
    status: str,
    customer: str = "",
    feature: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    retries: int = 0,
    error: str = "",
    operation: str = "chat",
    response_model: str | None = None,
) -> dict:
    """One OpenAI call span: attributes as strings, the way the exporter writes its Map column."""
    attrs = {
        names.OPERATION_NAME: operation,
        names.PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.REQUEST_MODEL: model,
        names.RESPONSE_MODEL: response_model or model,
        names.OPENAI_REQUEST_ID: request_id,
        names.USAGE_INPUT_TOKENS: str(input_tokens),
        names.USAGE_OUTPUT_TOKENS: str(output_tokens),
        names.COST_STATUS: status,
    }
    if cost is not None:
        attrs[names.COST_AMOUNT] = cost
        attrs[names.COST_CURRENCY] = names.CURRENCY_USD
    if customer:
        attrs[names.CUSTOMER_ID] = customer
    if feature:
        attrs[names.FEATURE] = feature
    if retries:
        attrs[names.OPENAI_RETRY_COUNT] = str(retries)
    if error:
        attrs[names.ERROR_TYPE] = error
    return {
        "Timestamp": ts,
        "TraceId": trace,
        "SpanId": span,
        "ParentSpanId": parent,
        "SpanName": f"{operation} {model}",
        "SpanKind": "Client",
        "ServiceName": SERVICE,
        "ScopeName": names.INSTRUMENTATION_SCOPE,
        "SpanAttributes": attrs,
        "Duration": 1_200_000_000,
        "StatusCode": "Error" if error else "Unset",
        "Events.Timestamp": [ts] * retries,
        "Events.Name": [names.EVENT_RETRY] * retries,
        "Events.Attributes": [{names.EVENT_RETRY_ATTEMPT: str(i + 1)} for i in range(retries)],
    }


def _root(trace: str, span: str, ts: str, name: str, cost: str, calls: int, unpriced: int = 0) -> dict:
    """The local root span (the user-facing request) with the package's roll-up."""
    attrs = {names.ROLLUP_COST: cost, names.ROLLUP_CALLS: str(calls)}
    if unpriced:
        attrs[names.ROLLUP_UNPRICED_CALLS] = str(unpriced)
    return {
        "Timestamp": ts,
        "TraceId": trace,
        "SpanId": span,
        "ParentSpanId": "",
        "SpanName": name,
        "SpanKind": "Server",
        "ServiceName": SERVICE,
        "SpanAttributes": attrs,
        "Duration": 3_000_000_000,
        "StatusCode": "Unset",
    }


# Four user requests over two days (UTC).
SPANS = [
    # T1, 20 Nov: POST /chat, two calls for acme/search = 0.01 + 0.02 = 0.03.
    _root("t1", "r1", "2026-11-20 09:00:00", "POST /chat", "0.03", 2),
    _call(
        "t1",
        "s1",
        "r1",
        "2026-11-20 09:00:01",
        "gpt-4o",
        request_id="req_a1",
        cost="0.01",
        status="priced",
        customer="acme",
        feature="search",
        input_tokens=1000,
        output_tokens=200,
    ),
    _call(
        "t1",
        "s2",
        "r1",
        "2026-11-20 09:00:02",
        "gpt-4o-mini",
        request_id="req_a2",
        cost="0.02",
        status="priced",
        customer="acme",
        feature="search",
        input_tokens=3000,
        output_tokens=500,
        retries=1,
    ),
    # T2, 20 Nov: POST /summarize, one large call for globex, retried twice, 0.5 USD.
    _root("t2", "r2", "2026-11-20 15:30:00", "POST /summarize", "0.5", 1),
    _call(
        "t2",
        "s3",
        "r2",
        "2026-11-20 15:30:01",
        "gpt-4o",
        request_id="req_b1",
        cost="0.5",
        status="priced",
        customer="globex",
        feature="summarize",
        input_tokens=100000,
        output_tokens=4000,
        retries=2,
    ),
    # T3, 21 Nov: POST /chat for acme/search: 0.04 priced, one unpriced model, one call that failed
    # after two retries (no cost). Roll-up 0.04 over 3 calls, 1 unpriced.
    _root("t3", "r3", "2026-11-21 08:00:00", "POST /chat", "0.04", 3, unpriced=1),
    _call(
        "t3",
        "s4",
        "r3",
        "2026-11-21 08:00:01",
        "gpt-4o",
        request_id="req_c1",
        cost="0.04",
        status="priced",
        customer="acme",
        feature="search",
        input_tokens=4000,
        output_tokens=1000,
    ),
    _call(
        "t3",
        "s5",
        "r3",
        "2026-11-21 08:00:02",
        "o9-preview",
        request_id="req_c2",
        cost=None,
        status="unpriced",
        customer="acme",
        feature="search",
        input_tokens=500,
        output_tokens=50,
        response_model="o9-preview-2026-01-01",
    ),
    _call(
        "t3",
        "s7",
        "r3",
        "2026-11-21 08:00:03",
        "gpt-4o",
        request_id="req_c3",
        cost=None,
        status="priced",
        customer="acme",
        feature="search",
        retries=2,
        error="RateLimitError",
    ),
    # T4, 21 Nov: a background job without attribution; an embeddings call for 0.0001 USD.
    _root("t4", "r4", "2026-11-21 23:59:59", "worker job", "0.0001", 1),
    _call(
        "t4",
        "s6",
        "r4",
        "2026-11-21 23:59:59",
        "text-embedding-3-small",
        request_id="req_d1",
        cost="0.0001",
        status="priced",
        input_tokens=5000,
        operation="embeddings",
    ),
]


@pytest.fixture(scope="module")
def db():
    try:
        from chdb import session
    except ImportError as exc:  # a test dependency, not optional
        pytest.fail(f"install chdb (pip install chdb): {exc}")
    sess = session.Session()
    sess.query(DDL.read_text())
    rows = "\n".join(json.dumps(span) for span in SPANS)
    sess.query(f"INSERT INTO otel_traces FORMAT JSONEachRow\n{rows}")
    yield sess
    sess.close()


def run(db, name: str) -> list[dict]:
    result = db.query((SQL_DIR / name).read_text(), "JSONEachRow")
    return [json.loads(line) for line in str(result).splitlines() if line.strip()]


def test_the_spans_loaded(db) -> None:
    assert run_sql(db, "SELECT count() AS n FROM otel_traces") == [{"n": len(SPANS)}]


def run_sql(db, sql: str) -> list[dict]:
    return [json.loads(line) for line in str(db.query(sql, "JSONEachRow")).splitlines() if line.strip()]


def test_cost_by_model_by_day(db) -> None:
    assert run(db, "cost_by_model_by_day.sql") == [
        # 20 Nov: gpt-4o s1 0.01 + s3 0.5; gpt-4o-mini s2 0.02.
        {"day": "2026-11-20", "model": "gpt-4o", "calls": 2, "unpriced_calls": 0, "cost_usd": 0.51},
        {"day": "2026-11-20", "model": "gpt-4o-mini", "calls": 1, "unpriced_calls": 0, "cost_usd": 0.02},
        # 21 Nov: gpt-4o s4 0.04 + s7 (failed, no cost); embeddings 0.0001; o9-preview unpriced.
        {"day": "2026-11-21", "model": "gpt-4o", "calls": 2, "unpriced_calls": 0, "cost_usd": 0.04},
        {
            "day": "2026-11-21",
            "model": "text-embedding-3-small",
            "calls": 1,
            "unpriced_calls": 0,
            "cost_usd": 0.0001,
        },
        {"day": "2026-11-21", "model": "o9-preview", "calls": 1, "unpriced_calls": 1, "cost_usd": 0},
    ]


def test_cost_by_customer(db) -> None:
    assert run(db, "cost_by_customer.sql") == [
        {"customer": "globex", "calls": 1, "cost_usd": 0.5},
        # acme: s1 0.01 + s2 0.02 + s4 0.04 + s5 (unpriced) + s7 (failed) = 0.07 over 5 calls.
        {"customer": "acme", "calls": 5, "cost_usd": 0.07},
        {"customer": "(none)", "calls": 1, "cost_usd": 0.0001},
    ]


def test_cost_by_feature(db) -> None:
    assert run(db, "cost_by_feature.sql") == [
        {"feature": "summarize", "calls": 1, "customers": 1, "cost_usd": 0.5},
        {"feature": "search", "calls": 5, "customers": 1, "cost_usd": 0.07},
        {"feature": "(none)", "calls": 1, "customers": 0, "cost_usd": 0.0001},
    ]


def test_top_expensive_requests(db) -> None:
    rows = run(db, "top_expensive_requests.sql")
    # Only calls with a cost: s3, s4, s2, s1, s6 (s5 unpriced and s7 failed have none).
    assert [(r["request_id"], r["cost_usd"]) for r in rows] == [
        ("req_b1", 0.5),
        ("req_c1", 0.04),
        ("req_a2", 0.02),
        ("req_a1", 0.01),
        ("req_d1", 0.0001),
    ]
    assert rows[0] | {"started": None} == {
        "request_id": "req_b1",
        "trace_id": "t2",
        "started": None,
        "response_model": "gpt-4o",
        "input_tokens": 100000,
        "output_tokens": 4000,
        "cost_usd": 0.5,
        "customer": "globex",
    }


def test_unpriced_calls(db) -> None:
    assert [r | {"last_seen": r["last_seen"][:19]} for r in run(db, "unpriced_calls.sql")] == [
        {
            "request_model": "o9-preview",
            "response_model": "o9-preview-2026-01-01",
            "calls": 1,
            "input_tokens": 500,
            "output_tokens": 50,
            "example_request_id": "req_c2",
            "last_seen": "2026-11-21 08:00:02",
        },
    ]


def test_retries_and_their_cost(db) -> None:
    assert run(db, "retries.sql") == [
        # gpt-4o: s3 (2 retries, 0.5 USD) and s7 (2 retries, then failed, no cost).
        {"model": "gpt-4o", "retried_calls": 2, "retries": 4, "failed_after_retries": 1, "cost_usd": 0.5},
        # gpt-4o-mini: s2 (1 retry, 0.02 USD).
        {
            "model": "gpt-4o-mini",
            "retried_calls": 1,
            "retries": 1,
            "failed_after_retries": 0,
            "cost_usd": 0.02,
        },
    ]


def test_cost_per_user_facing_request(db) -> None:
    assert run(db, "cost_per_request.sql") == [
        {
            "request": "POST /summarize",
            "requests": 1,
            "cost_usd": 0.5,
            "avg_cost_usd": 0.5,
            "max_cost_usd": 0.5,
            "avg_openai_calls": 1,
        },
        # t1 0.03 (2 calls) + t3 0.04 (3 calls): total 0.07, mean 0.035, max 0.04, 2.5 calls.
        {
            "request": "POST /chat",
            "requests": 2,
            "cost_usd": 0.07,
            "avg_cost_usd": 0.035,
            "max_cost_usd": 0.04,
            "avg_openai_calls": 2.5,
        },
        {
            "request": "worker job",
            "requests": 1,
            "cost_usd": 0.0001,
            "avg_cost_usd": 0.0001,
            "max_cost_usd": 0.0001,
            "avg_openai_calls": 1,
        },
    ]


def test_every_query_file_is_tested_and_in_the_docs() -> None:
    files = {p.name for p in SQL_DIR.glob("*.sql")}
    tested = set(re.findall(r'run\(db, "([a-z_]+\.sql)"\)', Path(__file__).read_text()))
    assert files == tested
    doc = QUERIES_DOC.read_text()
    for name in files:
        sql = (SQL_DIR / name).read_text().strip()
        assert sql in doc, f"docs/queries.md does not include queries/clickhouse/{name} verbatim"


def test_queries_use_only_attribute_names_the_package_emits() -> None:
    emitted = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    for path in SQL_DIR.glob("*.sql"):
        keys = set(re.findall(r"SpanAttributes\['([^']+)'\]", path.read_text()))
        assert keys, path.name
        assert keys <= emitted, f"{path.name}: {sorted(keys - emitted)}"
    events = set(re.findall(r"name = '([^']+)'", (SQL_DIR / "retries.sql").read_text()))
    assert events == {names.EVENT_RETRY}
