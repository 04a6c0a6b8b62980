"""instrument / uninstrument / double instrumentation / helper modes / never harming the app."""

from __future__ import annotations

import logging

import openai
import pytest
import wrapt
from openai._base_client import BaseClient, SyncAPIClient
from openai._streaming import Stream

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from otel_openai_billing.emit import Emitter
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI


def _is_wrapped(fn: object) -> bool:
    return hasattr(fn, "__wrapped__")


def test_uninstrument_restores_the_sdk(server: FakeOpenAI, client: openai.OpenAI) -> None:
    originals = (SyncAPIClient.request, BaseClient._process_response_data, Stream.__stream__)
    tel = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        assert _is_wrapped(SyncAPIClient.__dict__["request"])
    finally:
        instrumentor.uninstrument()
    assert (SyncAPIClient.request, BaseClient._process_response_data, Stream.__stream__) == originals
    assert not _is_wrapped(SyncAPIClient.__dict__["request"])
    client.chat.completions.create(**CHAT)
    assert tel.spans() == []


def test_instrumenting_twice_records_once(server: FakeOpenAI, client: openai.OpenAI) -> None:
    tel = Telemetry()
    first, second = OpenAIBillingInstrumentor(), OpenAIBillingInstrumentor()
    first.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    second.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        client.chat.completions.create(**CHAT)
    finally:
        first.uninstrument()
    assert len(tel.spans()) == 1


@pytest.mark.sdk("1.40")
def test_parse_helper_and_raw_modes_make_one_span_each(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    parse(**CHAT)
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert len(telemetry.spans()) == 1  # the raw response's call ends when it is parsed
    raw.parse()
    with client.chat.completions.with_streaming_response.create(**CHAT) as streaming:
        streaming.parse()
    spans = telemetry.spans()
    assert len(spans) == 3
    assert [s.attributes[n.OPENAI_REQUEST_ID] for s in spans] == [
        r.response_request_id for r in server.requests
    ]
    assert all(s.attributes[n.USAGE_INPUT_TOKENS] > 0 for s in spans)


@pytest.mark.sdk("1.40")
def test_a_raw_response_parsed_in_one_expression_is_recorded_whole(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # `...with_raw_response.create(...).parse()`: nothing but the parse holds the raw response.
    completion = client.chat.completions.with_raw_response.create(**CHAT).parse()
    assert completion.choices[0].message.content
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == completion.usage.prompt_tokens
    assert span.attributes[n.COST_STATUS] == "priced"
    assert type(client.chat.completions.with_raw_response.create(**CHAT)).__name__ == "LegacyAPIResponse"


@pytest.mark.sdk("1.40")
async def test_an_async_raw_response_parsed_in_one_expression_is_recorded_whole(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    completion = (await aclient.chat.completions.with_raw_response.create(**CHAT)).parse()
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_OUTPUT_TOKENS] == completion.usage.completion_tokens
    assert span.attributes[n.COST_STATUS] == "priced"


def test_raw_response_never_parsed_still_ends(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    import gc

    raw = client.chat.completions.with_raw_response.create(**CHAT)
    request_id = raw.headers["x-request-id"]
    del raw
    gc.collect()
    assert telemetry.only_span().attributes[n.OPENAI_REQUEST_ID] == request_id


def test_a_dropped_raw_response_ends_its_call_without_a_garbage_collection(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Watching its parse makes no cycle that keeps it (and the span) alive until a collection.
    import gc

    gc.disable()
    try:
        raw = client.chat.completions.with_raw_response.create(**CHAT)
        request_id = raw.headers["x-request-id"]
        del raw
        assert telemetry.only_span().attributes[n.OPENAI_REQUEST_ID] == request_id
    finally:
        gc.enable()


@pytest.mark.sdk("1.76")  # files.list became cursor-paginated after 1.30
def test_pagination_is_one_span_per_page(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    files = list(client.files.list(extra_query={"limit": 1}))
    assert len(files) == 3
    assert len(telemetry.spans()) == len(server.requests) == 3


def test_a_fault_in_the_instrumentation_never_reaches_the_app(
    telemetry: Telemetry,
    server: FakeOpenAI,
    client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("emission bug")

    monkeypatch.setattr(Emitter, "finish", broken)
    with caplog.at_level(logging.DEBUG, logger="otel_openai_billing"):
        first = client.chat.completions.create(**CHAT)
        second = client.chat.completions.create(**CHAT)
        chunks = list(client.chat.completions.create(**CHAT, stream=True))
    assert isinstance(first, openai.types.chat.ChatCompletion)
    assert first.choices[0].message.content == second.choices[0].message.content == server.reply_text
    assert chunks and all(c.choices for c in chunks)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "emission bug" in r.getMessage()
    ]
    # Once per kind (the end of a call, the end of a stream); repeats go to debug level.
    assert len(warnings) == 2
    assert len({r.getMessage().split(" failed")[0] for r in warnings}) == 2


def test_another_instrumentation_is_named_in_a_warning(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    from openai.resources.chat.completions import Completions

    def foreign(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        return wrapped(*args, **kwargs)

    foreign.__module__ = "opentelemetry.instrumentation.openai_v2.patch"
    wrapt.wrap_function_wrapper(Completions, "create", foreign)
    instrumentor = OpenAIBillingInstrumentor()
    try:
        with caplog.at_level(logging.WARNING, logger="otel_openai_billing"):
            instrumentor.instrument(tracer_provider=Telemetry().tracer_provider)
    finally:
        instrumentor.uninstrument()
        Completions.create = Completions.create.__wrapped__  # type: ignore[method-assign]
    assert any("opentelemetry.instrumentation.openai_v2" in r.getMessage() for r in caplog.records)
