"""Stored objects read back (responses.retrieve, background polling) never add tokens or cost again."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import openai
import pytest

from otel_openai_billing import names as n
from tests.fakes.openai_server import FakeOpenAI
from tests.fuzz.test_fuzz import _faults

from .conftest import Billed

# gpt-4o-mini: $0.15 in, $0.60 out per 1M. The fake server reports 19 input and 10 output tokens:
# 19 x 0.15/1M + 10 x 0.60/1M = 0.00000285 + 0.000006 = 0.00000885.
ONE_RESPONSE = Decimal("0.00000885")


@pytest.mark.sdk_feature("responses")
def test_create_then_five_retrieves_count_the_tokens_once(client: openai.OpenAI, telemetry: Billed) -> None:
    response = client.responses.create(model="gpt-4o-mini", input="hi")
    for _ in range(5):
        assert client.responses.retrieve(response.id).usage.input_tokens == 19
    assert telemetry.tokens("input") == 19
    assert telemetry.tokens("output") == 10
    assert telemetry.cost() == float(ONE_RESPONSE)
    billed = [s for s in telemetry.spans() if n.COST_AMOUNT in s.attributes]
    assert len(billed) == 1


@pytest.mark.sdk_feature("responses")
def test_background_response_billed_once_when_polled_finished(
    client: openai.OpenAI, telemetry: Billed
) -> None:
    queued = client.responses.create(model="gpt-4o-mini", input="hi", background=True)
    assert queued.status == "queued" and queued.usage is None
    for _ in range(5):
        assert client.responses.retrieve(queued.id).status == "completed"
    billed = [s for s in telemetry.spans() if n.COST_AMOUNT in s.attributes]
    assert len(billed) == 1
    assert billed[0].attributes[n.RESPONSE_ID] == queued.id
    assert billed[0].attributes[n.COST_AMOUNT] == float(ONE_RESPONSE)
    # The create (queued, no usage yet) is neither priced nor counted as an unpriced call.
    assert telemetry.metric_sum(n.METRIC_UNPRICED_CALLS) == 0
    assert telemetry.tokens("input") == 19
    assert telemetry.cost() == float(ONE_RESPONSE)


@pytest.mark.sdk_feature("responses")
async def test_async_background_polling_billed_once(aclient: openai.AsyncOpenAI, telemetry: Billed) -> None:
    queued = await aclient.responses.create(model="gpt-4o-mini", input="hi", background=True)
    for _ in range(5):
        await aclient.responses.retrieve(queued.id)
    assert telemetry.tokens("input") == 19
    assert telemetry.cost() == float(ONE_RESPONSE)


# A stored object whose status is no string (the fuzz found a list or an object there raising inside
# the status check): read as nothing finished, so nothing is settled, and the read ends one span.
_JUNK_STATUS_READS = {
    "batch": (lambda c: c.batches.retrieve("batch_j"), {"id": "batch_j", "object": "batch"}),
    "fine_tuning": (
        lambda c: c.fine_tuning.jobs.retrieve("ftjob-j"),
        {"id": "ftjob-j", "object": "fine_tuning.job", "trained_tokens": 100},
    ),
    "response": (
        lambda c: c.responses.retrieve("resp_j"),
        {"id": "resp_j", "object": "response", "background": True, "usage": {"input_tokens": 5}},
    ),
}


@pytest.mark.parametrize("status", [["completed"], {"s": "succeeded"}], ids=["list", "object"])
@pytest.mark.parametrize(
    "kind",
    ["batch", "fine_tuning", pytest.param("response", marks=pytest.mark.sdk_feature("responses"))],
)
def test_a_stored_object_with_a_junk_status_is_read_without_a_fault(
    client: openai.OpenAI,
    server: FakeOpenAI,
    telemetry: Billed,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    status: Any,
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_openai_billing")  # a fault seen before logs at DEBUG
    read, body = _JUNK_STATUS_READS[kind]
    server.raw_next(json.dumps({**body, "status": status}).encode())
    assert read(client).status == status
    assert _faults(caplog) == []
    (span,) = telemetry.spans()
    assert n.COST_AMOUNT not in span.attributes and n.COST_STATUS not in span.attributes
