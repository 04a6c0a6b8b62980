"""Bad responses and odd lifecycles: every call still ends exactly one span, with nothing of the request."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI

CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}


def _chat_body(**changes: Any) -> bytes:
    choices = [
        {"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"},
        {"index": None, "message": {"role": "assistant", "content": "b"}, "finish_reason": "length"},
    ]
    usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini"}
    return json.dumps({**body, "choices": choices, "usage": usage, **changes}).encode()


def _sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


def _everything(span: Any) -> str:
    """Every string the span carries: name, status, attributes, events."""
    parts = [span.name, span.status.description or ""]
    parts += [f"{k}={v}" for k, v in span.attributes.items()]
    for event in span.events:
        parts += [event.name, *(f"{k}={v}" for k, v in event.attributes.items())]
    return "\n".join(parts)


def test_a_choice_without_an_index_still_ends_the_span(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.raw_next(_chat_body())
    client.chat.completions.create(**CHAT, n=2)
    span = telemetry.only_span()
    # The second choice's index is null: its place in the list (1) stands in for it.
    assert span.attributes[n.RESPONSE_FINISH_REASONS] == ("stop", "length")
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 10


@pytest.mark.parametrize("junk", [-5, 2**70, 1e308], ids=["negative", "past-64-bits", "huge-float"])
def test_implausible_counts_are_flagged_not_recorded(
    telemetry: Telemetry,
    server: FakeOpenAI,
    client: openai.OpenAI,
    junk: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.raw_next(_chat_body(usage={"prompt_tokens": junk, "completion_tokens": 4, "total_tokens": 14}))
    with caplog.at_level(logging.DEBUG, logger="otel_openai_billing"):
        client.chat.completions.create(**CHAT)
    span = telemetry.only_span()
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_INCONSISTENT
    assert "prompt" not in span.attributes.get(n.COST_UNPRICED_REASON, "prompt")
    assert "input_tokens" in span.attributes[n.COST_UNPRICED_REASON]
    assert n.USAGE_INPUT_TOKENS not in span.attributes
    assert n.COST_AMOUNT not in span.attributes
    assert span.attributes[n.USAGE_OUTPUT_TOKENS] == 4  # the plausible count is kept
    # The token histogram got the output count only; the cost counter nothing, the unpriced counter 1.
    tokens = telemetry.metric_points(n.METRIC_TOKEN_USAGE)
    assert [(p.attributes[n.TOKEN_TYPE], p.sum) for p in tokens] == [(n.TOKEN_TYPE_OUTPUT, 4)]
    assert telemetry.metric_points(n.METRIC_COST) == []
    assert [p.value for p in telemetry.metric_points(n.METRIC_UNPRICED_CALLS)] == [1]
    assert any("inconsistent" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "usage_chunk",
    [
        {**CHUNK, "choices": [], "usage": None},
        {**CHUNK, "choices": "abc", "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
        {**CHUNK, "choices": [], "usage": {"completion_tokens": 2}},
        {**CHUNK, "model": -1, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ],
    ids=["usage-null", "choices-not-a-list", "no-prompt-tokens", "model-not-a-string"],
)
def test_a_malformed_injected_usage_chunk_never_reaches_a_strict_caller(
    telemetry: Telemetry, server: FakeOpenAI, usage_chunk: dict[str, Any]
) -> None:
    content = {**CHUNK, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    server.raw_next(_sse({**content, "usage": None}, usage_chunk), "text/event-stream")
    strict = openai.OpenAI(
        api_key="sk-test", base_url=server.base_url, max_retries=0, _strict_response_validation=True
    )
    with strict:
        chunks = list(strict.chat.completions.create(**CHAT, stream=True))
    # Exactly the one chunk the caller would have had without us, and no validation error.
    assert [c.choices[0].delta.content for c in chunks] == ["hi"]
    assert chunks[0].model_dump(exclude_unset=True).get("usage", "absent") == "absent"
    span = telemetry.only_span()
    assert span.attributes[n.STREAM_ENDED_BY] == "exhausted"
    assert span.status.status_code is not StatusCode.ERROR


def test_a_stream_event_that_is_not_a_chat_chunk_reaches_the_caller_with_usage_injected(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Without choices, like the usage chunk we asked for, but not a bare chat chunk: the caller gets
    # it whether we asked for usage or not, so we never drop it.
    content = {**CHUNK, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    usage = {**CHUNK, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    event = 'data: {"type": "response.completed", "response": {"status": "completed", "usage": null}}\n\n'

    def answer(injected: bool) -> bytes:
        first = f"data: {json.dumps({**content, 'usage': None} if injected else content)}\n\n"
        last = f"data: {json.dumps(usage)}\n\n" if injected else ""
        return (first + event + last + "data: [DONE]\n\n").encode()

    instrumentor = OpenAIBillingInstrumentor()  # one instance per class: the fixture's
    instrumentor.uninstrument()
    server.raw_next(answer(injected=False), "text/event-stream")
    plain = [repr(c) for c in client.chat.completions.create(**CHAT, stream=True)]
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    server.raw_next(answer(injected=True), "text/event-stream")
    ours = [repr(c) for c in client.chat.completions.create(**CHAT, stream=True)]
    assert len(plain) == 2
    assert ours == plain
    span = telemetry.only_span()
    assert span.attributes[n.STREAM_USAGE_INJECTED] is True
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 3  # the usage chunk was ours, and dropped


def test_api_error_text_that_quotes_the_request_stays_out_of_the_span(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    secret = "SECRET-PROMPT-4711"
    error = {
        "message": f"Invalid value for 'messages[0].content': '{secret}' is not allowed.",
        "type": "invalid_request_error",
        "param": "messages[0].content",
        "code": "invalid_value",
    }
    server.fail_next(status=400, body={"error": error})
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": secret}])
    assert secret in str(raised.value)  # the caller's own exception is untouched
    span = telemetry.only_span()
    assert secret not in _everything(span)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == (
        "openai.BadRequestError (type=invalid_request_error, code=invalid_value, param=messages[0].content)"
    )
    (event,) = span.events
    assert event.name == n.EVENT_EXCEPTION
    assert event.attributes[n.EXCEPTION_TYPE] == "openai.BadRequestError"
    assert event.attributes[n.EXCEPTION_MESSAGE] == span.status.description


@pytest.mark.sdk("1.40")
def test_a_raw_response_whose_parse_raises_ends_its_span_then(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.raw_next(b"{not json", "application/json")
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert telemetry.spans() == []  # the call ends when the response is parsed
    with pytest.raises(ValueError):
        raw.parse()
    span = telemetry.only_span()  # now, while `raw` is still alive: not at garbage collection
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[n.ERROR_TYPE] == "json.decoder.JSONDecodeError"
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    del raw


@pytest.mark.sdk("1.40")
async def test_an_async_raw_response_whose_parse_raises_ends_its_span_then(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    server.raw_next(b"{not json", "application/json")
    raw = await aclient.chat.completions.with_raw_response.create(**CHAT)
    with pytest.raises(ValueError):
        await raw.parse()
    assert telemetry.only_span().status.status_code is StatusCode.ERROR


async def test_async_streams_ended_by_garbage_collection_close_quietly(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    # Each stream is read one chunk, then dropped: the event loop finalizes the generators.
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(5):
            stream = await aclient.chat.completions.create(**CHAT, stream=True)
            async for _chunk in stream:
                break
            del stream, _chunk
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0.05)
    noise = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert noise == []
    spans = telemetry.spans()
    assert len(spans) == 5
    assert {s.attributes[n.STREAM_ENDED_BY] for s in spans} == {"abandoned"}


def test_the_callers_headers_and_body_are_never_changed(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Our header and stream option go on the call's own options, as new values: the caller's dicts,
    # reused for the next call, stay as they were.
    headers = {"X-Trace": "1"}
    stream_options: dict[str, Any] = {}
    chunks = list(
        client.chat.completions.create(
            **CHAT, stream=True, extra_headers=headers, extra_body={"x": stream_options}
        )
    )
    assert headers == {"X-Trace": "1"}
    assert stream_options == {}
    sent = server.requests[-1]
    assert sent.headers["X-Client-Request-Id"] == telemetry.only_span().attributes[n.OPENAI_CLIENT_REQUEST_ID]
    assert sent.json["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)


JUNK_VALUES = [["response.output_text.delta"], {"type": "x"}, 7, None]


def _later_junk(api: str, junk: Any) -> list[dict[str, Any]]:
    if api == "chat":
        return [
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}]},
            {**CHUNK, "choices": [{"index": 0, "delta": {"content": junk}, "finish_reason": junk}]},
            {**CHUNK, "choices": junk},
            {**CHUNK, "choices": [{"index": 0, "delta": junk, "finish_reason": None}], "usage": junk},
        ]
    response = {"id": "resp_1", "object": "response", "model": "gpt-4o-mini", "status": "in_progress"}
    return [
        {"type": "response.created", "response": response, "sequence_number": 0},
        {"type": junk, "delta": "x", "sequence_number": 1},
        {"type": "response.output_text.delta", "delta": junk, "sequence_number": 2},
    ]


# Chunks and events after a stream's first take a short way through the record; junk there (a list or
# a dict would not even hash) takes the long way, and neither raises.
@pytest.mark.parametrize("junk", JUNK_VALUES)
@pytest.mark.parametrize("api", ["chat", pytest.param("responses", marks=pytest.mark.sdk("1.66"))])
def test_junk_in_a_later_stream_event_is_no_fault(
    telemetry: Telemetry,
    server: FakeOpenAI,
    client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
    api: str,
    junk: Any,
) -> None:
    server.raw_next(_sse(*_later_junk(api, junk)), "text/event-stream")
    with caplog.at_level(logging.DEBUG, logger="otel_openai_billing"):
        if api == "chat":
            list(client.chat.completions.create(**CHAT, stream=True))
        else:
            list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    faults = [r.getMessage() for r in caplog.records if r.name.startswith("otel_openai_billing")]
    assert [m for m in faults if "failed" in m] == []
    assert len(telemetry.spans()) == 1


# The read timeout the stalled streams below run into, and how long the server stays silent (well past it).
_READ_TIMEOUT_S, _STALL_S = 0.3, 1.0
# What a read timeout mid-stream reaches the caller as: the SDK's APITimeoutError, or (SDKs that do not
# map errors raised while a stream is read) the HTTP library's own.
_TIMEOUT_TYPES = {"openai.APITimeoutError", "httpx.ReadTimeout", "httpx2.ReadTimeout"}


def _assert_stalled_stream_span(telemetry: Telemetry, raised: BaseException, chunks: int) -> None:
    span = telemetry.only_span()
    attrs = span.attributes
    kind = f"{type(raised).__module__.split('.')[0]}.{type(raised).__qualname__}"
    assert kind in _TIMEOUT_TYPES, kind
    assert chunks == 3  # the three events sent before the stall reached the caller
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[n.ERROR_TYPE] == kind
    assert attrs[n.STREAM_ENDED_BY] == "error"
    # The output was generated (and billed) but its usage chunk never came: estimated from what arrived.
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert attrs[n.USAGE_OUTPUT_TOKENS] > 0


def test_a_stream_that_stalls_past_the_read_timeout_ends_its_span_with_the_timeout(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.stall_next_stream(after_chunks=3, seconds=_STALL_S)
    chunks = 0
    # The type differs across SDK versions: checked against the span below.
    with pytest.raises(Exception) as info:
        for _ in client.with_options(timeout=_READ_TIMEOUT_S).chat.completions.create(**CHAT, stream=True):
            chunks += 1
    _assert_stalled_stream_span(telemetry, info.value, chunks)


async def test_an_async_stream_that_stalls_past_the_read_timeout_ends_its_span_with_the_timeout(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    server.stall_next_stream(after_chunks=3, seconds=_STALL_S)
    chunks = 0
    stream = await aclient.with_options(timeout=_READ_TIMEOUT_S).chat.completions.create(**CHAT, stream=True)
    # The type differs across SDK versions: checked against the span below.
    with pytest.raises(Exception) as info:
        async for _ in stream:
            chunks += 1
    _assert_stalled_stream_span(telemetry, info.value, chunks)
