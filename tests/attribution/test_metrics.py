"""Attribution on the cost counter and token histogram: only enabled keys, with a cardinality guard."""

from __future__ import annotations

import pytest
from openai import OpenAI

from otel_openai_billing import billing_context
from otel_openai_billing import names as n
from tests.attribution.conftest import Traced
from tests.core.conftest import CHAT

# gpt-4o-mini, 19 input and 10 output tokens (the fake server's chat usage):
# 19 * $0.15/M + 10 * $0.60/M = $0.00000285 + $0.000006 = $0.00000885.
CHAT_COST = 0.00000885


def test_metrics_carry_no_attribution_unless_enabled(telemetry: Traced, client: OpenAI) -> None:
    with billing_context(customer_id="acme", feature="search"):
        client.chat.completions.create(**CHAT)

    (cost,) = telemetry.metric_points(n.METRIC_COST)
    assert n.CUSTOMER_ID not in cost.attributes
    assert n.FEATURE not in cost.attributes
    assert all(n.CUSTOMER_ID not in p.attributes for p in telemetry.metric_points(n.METRIC_TOKEN_USAGE))
    assert telemetry.only_span().attributes[n.CUSTOMER_ID] == "acme"  # the span always has it


@pytest.mark.parametrize("instrument_kwargs", [{"metric_attribution_keys": ["customer_id", "feature"]}])
def test_enabled_keys_go_on_cost_and_tokens(telemetry: Traced, client: OpenAI) -> None:
    with billing_context(customer_id="acme", feature="search", plan="pro"):
        client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)
    with billing_context(customer_id="globex"):
        client.chat.completions.create(**CHAT)

    assert telemetry.metric_sum(n.METRIC_COST, **{n.CUSTOMER_ID: "acme"}) == pytest.approx(2 * CHAT_COST)
    assert telemetry.metric_sum(n.METRIC_COST, **{n.CUSTOMER_ID: "globex"}) == pytest.approx(CHAT_COST)
    acme = [p for p in telemetry.metric_points(n.METRIC_COST) if p.attributes[n.CUSTOMER_ID] == "acme"]
    assert acme[0].attributes[n.FEATURE] == "search"
    assert n.LABEL_PREFIX + "plan" not in acme[0].attributes  # not enabled
    globex = [p for p in telemetry.metric_points(n.METRIC_COST) if p.attributes[n.CUSTOMER_ID] == "globex"]
    assert n.FEATURE not in globex[0].attributes  # no value, no attribute
    tokens = {
        (p.attributes[n.CUSTOMER_ID], p.attributes[n.TOKEN_TYPE]): p.sum
        for p in telemetry.metric_points(n.METRIC_TOKEN_USAGE)
    }
    assert tokens == {
        ("acme", "input"): 38,
        ("acme", "output"): 20,
        ("globex", "input"): 19,
        ("globex", "output"): 10,
    }
    # The duration histogram keeps its bounded attributes only.
    assert all(
        n.CUSTOMER_ID not in p.attributes for p in telemetry.metric_points(n.METRIC_OPERATION_DURATION)
    )


@pytest.mark.parametrize(
    "instrument_kwargs",
    [{"metric_attribution_keys": ["customer_id", "feature"], "metric_attribution_limit": 3}],
)
def test_the_value_past_the_limit_goes_to_the_overflow_bucket_and_is_counted(
    telemetry: Traced, client: OpenAI
) -> None:
    for customer in ("a", "b", "c", "d", "e", "d", "a"):
        with billing_context(customer_id=customer, feature="search"):
            client.chat.completions.create(**CHAT)

    def customer_cost(value: str) -> float:
        return telemetry.metric_sum(n.METRIC_COST, **{n.CUSTOMER_ID: value})

    # a, b, c are the first three distinct values: their own series, now and later ("a" again).
    assert customer_cost("a") == pytest.approx(2 * CHAT_COST)
    assert customer_cost("b") == customer_cost("c") == pytest.approx(CHAT_COST)
    # d, e, d: three calls past the limit, in one bucket.
    assert customer_cost("d") == customer_cost("e") == 0
    assert customer_cost(n.OVERFLOW_VALUE) == pytest.approx(3 * CHAT_COST)
    (overflow,) = telemetry.metric_points(n.METRIC_ATTRIBUTION_OVERFLOW)
    assert overflow.attributes == {n.ATTRIBUTION_KEY: "customer_id"}
    assert overflow.value == 3
    # Each key has its own limit: one feature value never overflows.
    assert telemetry.metric_sum(n.METRIC_COST, **{n.FEATURE: "search"}) == pytest.approx(7 * CHAT_COST)
    # Spans are not guarded: they keep the real customer.
    assert [s.attributes[n.CUSTOMER_ID] for s in telemetry.spans()] == ["a", "b", "c", "d", "e", "d", "a"]
    tokens = {p.attributes[n.CUSTOMER_ID] for p in telemetry.metric_points(n.METRIC_TOKEN_USAGE)}
    assert tokens == {"a", "b", "c", n.OVERFLOW_VALUE}


@pytest.mark.parametrize(
    "instrument_kwargs", [{"metric_attribution_keys": ["customer_id"], "metrics": False}]
)
def test_no_metrics_no_guard(telemetry: Traced, client: OpenAI) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**CHAT)

    assert telemetry.metric_points(n.METRIC_COST) == []
    assert telemetry.metric_points(n.METRIC_ATTRIBUTION_OVERFLOW) == []
    assert telemetry.only_span().attributes[n.CUSTOMER_ID] == "acme"
