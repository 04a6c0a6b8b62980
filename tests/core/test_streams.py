"""Streams: the span ends however the stream ends, and the caller sees exactly its own stream."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import wrapt
from openai._base_client import BaseClient
from opentelemetry.trace import StatusCode

from otel_openai_billing import OpenAIBillingInstrumentor, hooks
from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI

USAGE = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


def _dump(chunks: list[Any]) -> list[dict[str, Any]]:
    # exclude_unset: a key the server sent as null differs from one it never sent.
    return [c.model_dump(exclude_unset=True) for c in chunks]


def _uninstrumented_chunks(client: openai.OpenAI, server: FakeOpenAI, **kw: Any) -> list[dict[str, Any]]:
    chunks = _dump(list(client.chat.completions.create(**CHAT, stream=True, **kw)))
    for chunk in chunks:  # ids and timestamps differ per call
        chunk.pop("id"), chunk.pop("created")
    return chunks


def test_injected_usage_is_recorded_but_never_seen_by_the_caller(
    server: FakeOpenAI, client: openai.OpenAI
) -> None:
    baseline = _uninstrumented_chunks(client, server)
    tel = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        server.next_usage = USAGE
        seen = _uninstrumented_chunks(client, server)
    finally:
        instrumentor.uninstrument()
    assert seen == baseline
    assert all(c["choices"] for c in seen)
    assert server.requests[-1].json["stream_options"] == {"include_usage": True}
    span = tel.only_span()
    assert span.attributes[n.STREAM_USAGE_INJECTED] is True
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 21
    assert span.attributes[n.USAGE_OUTPUT_TOKENS] == 9
    assert span.attributes[n.STREAM_ENDED_BY] == "exhausted"
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    assert span.attributes[n.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_caller_who_asked_for_usage_gets_the_usage_chunk(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = USAGE
    chunks = list(client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 21
    span = telemetry.only_span()
    assert n.STREAM_USAGE_INJECTED not in span.attributes
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 21


@pytest.mark.parametrize("instrument_kwargs", [{"inject_stream_usage": False, "estimate_usage": False}])
def test_injection_can_be_switched_off(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
) -> None:
    list(client.chat.completions.create(**CHAT, stream=True))
    assert "stream_options" not in server.requests[-1].json
    span = telemetry.only_span()
    assert n.USAGE_INPUT_TOKENS not in span.attributes
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_UNPRICED


def test_legacy_completion_stream_gets_usage(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = {"prompt_tokens": 3, "completion_tokens": 12, "total_tokens": 15}
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi", stream=True))
    assert all(c.choices for c in chunks)
    assert telemetry.only_span().attributes[n.USAGE_OUTPUT_TOKENS] == 12


def test_usage_on_every_chunk_is_read_and_kept_from_the_caller(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Some OpenAI-compatible servers (vLLM's continuous usage stats) put the running usage on every
    # chunk. Chunks after the first take a short way through the record only without usage; these are
    # read whole, the last count wins, and with include_usage injected the caller never sees it.
    def chunk(delta: dict[str, Any], finish: str | None, completion: int | None) -> str:
        event: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if completion is not None:
            total = 21 + completion
            event["usage"] = {"prompt_tokens": 21, "completion_tokens": completion, "total_tokens": total}
        return f"data: {json.dumps(event)}\n\n"

    events = [
        chunk({"role": "assistant", "content": ""}, None, 0),
        chunk({"content": "Hi"}, None, 1),
        chunk({"content": "!"}, None, 2),
        chunk({}, "stop", None),
    ]
    server.raw_next(("".join(events) + "data: [DONE]\n\n").encode(), "text/event-stream")
    chunks = list(client.chat.completions.create(**CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi!"
    assert all(c.usage is None for c in chunks)
    span = telemetry.only_span()
    assert span.attributes[n.STREAM_USAGE_INJECTED] is True
    assert (span.attributes[n.USAGE_INPUT_TOKENS], span.attributes[n.USAGE_OUTPUT_TOKENS]) == (21, 2)
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_PRICED


@contextlib.contextmanager
def _counting(*functions: Any) -> Iterator[list[int]]:
    """How often each Python function runs (by its code) in this thread while the block runs."""
    codes = [f.__code__ for f in functions]
    counts = [0] * len(codes)

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in codes:
            counts[codes.index(frame.f_code)] += 1

    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(None)


def test_stream_events_take_the_streams_own_step(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # A followed stream's events go to a step that already knows the record, not through the wrapt
    # hook, which would find the record again on every chunk; the stand-in client that hands the SDK
    # that step is gone after the first chunk.
    server.next_usage = USAGE
    stream = client.chat.completions.create(**CHAT, stream=True)
    chunks: list[Any] = []

    def read() -> None:
        for chunk in stream:
            chunks.append(chunk)
            assert stream._client is client

    sdk_step = BaseClient.__dict__["_process_response_data"].__wrapped__
    with _counting(hooks.process_response_data, sdk_step) as counts:
        read()
    hooked, direct = counts
    assert len(chunks) > 2 and all(c.choices for c in chunks)
    assert hooked == 0
    assert direct == len(chunks)  # every chunk the caller got; the usage chunk never reached the SDK
    span = telemetry.only_span()
    assert (span.attributes[n.USAGE_INPUT_TOKENS], span.attributes[n.USAGE_OUTPUT_TOKENS]) == (21, 9)
    assert span.attributes[n.STREAM_ENDED_BY] == "exhausted"


async def test_async_stream_events_take_the_streams_own_step(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    server.next_usage = USAGE
    stream = await aclient.chat.completions.create(**CHAT, stream=True)
    chunks: list[Any] = []

    async def read() -> None:
        async for chunk in stream:
            chunks.append(chunk)
            assert stream._client is aclient

    sdk_step = BaseClient.__dict__["_process_response_data"].__wrapped__
    with _counting(hooks.process_response_data, sdk_step) as counts:
        await read()
    hooked, direct = counts
    assert len(chunks) > 2 and all(c.choices for c in chunks)
    assert (hooked, direct) == (0, len(chunks))
    assert telemetry.only_span().attributes[n.USAGE_OUTPUT_TOKENS] == 9


def test_a_wrapper_over_ours_still_sees_every_event(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Another instrumentation that wraps the SDK's per-event step after us must see every event, so
    # then the stream takes no short cut past the step.
    seen: list[Any] = []

    def theirs(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        seen.append(kwargs["data"])
        return wrapped(*args, **kwargs)

    ours = BaseClient.__dict__["_process_response_data"]
    wrapt.wrap_function_wrapper(BaseClient, "_process_response_data", theirs)
    try:
        server.next_usage = USAGE
        chunks = list(client.chat.completions.create(**CHAT, stream=True))
    finally:
        BaseClient._process_response_data = ours
    assert len(chunks) > 2 and all(c.choices for c in chunks)
    assert len(seen) == len(chunks) + 1  # and the usage chunk we asked for, which ours then dropped
    span = telemetry.only_span()
    assert (span.attributes[n.USAGE_INPUT_TOKENS], span.attributes[n.USAGE_OUTPUT_TOKENS]) == (21, 9)


def test_a_stream_with_no_chunk_for_the_caller_gets_its_client_back(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # Only the usage chunk we asked for: the caller gets nothing, and the stand-in client goes at the end.
    event: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 1, "choices": []}
    event["model"] = "gpt-4o-mini"
    event["usage"] = USAGE
    server.raw_next(f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode(), "text/event-stream")
    stream = client.chat.completions.create(**CHAT, stream=True)
    assert list(stream) == []
    assert stream._client is client
    assert telemetry.only_span().attributes[n.USAGE_INPUT_TOKENS] == 21


def test_closed_early(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(**CHAT, stream=True)
    next(iter(stream))
    assert telemetry.spans() == []  # still open while the caller holds the stream
    stream.close()
    span = telemetry.only_span()
    assert span.attributes[n.STREAM_ENDED_BY] == "closed"
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    assert span.status.status_code is StatusCode.UNSET


def test_context_manager(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.next_usage = USAGE
    with client.chat.completions.create(**CHAT, stream=True) as stream:
        for _ in stream:
            pass
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 21


def test_broken_midway(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.cut_next_stream(after_chunks=2)
    stream = client.chat.completions.create(**CHAT, stream=True)
    # openai 3.x raises APIConnectionError; older versions let the transport's error through.
    with pytest.raises(Exception) as raised:
        list(stream)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[n.ERROR_TYPE].endswith(type(raised.value).__name__)
    assert span.attributes[n.STREAM_ENDED_BY] == "error"
    assert span.attributes[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id
    # Billed by OpenAI for what was generated, but no usage arrived: estimated from the request and the
    # text received (tests/estimate checks the counts), flagged as such, never $0.
    assert span.attributes[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert span.attributes[n.COST_ESTIMATE_METHOD] == "tiktoken:o200k_base"
    assert span.attributes[n.USAGE_ESTIMATED] is True
    assert span.attributes[n.COST_AMOUNT] > 0


def test_abandoned_streams_end_when_collected(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    never_iterated = client.chat.completions.create(**CHAT, stream=True)
    half_read = client.chat.completions.create(**CHAT, stream=True)
    next(iter(half_read))
    del never_iterated, half_read
    gc.collect()
    spans = telemetry.spans()
    assert len(spans) == 2
    assert {s.attributes[n.STREAM_ENDED_BY] for s in spans} == {"abandoned"}


@pytest.mark.sdk("1.66")
def test_responses_stream(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.next_usage = {
        "input_tokens": 40,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 15,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 55,
    }
    events = list(client.responses.create(model="gpt-4.1", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 40
    assert span.attributes[n.USAGE_OUTPUT_TOKENS] == 15
    assert span.attributes[n.RESPONSE_ID] == events[-1].response.id
    assert n.STREAM_USAGE_INJECTED not in span.attributes  # Responses streams always carry usage


def _chat_stream_helper(client: openai.OpenAI) -> Any:
    helper = getattr(client.chat.completions, "stream", None)
    return helper if helper is not None else client.beta.chat.completions.stream


@pytest.mark.sdk("1.40")
def test_stream_helper_makes_one_span(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.next_usage = USAGE
    with _chat_stream_helper(client)(**CHAT) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.usage is None  # what the caller would get uninstrumented: it did not ask for usage
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 21


@pytest.mark.sdk("1.66")
def test_responses_stream_helper(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == final.usage.input_tokens


def test_raw_response_stream(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.next_usage = USAGE
    raw = client.chat.completions.with_raw_response.create(**CHAT, stream=True)
    assert raw.headers["x-request-id"] == server.requests[-1].response_request_id
    chunks = list(raw.parse())
    assert all(c.choices for c in chunks)
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_OUTPUT_TOKENS] == 9
    assert span.attributes[n.OPENAI_REQUEST_ID] == raw.headers["x-request-id"]


async def test_async_stream(telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI) -> None:
    server.next_usage = USAGE
    stream = await aclient.chat.completions.create(**CHAT, stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    span = telemetry.only_span()
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 21
    assert span.attributes[n.STREAM_ENDED_BY] == "exhausted"


async def test_async_stream_closed_early(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    stream = await aclient.chat.completions.create(**CHAT, stream=True)
    async for _ in stream:
        break
    await stream.close()
    assert telemetry.only_span().attributes[n.STREAM_ENDED_BY] == "closed"


async def test_async_stream_broken_midway(
    telemetry: Telemetry, server: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    server.cut_next_stream(after_chunks=1)
    stream = await aclient.chat.completions.create(**CHAT, stream=True)
    with pytest.raises(Exception):  # noqa: B017 - the SDK version decides which (see above)
        async for _ in stream:
            pass
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[n.STREAM_ENDED_BY] == "error"
