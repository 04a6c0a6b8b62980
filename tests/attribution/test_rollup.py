"""The roll-up: every call's cost also summed onto the local root span (the request that caused it)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context, rollup
from otel_openai_billing import names as n
from tests.attribution.conftest import Traced
from tests.core.conftest import CHAT
from tests.fakes.openai_server import FakeOpenAI

# 19 input and 10 output tokens (the fake server's chat usage) at each model's price per million:
MINI = 0.00000885  # gpt-4o-mini: 19 * 0.15 + 10 * 0.60 = 8.85 µ$
FOUR_O = 0.0001475  # gpt-4o:     19 * 2.50 + 10 * 10.0 = 147.5 µ$
NANO = 0.0000059  # gpt-4.1-nano: 19 * 0.10 + 10 * 0.40 = 5.9 µ$


def _chat(model: str) -> dict[str, Any]:
    return {**CHAT, "model": model}


def _rollup(span: Any) -> tuple[Any, Any, Any]:
    attrs = span.attributes
    return attrs.get(n.ROLLUP_COST), attrs.get(n.ROLLUP_CALLS), attrs.get(n.ROLLUP_UNPRICED_CALLS)


def test_every_call_under_a_request_adds_up_on_its_root(telemetry: Traced, client: openai.OpenAI) -> None:
    with telemetry.tracer.start_as_current_span("GET /answer"):
        client.chat.completions.create(**_chat("gpt-4o-mini"))
        with telemetry.tracer.start_as_current_span("retrieve"):
            client.chat.completions.create(**_chat("gpt-4o"))
            client.chat.completions.create(**_chat("gpt-4.1-nano"))

    cost, calls, unpriced = _rollup(telemetry.span_named("GET /answer"))
    assert cost == pytest.approx(MINI + FOUR_O + NANO, abs=1e-15)  # 162.25 µ$
    assert (calls, unpriced) == (3, 0)
    assert _rollup(telemetry.span_named("retrieve")) == (None, None, None)  # only the root
    assert all(_rollup(call) == (None, None, None) for call in telemetry.calls())


def test_two_requests_in_flight_keep_their_own_totals(telemetry: Traced, client: openai.OpenAI) -> None:
    tracer = telemetry.tracer
    first, second = tracer.start_span("request 1"), tracer.start_span("request 2")
    # Interleaved on one thread: what matters is the context each call is made in.
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini"):
        with trace.use_span(first):
            client.chat.completions.create(**_chat(model))
        with trace.use_span(second):
            client.chat.completions.create(**_chat("gpt-4.1-nano"))
    first.end()
    second.end()

    assert _rollup(telemetry.span_named("request 1")) == (pytest.approx(2 * MINI + FOUR_O, abs=1e-15), 3, 0)
    assert _rollup(telemetry.span_named("request 2")) == (pytest.approx(3 * NANO, abs=1e-15), 3, 0)


def test_unpriced_and_failed_calls_are_counted(
    telemetry: Traced, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    with telemetry.tracer.start_as_current_span("request"):
        client.chat.completions.create(**_chat("gpt-4o-mini"))
        client.chat.completions.create(**_chat("ft:our-own-model"))  # not in any price data
        server.fail_next(status=500)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**_chat("gpt-4o"))  # not billed

    # Three calls; the total is a lower bound because one of them could not be priced.
    assert _rollup(telemetry.span_named("request")) == (pytest.approx(MINI, abs=1e-15), 3, 1)


def test_a_call_without_an_enclosing_span_has_no_rollup(telemetry: Traced, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**CHAT)

    assert _rollup(telemetry.only_span()) == (None, None, None)


def test_a_calls_own_span_is_never_tracked_as_a_root(telemetry: Traced, client: openai.OpenAI) -> None:
    # The processor skips the calls' own spans (no call ever starts inside one): while a stream's span
    # is open, only the request is tracked, and a call made as the stream is read rolls onto the request.
    processor = rollup.processor_for(telemetry.tracer_provider)
    with telemetry.tracer.start_as_current_span("request") as request:
        stream = client.chat.completions.create(**_chat("gpt-4o"), stream=True)
        tracked = {span_id for _, span_id in processor._roots}
        assert tracked == {request.get_span_context().span_id}
        for _ in stream:
            client.chat.completions.create(**_chat("gpt-4o-mini"))
            break
        list(stream)
    assert processor._roots == {}

    stream_call, chat_call = sorted(telemetry.calls(), key=lambda s: s.start_time)
    assert stream_call.attributes[n.STREAM_ENDED_BY] == "exhausted"
    cost, calls, unpriced = _rollup(telemetry.span_named("request"))
    assert cost == pytest.approx(FOUR_O + MINI, abs=1e-15)  # 156.35 µ$
    assert (calls, unpriced) == (2, 0)
    assert chat_call.attributes[n.COST_AMOUNT] == pytest.approx(MINI, abs=1e-15)


def test_a_stream_read_in_another_thread_rolls_up_to_the_request_that_started_it(
    telemetry: Traced, client: openai.OpenAI
) -> None:
    request = telemetry.tracer.start_span("request")
    with trace.use_span(request), billing_context(customer_id="acme"):
        stream = client.chat.completions.create(**CHAT, stream=True)
    # Read (and so ended) outside the request's context, in a thread that has none.
    reader = threading.Thread(target=lambda: list(stream))
    reader.start()
    reader.join()
    request.end()

    (call,) = telemetry.calls()
    assert call.attributes[n.STREAM_ENDED_BY] == "exhausted"
    assert call.attributes[n.CUSTOMER_ID] == "acme"
    assert call.parent is not None and call.parent.span_id == request.get_span_context().span_id
    assert _rollup(telemetry.span_named("request")) == (call.attributes[n.COST_AMOUNT], 1, 0)


async def test_an_async_stream_read_in_another_task(telemetry: Traced, aclient: openai.AsyncOpenAI) -> None:
    async def start() -> Any:
        return await aclient.chat.completions.create(**CHAT, stream=True)

    request = telemetry.tracer.start_span("request")
    with trace.use_span(request), billing_context(customer_id="acme", feature="chat"):
        stream = await asyncio.create_task(start())

    async def read() -> None:
        async for _ in stream:
            pass

    with billing_context(customer_id="someone-else"):
        await asyncio.create_task(read())
    request.end()

    (call,) = telemetry.calls()
    assert (call.attributes[n.CUSTOMER_ID], call.attributes[n.FEATURE]) == ("acme", "chat")
    assert _rollup(telemetry.span_named("request")) == (call.attributes[n.COST_AMOUNT], 1, 0)


def test_a_call_ending_after_its_root_ended_is_in_no_rollup(
    telemetry: Traced, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with telemetry.tracer.start_as_current_span("request"), billing_context(customer_id="acme"):
        client.chat.completions.create(**CHAT)
        stream = client.chat.completions.create(**CHAT, stream=True)
    with caplog.at_level(logging.WARNING):
        list(stream)  # the response was sent before the stream was read to its end

    assert caplog.records == []  # no "Setting attribute on ended span" from the SDK
    stream_call = telemetry.calls()[-1]
    assert stream_call.attributes[n.CUSTOMER_ID] == "acme"  # still attributed on its own span
    assert _rollup(telemetry.span_named("request")) == (pytest.approx(MINI, abs=1e-15), 1, 0)


@pytest.mark.parametrize("instrument_kwargs", [{"cost_rollup": False}])
def test_rollup_can_be_turned_off(telemetry: Traced, client: openai.OpenAI) -> None:
    with telemetry.tracer.start_as_current_span("request"):
        client.chat.completions.create(**CHAT)

    assert _rollup(telemetry.span_named("request")) == (None, None, None)


def test_uninstrumented_the_processor_stops_tracking(telemetry: Traced, client: openai.OpenAI) -> None:
    OpenAIBillingInstrumentor().uninstrument()
    with telemetry.tracer.start_as_current_span("before re-instrumenting"):
        OpenAIBillingInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
        with telemetry.tracer.start_as_current_span("request"):
            client.chat.completions.create(**CHAT)

    # Started while uninstrumented: untracked, so the span started under it is the local root.
    assert _rollup(telemetry.span_named("before re-instrumenting")) == (None, None, None)
    assert _rollup(telemetry.span_named("request")) == (pytest.approx(MINI, abs=1e-15), 1, 0)


def test_without_the_sdk_tracer_provider_rollup_is_unavailable(
    server: FakeOpenAI, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    instrumentor = OpenAIBillingInstrumentor()
    with caplog.at_level(logging.WARNING, logger="otel_openai_billing"):
        instrumentor.instrument(tracer_provider=NoOpTracerProvider())
    try:
        with billing_context(customer_id="acme"):
            client.chat.completions.create(**CHAT)  # still works, with nowhere to roll up to
    finally:
        instrumentor.uninstrument()

    (record,) = caplog.records
    assert "roll-up onto request spans is unavailable" in record.getMessage()
    assert "NoOpTracerProvider" in record.getMessage()
