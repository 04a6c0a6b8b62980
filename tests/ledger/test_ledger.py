"""The billing ledger, written by the real instrumentation of real SDK calls over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from otel_openai_billing import billing_context
from otel_openai_billing import names as n
from otel_openai_billing.ledger.readers import read_records
from otel_openai_billing.ledger.schema import FIELDS, SCHEMA_VERSION
from otel_openai_billing.ledger.writer import LedgerWriter, file_name
from otel_openai_billing.usage import Usage
from tests.core.conftest import CHAT
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]


def test_a_call_becomes_one_record_that_agrees_with_its_span(ledger, client) -> None:
    with billing_context(customer_id="acme", feature="search", plan="pro"):
        client.chat.completions.create(**CHAT)
    (record,) = ledger.records()
    span = ledger.only_span()
    attrs = span.attributes
    assert list(record) == list(FIELDS)
    assert record["schema"] == SCHEMA_VERSION
    assert record["record_id"] == f"call:{attrs[n.OPENAI_CLIENT_REQUEST_ID]}"
    assert record["request_id"] == attrs[n.OPENAI_REQUEST_ID]
    assert record["trace_id"] == f"{span.context.trace_id:032x}"
    assert record["span_id"] == f"{span.context.span_id:016x}"
    seconds, nanos = divmod(span.start_time, 1_000_000_000)
    start = datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    assert record["time"] == start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert record["duration_s"] == (span.end_time - span.start_time) / 1e9
    assert (record["operation"], record["endpoint"], record["api_type"]) == (
        "chat",
        "POST /chat/completions",
        "chat_completions",
    )
    assert (record["request_model"], record["response_model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (record["input_tokens"], record["output_tokens"], record["cache_read_tokens"]) == (19, 10, 0)
    # gpt-4o-mini: 19 input x $0.15/1M = 0.00000285, 10 output x $0.60/1M = 0.000006; total 0.00000885.
    assert Decimal(record["cost"]) == Decimal("0.00000885")
    assert record["cost_components"] == {"input": "0.00000285", "output": "0.000006"}
    assert float(Decimal(record["cost"])) == attrs[n.COST_AMOUNT]
    assert (record["currency"], record["cost_status"], record["batch"]) == ("USD", "priced", False)
    assert (record["customer_id"], record["feature"], record["labels"]) == ("acme", "search", {"plan": "pro"})
    assert (record["http_status"], record["retry_count"], record["error_type"]) == (200, 0, None)
    # No client organization or project: the response headers name them.
    assert (record["organization"], record["project"]) == ("user-fake0org", "proj_fake0default")
    assert (attrs[n.OPENAI_ORGANIZATION], attrs[n.OPENAI_PROJECT]) == ("user-fake0org", "proj_fake0default")


def test_organization_and_project_come_from_the_client_and_the_headers_win(ledger, server) -> None:
    with openai.OpenAI(
        api_key="sk-test", base_url=server.base_url, organization="org-client", project="proj_client"
    ) as c:
        c.embeddings.create(model="text-embedding-3-small", input="x")
        server.project = "proj_from_header"
        try:
            # A request naming no project: the server's header says which project was billed.
            with openai.OpenAI(api_key="sk-test", base_url=server.base_url) as plain:
                plain.embeddings.create(model="text-embedding-3-small", input="x")
        finally:
            server.project = "proj_fake0default"
    first, second = ledger.records()
    assert (first["organization"], first["project"]) == ("org-client", "proj_client")
    assert (second["organization"], second["project"]) == ("user-fake0org", "proj_from_header")
    # text-embedding-3-small: 8 tokens x $0.02/1M = 0.00000016.
    assert Decimal(first["cost"]) == Decimal("0.00000016")


def test_a_failed_call_is_recorded_without_a_cost(ledger, server) -> None:
    server.fail_next(1, status=500)
    with (
        openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as c,
        pytest.raises(openai.InternalServerError),
    ):
        c.chat.completions.create(**CHAT)
    (record,) = ledger.records()
    assert record["http_status"] == 500
    assert record["error_type"] == "openai.InternalServerError"
    assert (record["cost"], record["cost_status"], record["input_tokens"]) == (None, None, None)
    assert record["request_id"] == server.requests[-1].response_request_id


def test_retries_and_streams_are_recorded(ledger, server, client) -> None:
    server.fail_next(2, status=429)
    for _ in client.chat.completions.create(**CHAT, stream=True):
        pass
    (record,) = ledger.records()
    assert (record["retry_count"], record["stream_ended_by"], record["http_status"]) == (2, "exhausted", 200)
    assert record["request_id"] == server.requests[-1].response_request_id
    assert Decimal(record["cost"]) == Decimal("0.00000885")  # the same usage as above


async def test_async_calls_are_recorded(ledger, aclient) -> None:
    await aclient.embeddings.create(model="text-embedding-3-small", input="x")
    (record,) = ledger.records()
    assert record["operation"] == "embeddings"
    assert record["cost"] == "0.00000016"


def test_since_and_until_select_by_utc_time(ledger, client) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="x")
    (record,) = ledger.records()
    when = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert ledger.records(since=when) == [record]
    assert ledger.records(until=when) == []
    assert ledger.records(since=when + timedelta(microseconds=1)) == []
    assert ledger.records(until=when + timedelta(microseconds=1)) == [record]


def test_a_torn_last_line_is_skipped_and_reported(ledger, client) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="x")
    client.embeddings.create(model="text-embedding-3-small", input="y")
    ledger.writer.close()  # the process that wrote the file is gone
    (path,) = ledger.directory.iterdir()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])  # cut inside the second line, as a kill would
    problems: list[str] = []
    records = list(read_records(str(ledger.directory), on_problem=problems.append))
    assert len(records) == 1
    assert len(problems) == 1 and "line 2 is torn" in problems[0]
    # The next writer of this file (a later process with the same pid) ends the torn line first, so
    # its own lines stay whole.
    client.embeddings.create(model="text-embedding-3-small", input="z")
    ledger.writer.close()
    problems.clear()
    records = list(read_records(str(ledger.directory), on_problem=problems.append))
    assert len(records) == 2
    assert len(problems) == 1 and "line 2 is not JSON" in problems[0]


def test_records_are_filed_per_process_per_utc_day(tmp_path) -> None:
    writer = LedgerWriter(tmp_path, flush_interval=60)
    assert file_name("2026-12-01").startswith("billing-2026-12-01-")
    assert file_name("2026-12-01").endswith(f"-{os.getpid()}.jsonl")
    writer.close()


def test_every_usage_field_is_in_the_schema() -> None:
    assert {f for f in Usage.__slots__ if f != "estimated"} <= set(FIELDS)


def test_a_bad_ledger_directory_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot create the directory"):
        LedgerWriter(blocker / "ledger")


def test_opentelemetry_instrument_writes_the_ledger_from_the_environment(tmp_path) -> None:
    directory = tmp_path / "ledger"
    with FakeOpenAI() as server:
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-zero-code",
            "OPENAI_BASE_URL": server.base_url,
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_OPENAI_BILLING_LEDGER": str(directory),
        }
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        proc = subprocess.run(
            [str(instrument), sys.executable, str(ROOT / "examples" / "zero_code" / "app.py")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        sent = [r.response_request_id for r in server.requests]
    records = list(read_records(str(directory)))
    # Written at exit by the background writer: one record per call, in call order.
    assert [r["request_id"] for r in records] == sent
    assert records[-1]["error_type"] == "openai.RateLimitError" or records[-1]["http_status"] == 200
    assert all(json.dumps(r) for r in records)


def test_the_schema_table_in_the_docs_is_the_schema() -> None:
    doc = (ROOT / "docs" / "ledger.md").read_text()
    for key, meaning in FIELDS.items():
        assert f"| `{key}` | {meaning} |" in doc, key


def test_a_stream_still_open_at_exit_is_written(tmp_path) -> None:
    app = (
        "import sys, weakref, openai\n"
        "from otel_openai_billing import OpenAIBillingInstrumentor\n"
        "weakref.finalize(sys, print)  # as many libraries do: exit-time finalizers now run after our flush\n"
        "OpenAIBillingInstrumentor().instrument(ledger=sys.argv[2], metrics=False, cost_rollup=False)\n"
        "c = openai.OpenAI(api_key='sk-test', base_url=sys.argv[1])\n"
        "messages = [{'role': 'user', 'content': 'hi'}]\n"
        "stream = c.chat.completions.create(model='gpt-4o-mini', messages=messages, stream=True)\n"
        "next(iter(stream))  # read one chunk, then exit with the stream open\n"
    )
    with FakeOpenAI() as server:
        proc = subprocess.run(
            [sys.executable, "-c", app, server.base_url, str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    (record,) = read_records(str(tmp_path))
    # Ended by the stream's finalizer at exit, after the ledger's own exit flush: written anyway.
    assert record["stream_ended_by"] == "abandoned"
    assert record["request_id"] == server.requests[0].response_request_id
