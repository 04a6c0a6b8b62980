"""Where attribution comes from besides billing_context: W3C Baggage, request fields; the options."""

from __future__ import annotations

import threading
from typing import Any

import openai
import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context
from otel_openai_billing import names as n
from otel_openai_billing.config import resolve
from tests.attribution.conftest import Traced
from tests.core.conftest import CHAT

W3C = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def _upstream_headers(telemetry: Traced, **entries: str) -> dict[str, str]:
    """The headers a front-end service sends: its trace context and its baggage."""
    carrier: dict[str, str] = {}
    with telemetry.tracer.start_as_current_span("frontend"):
        ctx = otel_context.get_current()
        for key, value in entries.items():
            ctx = baggage.set_baggage(key, value, ctx)
        W3C.inject(carrier, context=ctx)
    return carrier


def _in_worker(carrier: dict[str, str], work: Any) -> None:
    """Run ``work`` as a back-end worker would: in a fresh thread, under the extracted context."""

    def run() -> None:
        token = otel_context.attach(W3C.extract(carrier))
        try:
            work()
        finally:
            otel_context.detach(token)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_baggage_from_an_upstream_service_attributes_the_worker_calls(
    telemetry: Traced, client: openai.OpenAI
) -> None:
    carrier = _upstream_headers(telemetry, **{"customer.id": "acme", "feature": "search", "other": "x"})
    assert carrier["baggage"] == "customer.id=acme,feature=search,other=x"

    def job() -> None:
        with telemetry.tracer.start_as_current_span("job"):
            client.chat.completions.create(**CHAT)

    _in_worker(carrier, job)

    call = telemetry.calls()[0]
    job_span = telemetry.span_named("job")
    assert call.attributes[n.CUSTOMER_ID] == "acme"
    assert call.attributes[n.FEATURE] == "search"
    assert n.LABEL_PREFIX + "other" not in call.attributes  # only the configured keys are read
    # The job, whose parent is remote, is the worker's local root: the cost rolls up onto it.
    assert job_span.parent is not None and job_span.parent.is_remote
    assert job_span.attributes[n.ROLLUP_COST] == call.attributes[n.COST_AMOUNT]


def test_billing_context_wins_over_baggage(telemetry: Traced, client: openai.OpenAI) -> None:
    carrier = _upstream_headers(telemetry, **{"customer.id": "acme", "feature": "search"})

    def job() -> None:
        with billing_context(customer_id="globex"):
            client.chat.completions.create(**CHAT)

    _in_worker(carrier, job)

    call = telemetry.calls()[0]
    assert call.attributes[n.CUSTOMER_ID] == "globex"
    assert call.attributes[n.FEATURE] == "search"  # not set explicitly: baggage still counts


@pytest.mark.parametrize("instrument_kwargs", [{"baggage_keys": {"tenant": "customer_id", "plan": "plan"}}])
def test_baggage_keys_are_configurable(telemetry: Traced, client: openai.OpenAI) -> None:
    ctx = baggage.set_baggage("tenant", "acme")
    ctx = baggage.set_baggage("plan", "pro", ctx)
    ctx = baggage.set_baggage("customer.id", "ignored", ctx)
    token = otel_context.attach(ctx)
    try:
        client.chat.completions.create(**CHAT)
    finally:
        otel_context.detach(token)

    attrs = telemetry.only_span().attributes
    assert attrs[n.CUSTOMER_ID] == "acme"
    assert attrs[n.LABEL_PREFIX + "plan"] == "pro"


@pytest.mark.parametrize("instrument_kwargs", [{"baggage_keys": {}}])
def test_baggage_can_be_turned_off(telemetry: Traced, client: openai.OpenAI) -> None:
    token = otel_context.attach(baggage.set_baggage("customer.id", "acme"))
    try:
        client.chat.completions.create(**CHAT)
    finally:
        otel_context.detach(token)

    assert n.CUSTOMER_ID not in telemetry.only_span().attributes


_FIELDS = {
    "safety_identifier": "customer_id",
    "metadata.feature": "feature",
    "prompt_cache_key": "cache_group",
}


def test_request_fields_are_not_read_by_default(telemetry: Traced, client: openai.OpenAI) -> None:
    client.chat.completions.create(**CHAT, safety_identifier="alice@example.com", metadata={"feature": "x"})

    attrs = telemetry.only_span().attributes
    assert n.CUSTOMER_ID not in attrs
    assert n.FEATURE not in attrs


@pytest.mark.parametrize("instrument_kwargs", [{"request_field_attribution": _FIELDS}])
def test_request_fields_map_to_attribution(telemetry: Traced, client: openai.OpenAI) -> None:
    client.chat.completions.create(
        **CHAT,
        safety_identifier="alice@example.com",
        prompt_cache_key="faq-v2",
        metadata={"feature": "summarize", "other": "x"},
    )

    attrs = telemetry.only_span().attributes
    assert attrs[n.CUSTOMER_ID] == "alice@example.com"
    assert attrs[n.FEATURE] == "summarize"
    assert attrs[n.LABEL_PREFIX + "cache_group"] == "faq-v2"
    assert n.LABEL_PREFIX + "other" not in attrs


@pytest.mark.parametrize(
    "instrument_kwargs", [{"request_field_attribution": {"user": "customer_id"}, "hash_request_fields": True}]
)
def test_request_fields_hashed(telemetry: Traced, client: openai.OpenAI) -> None:
    client.chat.completions.create(**CHAT, user="alice@example.com")
    with billing_context(customer_id="bob"):
        client.chat.completions.create(**CHAT, user="bob")

    from_field, explicit = telemetry.spans()
    # sha256("alice@example.com") = ff8d9819fc0e12bf..., the first 16 hex digits kept.
    assert from_field.attributes[n.CUSTOMER_ID] == "ff8d9819fc0e12bf"
    # billing_context values are the caller's own: never hashed, and they win over request fields.
    assert explicit.attributes[n.CUSTOMER_ID] == "bob"


@pytest.mark.parametrize("instrument_kwargs", [{"request_field_attribution": {"user": "customer_id"}}])
def test_request_field_wins_over_baggage(telemetry: Traced, client: openai.OpenAI) -> None:
    token = otel_context.attach(baggage.set_baggage("customer.id", "from-baggage"))
    try:
        client.chat.completions.create(**CHAT, user="from-request")
        client.chat.completions.create(**CHAT, extra_body={"user": "from-extra-body"})
        client.chat.completions.create(**CHAT)
    finally:
        otel_context.detach(token)

    assert [s.attributes[n.CUSTOMER_ID] for s in telemetry.spans()] == [
        "from-request",
        "from-extra-body",
        "from-baggage",
    ]


def test_options_from_the_environment() -> None:
    config = resolve(
        {},
        {
            "OTEL_OPENAI_BILLING_BAGGAGE_KEYS": "tenant=customer_id, plan=plan",
            "OTEL_OPENAI_BILLING_REQUEST_FIELD_ATTRIBUTION": "user=customer_id,metadata.feature=feature",
            "OTEL_OPENAI_BILLING_HASH_REQUEST_FIELDS": "true",
            "OTEL_OPENAI_BILLING_METRIC_ATTRIBUTION_KEYS": "customer_id, feature",
            "OTEL_OPENAI_BILLING_METRIC_ATTRIBUTION_LIMIT": "25",
            "OTEL_OPENAI_BILLING_COST_ROLLUP": "false",
        },
    )
    assert config.baggage_keys == (("tenant", "customer_id"), ("plan", "plan"))
    assert config.request_field_attribution == (("user", "customer_id"), ("metadata.feature", "feature"))
    assert config.hash_request_fields is True
    assert config.metric_attribution_keys == ("customer_id", "feature")
    assert config.metric_attribution_limit == 25
    assert config.cost_rollup is False


def test_defaults_and_keyword_arguments_over_the_environment() -> None:
    defaults = resolve({}, {})
    assert defaults.baggage_keys == (("customer.id", "customer_id"), ("feature", "feature"))
    assert defaults.request_field_attribution == ()
    assert defaults.metric_attribution_keys == ()
    assert defaults.metric_attribution_limit == 100
    assert defaults.cost_rollup is True

    env = {
        "OTEL_OPENAI_BILLING_METRIC_ATTRIBUTION_KEYS": "feature",
        "OTEL_OPENAI_BILLING_BAGGAGE_KEYS": "a=b",
    }
    config = resolve({"metric_attribution_keys": ["customer_id"], "baggage_keys": {}}, env)
    assert config.metric_attribution_keys == ("customer_id",)
    assert config.baggage_keys == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"request_field_attribution": {"messages": "customer_id"}}, "unknown request field 'messages'"),
        ({"request_field_attribution": "user"}, "expected key=value pairs"),
        ({"metric_attribution_limit": 0}, "expected at least 1"),
        ({"metric_attribution_limit": "many"}, "expected a whole number"),
    ],
)
def test_invalid_options_are_refused_at_instrument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OpenAIBillingInstrumentor().instrument(**kwargs)
