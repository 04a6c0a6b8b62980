"""The cross-process deduplication query of docs/pricing.md, run in an embedded ClickHouse (chdb) on
the spans two instrumented "processes" really produced for the same batch and background response."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.sources_api import batch_result

from .conftest import Billed
from .test_batches import DONE_AT, _chat_usage, _create

ROOT = Path(__file__).resolve().parents[2]
DDL = ROOT / "tests" / "queries" / "otel_traces.sql"


def _query() -> str:
    doc = (ROOT / "docs" / "pricing.md").read_text()
    match = re.search(r"<!-- dedupe-query -->\n```sql\n(.*?)```", doc, re.S)
    assert match, "the dedupe query block is missing from docs/pricing.md"
    return match.group(1)


def _value(value: Any) -> str:
    # The Collector's ClickHouse exporter stores every attribute as a string.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


def _rows(telemetry: Billed) -> list[dict[str, Any]]:
    return [
        {
            "TraceId": format(span.context.trace_id, "032x"),
            "SpanId": format(span.context.span_id, "016x"),
            "SpanName": span.name,
            "ServiceName": "worker",
            "SpanAttributes": {k: _value(v) for k, v in (span.attributes or {}).items()},
        }
        for span in telemetry.spans()
    ]


@pytest.mark.sdk_feature("responses")
def test_two_processes_polling_the_same_batch_count_it_once(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    batch_id = _create(client, "/v1/chat/completions", "gpt-4o-mini", 1)
    server.sources.complete_batch(
        batch_id,
        [batch_result("r0", "gpt-4o-mini-2024-07-18", _chat_usage(1000, 400, 200))],
        completed_at=DONE_AT,
    )
    queued = client.responses.create(model="gpt-4o-mini", input="hi", background=True)
    for _process in range(2):
        # A second process: a fresh instrumentation that has billed nothing yet.
        instrumentor = OpenAIBillingInstrumentor()
        instrumentor.uninstrument()
        instrumentor.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
        for _ in range(5):
            client.batches.retrieve(batch_id)
            client.responses.retrieve(queued.id)
    assert len(telemetry.units("batch")) == 2  # each process billed it once

    try:
        from chdb import session
    except ImportError as exc:  # a test-stack dependency, not optional
        pytest.fail(f"install chdb (pip install chdb): {exc}")
    sess = session.Session()
    try:
        sess.query(DDL.read_text())
        rows = "\n".join(json.dumps(row) for row in _rows(telemetry))
        sess.query(f"INSERT INTO otel_traces FORMAT JSONEachRow\n{rows}")
        result = sess.query(_query(), "JSONEachRow").bytes().decode()
    finally:
        sess.close()
    answer = {row["kind"]: row for row in map(json.loads, result.splitlines())}
    # The batch once: uncached 600 x $0.075/1M + cached 400 x $0.075/1M + 200 x $0.30/1M
    # = 0.000045 + 0.00003 + 0.00006 = 0.000135.
    assert int(answer["batch"]["billed_units"]) == 1
    assert Decimal(str(answer["batch"]["cost_usd"])) == Decimal("0.000135")
    # The background response once: 19 x $0.15/1M + 10 x $0.60/1M = 0.00000885.
    assert int(answer["call"]["billed_units"]) == 1
    assert Decimal(str(answer["call"]["cost_usd"])) == Decimal("0.00000885")
