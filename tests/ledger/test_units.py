"""Billed units that are not plain calls (a Batch settlement) in the ledger, and rebuilt from their span.

The record id is made of OpenAI's ids, so the ledger and a span read back from a backend name the same
unit the same way, and two processes that both settle one batch write one key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import openai

from otel_openai_billing import names as n
from otel_openai_billing.ledger.spans import record_from_span
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.sources_api import batch_result

from .conftest import Ledgered

DONE_AT = int(datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp())


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _batch(client: openai.OpenAI, count: int) -> str:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": []},
        }
        for i in range(count)
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    file_id = client.files.create(file=("input.jsonl", data), purpose="batch").id
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    ).id


def test_a_batch_settlement_is_one_record_keyed_by_the_batch(
    client: openai.OpenAI, server: FakeOpenAI, ledger: Ledgered
) -> None:
    batch_id = _batch(client, 3)
    server.sources.complete_batch(
        batch_id,
        [batch_result(f"r{i}", "gpt-4o-mini-2024-07-18", _usage(100, 10)) for i in range(3)],
        completed_at=DONE_AT,
    )
    for _ in range(5):
        client.batches.retrieve(batch_id)

    (record,) = [r for r in ledger.records() if r["kind"] == "batch"]
    assert record["record_id"] == f"batch:{batch_id}:gpt-4o-mini-2024-07-18"
    assert record["batch"] is True and record["batch_id"] == batch_id
    assert record["requests"] == 3  # the three lines the settlement billed
    # 300 input x $0.075/1M + 30 output x $0.30/1M (gpt-4o-mini Batch rates) = $0.0000225 + $0.000009
    assert record["cost"] == "0.0000315"

    (span,) = [s for s in ledger.spans() if s.attributes.get(n.KIND) == "batch"]
    rebuilt = record_from_span(
        span.attributes,
        trace_id=f"{span.context.trace_id:032x}",
        span_id=f"{span.context.span_id:016x}",
        start_ns=span.start_time,
        end_ns=span.end_time,
    )
    for key in (
        "record_id",
        "kind",
        "batch",
        "batch_id",
        "requests",
        "cost",
        "input_tokens",
        "output_tokens",
    ):
        assert rebuilt[key] == record[key], key
