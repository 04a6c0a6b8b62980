"""Metrics: the GenAI client histograms and the cost counter, bounded cardinality."""

from __future__ import annotations

import openai
import pytest

from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI

# Attributes a metric point may carry: models, tiers, hosts and outcomes, never per-call ids.
ALLOWED = {
    n.OPERATION_NAME,
    n.PROVIDER_NAME,
    n.REQUEST_MODEL,
    n.RESPONSE_MODEL,
    n.OPENAI_RESPONSE_SERVICE_TIER,
    n.SERVER_ADDRESS,
    n.SERVER_PORT,
    n.ERROR_TYPE,
    n.TOKEN_TYPE,
    n.COST_STATUS,
}


def test_duration_tokens_ttfc_and_cost(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}
    client.chat.completions.create(**CHAT)
    server.next_usage = {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80}
    list(client.chat.completions.create(**CHAT, stream=True))
    server.fail_next(1, status=400)
    with pytest.raises(openai.BadRequestError):
        client.with_options(max_retries=0).chat.completions.create(**CHAT)

    durations = telemetry.metric_points(n.METRIC_OPERATION_DURATION)
    assert sum(p.count for p in durations) == 3
    assert [p.attributes.get(n.ERROR_TYPE) for p in durations if p.attributes.get(n.ERROR_TYPE)] == [
        "openai.BadRequestError"
    ]
    tokens = {p.attributes[n.TOKEN_TYPE]: p for p in telemetry.metric_points(n.METRIC_TOKEN_USAGE)}
    assert tokens["input"].sum == 160 and tokens["input"].count == 2
    assert tokens["output"].sum == 60
    (ttfc,) = telemetry.metric_points(n.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1

    # The cost counter adds up exactly what the spans say each call cost.
    span_costs = [s.attributes[n.COST_AMOUNT] for s in telemetry.spans() if n.COST_AMOUNT in s.attributes]
    assert len(span_costs) == 2
    (cost,) = telemetry.metric_points(n.METRIC_COST)
    assert cost.value == pytest.approx(sum(span_costs), abs=1e-12)
    assert cost.attributes[n.COST_STATUS] == n.COST_STATUS_PRICED

    for name in (
        n.METRIC_OPERATION_DURATION,
        n.METRIC_TOKEN_USAGE,
        n.METRIC_TIME_TO_FIRST_CHUNK,
        n.METRIC_COST,
    ):
        for point in telemetry.metric_points(name):
            assert set(point.attributes) <= ALLOWED, (name, point.attributes)


def test_unpriced_calls_are_counted_not_zeroed(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="acme-private-llm-7", messages=CHAT["messages"])
    span = telemetry.only_span()
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_UNPRICED
    assert n.COST_AMOUNT not in span.attributes
    assert span.attributes[n.COST_UNPRICED_REASON]
    (unpriced,) = telemetry.metric_points(n.METRIC_UNPRICED_CALLS)
    assert unpriced.value == 1
    assert unpriced.attributes[n.REQUEST_MODEL] == "acme-private-llm-7"
    assert telemetry.metric_points(n.METRIC_COST) == []


def test_moderation_is_free_and_priced(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.moderations.create(input="hello")
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_FREE
    assert attrs[n.COST_AMOUNT] == 0.0


@pytest.mark.parametrize("instrument_kwargs", [{"metrics": False}])
def test_metrics_can_be_switched_off(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict
) -> None:
    client.chat.completions.create(**CHAT)
    assert telemetry.metric_points(n.METRIC_OPERATION_DURATION) == []
    assert n.COST_AMOUNT in telemetry.only_span().attributes
