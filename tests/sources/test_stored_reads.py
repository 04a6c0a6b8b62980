"""Stored objects read back (responses.retrieve, background polling) never add tokens or cost again."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from otel_openai_billing import names as n

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
