"""Errors and retries: the caller's exception untouched, every failed attempt on the span."""

from __future__ import annotations

import socket

import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.core.conftest import CHAT, SDK_VERSION, Telemetry
from tests.fakes.openai_server import FakeOpenAI

# openai >= 1.76 hands the failed response to _sleep_for_retry; older versions only its headers.
STATUS_ON_RETRY_EVENTS = SDK_VERSION >= (1, 76)


def _raise(call) -> BaseException:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as raised:
        call()
    return raised.value


def test_error_is_the_callers_exception_and_the_span_says_so(
    server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.clear()
    server.fail_next(1, status=400)
    plain = _raise(lambda: client.with_options(max_retries=0).chat.completions.create(**CHAT))
    tel = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        server.fail_next(1, status=400)
        seen = _raise(lambda: client.with_options(max_retries=0).chat.completions.create(**CHAT))
    finally:
        instrumentor.uninstrument()
    # Same class, message, status and body as without instrumentation; chained the same way.
    assert type(seen) is type(plain) is openai.BadRequestError
    assert str(seen) == str(plain)
    assert seen.status_code == plain.status_code and seen.body == plain.body
    assert type(seen.__cause__) is type(plain.__cause__)
    span = tel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[n.ERROR_TYPE] == "openai.BadRequestError"
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    assert span.attributes[n.HTTP_STATUS_CODE] == 400
    assert n.COST_AMOUNT not in span.attributes and n.COST_STATUS not in span.attributes


def test_two_failures_then_success_stay_in_one_span(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.fail_next(2, status=500)
    client.chat.completions.create(**CHAT)
    span = telemetry.only_span()
    failed, _, ok = server.requests
    assert span.attributes[n.OPENAI_REQUEST_ID] == ok.response_request_id
    assert span.attributes[n.OPENAI_RETRY_COUNT] == 2
    events = [e for e in span.events if e.name == n.EVENT_RETRY]
    assert [e.attributes[n.OPENAI_REQUEST_ID] for e in events] == [
        r.response_request_id for r in server.requests[:2]
    ]
    if STATUS_ON_RETRY_EVENTS:
        assert [e.attributes[n.HTTP_STATUS_CODE] for e in events] == [500, 500]
    # One client request id for the logical call, sent on every attempt.
    ids = {r.headers["X-Client-Request-Id"] for r in server.requests}
    assert ids == {span.attributes[n.OPENAI_CLIENT_REQUEST_ID]}
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_PRICED
    assert failed.response_status == 500


def test_rate_limited_until_retries_run_out(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.fail_next(3, status=429)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**CHAT)
    span = telemetry.only_span()
    assert span.attributes[n.ERROR_TYPE] == "openai.RateLimitError"
    assert span.attributes[n.OPENAI_REQUEST_ID] == raised.value.response.headers["x-request-id"]
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    assert len([e for e in span.events if e.name == n.EVENT_RETRY]) == 2


def test_connection_error_keeps_the_client_request_id(telemetry: Telemetry) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = openai.OpenAI(api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(**CHAT)
    dead.close()
    span = telemetry.only_span()
    assert span.attributes[n.ERROR_TYPE] == "openai.APIConnectionError"
    assert len(span.attributes[n.OPENAI_CLIENT_REQUEST_ID]) == 32
    assert n.OPENAI_REQUEST_ID not in span.attributes


async def test_async_retries_and_errors(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    server.fail_next(1, status=503)
    await aclient.chat.completions.create(**CHAT)
    server.fail_next(1, status=404)
    with pytest.raises(openai.NotFoundError):
        await aclient.with_options(max_retries=0).chat.completions.create(**CHAT)
    ok, failed = telemetry.spans()
    assert ok.attributes[n.OPENAI_RETRY_COUNT] == 1
    assert ok.attributes[n.OPENAI_REQUEST_ID] == server.requests[1].response_request_id
    assert failed.attributes[n.ERROR_TYPE] == "openai.NotFoundError"
    assert failed.attributes[n.OPENAI_REQUEST_ID] == server.requests[2].response_request_id
