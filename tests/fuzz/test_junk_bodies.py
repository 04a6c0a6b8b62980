"""Junk answers through every kind of call: what the caller sees is the same with and without us.

The fuzz suite (test_fuzz.py) varies the values inside well-formed chat, Responses and embeddings
answers. This one takes a fixed list of answers that are wrong as a whole (no JSON, JSON of the wrong
kind, the wrong content type, an error status with a junk body, broken SSE) and sends each to every
kind of call the SDK makes: plain, streamed, raw (parsed in the same expression), streaming-response,
binary bodies, sync and async, lenient and strict clients. Each call must end exactly one span, log
no fault of ours, and leave the metrics exportable.

Chat streams here ask for usage themselves: where we ask on the caller's behalf, an answer without
choices is taken for the usage chunk we asked for (test_fuzz.py covers that path).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

from .test_fuzz import _faults, _metric_problems

CHUNK = {
    "id": "chatcmpl-junk",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}


def _data(event: Any) -> str:
    return f"data: {json.dumps(event)}\n\n"


SSE = "text/event-stream"
# (status, content type, body)
ANSWERS: list[tuple[int, str, bytes]] = [
    (200, "application/json", b""),
    (200, "application/json", b"{not json"),
    (200, "application/json", b"[1, 2]"),
    (200, "application/json", b"5"),
    (200, "application/json", b'"a string"'),
    (200, "application/json", b"null"),
    (200, "application/json", b"\xff\xfe{}"),
    (200, "application/json", b'{"usage": 1, "model": {"a": 1}, "id": [], "choices": {"x": 1}, "data": 5}'),
    (200, "application/json", b'{"usage": {"prompt_tokens": 1e400, "input_tokens": "12"}, "data": "x"}'),
    (200, "text/plain", b"upstream timed out"),
    (200, "text/html", b"<html><body>oops</body></html>"),
    (200, "application/octet-stream", b"\x00\x01\x02"),
    (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    (500, "application/json", b"[1]"),
    (400, "application/json", b'{"error": "a plain string"}'),
    (400, "application/json", b'{"error": null}'),
    (400, "application/json", b'{"error": {"code": 5, "param": [1], "type": {"x": 1}, "message": null}}'),
    (429, "application/json", b"\xff\xfe"),
    (200, SSE, b"data: {bad json\n\n"),
    (200, SSE, b"data: 5\n\ndata: [DONE]\n\n"),
    (200, SSE, b"data: null\n\ndata: []\n\ndata: [DONE]\n\n"),
    (200, SSE, (_data(CHUNK) + 'data: {"error": {"message": "boom", "code": "server_error"}}\n\n').encode()),
    (200, SSE, (_data(CHUNK) + _data(CHUNK)).encode()),  # no [DONE]
    (200, SSE, (_data(CHUNK) + 'data: {"choices": [], "usage": {"prompt_tokens": 5').encode()),
    (200, SSE, (": comment\n\nretry: 5\n\n" + _data(CHUNK) + "data: [DONE]\n\n").encode()),
    (200, SSE, _data({"type": "response.completed", "response": {"usage": "x", "status": 5}}).encode()),
]

MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-4o-mini", "messages": MESSAGES}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}


def _sync_calls(c: openai.OpenAI) -> dict[str, Callable[[], Any]]:
    def streaming_chat() -> Any:
        with c.chat.completions.with_streaming_response.create(**CHAT) as response:
            return response.parse()

    def file_content() -> Any:
        with c.files.with_streaming_response.content("file-1") as response:
            return response.read()

    return {
        "chat": lambda: c.chat.completions.create(**CHAT),
        "chat stream": lambda: list(c.chat.completions.create(**STREAM)),
        "responses": lambda: c.responses.create(model="gpt-4o-mini", input="hi"),
        "responses stream": lambda: list(c.responses.create(model="gpt-4o-mini", input="hi", stream=True)),
        "embeddings": lambda: c.embeddings.create(model="text-embedding-3-small", input="hi"),
        "images": lambda: c.images.generate(model="gpt-image-1", prompt="a cat"),
        "speech": lambda: c.audio.speech.create(model="tts-1", voice="alloy", input="hello").content,
        "completions": lambda: c.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi"),
        "moderations": lambda: c.moderations.create(input="hi"),
        "raw chat": lambda: c.chat.completions.with_raw_response.create(**CHAT).parse(),
        "streaming-response chat": streaming_chat,
        "file content": file_content,
    }


def _async_calls(c: openai.AsyncOpenAI) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def collect(stream: Any) -> list[Any]:
        return [item async for item in await stream]

    async def raw_chat() -> Any:
        return (await c.chat.completions.with_raw_response.create(**CHAT)).parse()

    async def streaming_stream() -> Any:
        async with c.chat.completions.with_streaming_response.create(**STREAM) as response:
            return [item async for item in await response.parse()]

    async def file_content() -> Any:
        async with c.files.with_streaming_response.content("file-1") as response:
            return await response.read()

    return {
        "chat": lambda: c.chat.completions.create(**CHAT),
        "chat stream": lambda: collect(c.chat.completions.create(**STREAM)),
        "responses stream": lambda: collect(c.responses.create(model="gpt-4o-mini", input="hi", stream=True)),
        "embeddings": lambda: c.embeddings.create(model="text-embedding-3-small", input="hi"),
        "raw chat": raw_chat,
        "streaming-response stream": streaming_stream,
        "file content": file_content,
    }


def _seen(outcome: Any) -> str:
    """What the caller's code got: the value, or the exception's type and message."""
    if isinstance(outcome, BaseException):
        return f"raised {type(outcome).__name__}: {outcome}"
    return repr(outcome)


class _Check:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.tel = Telemetry()
        self.plain: dict[tuple[str, int], str] = {}
        self.problems: list[str] = []

    def serve(self, index: int) -> None:
        self.server.clear()
        status, content_type, body = ANSWERS[index]
        self.server.raw_next(body, content_type, status)

    def compare(self, name: str, index: int, seen: str, spans_before: int) -> None:
        where = f"{name} <- answer {index} {ANSWERS[index][:2]} {ANSWERS[index][2][:50]!r}"
        if seen != self.plain[(name, index)]:
            self.problems.append(
                f"{where}:\n  without us: {self.plain[(name, index)][:200]}\n  with us: {seen[:200]}"
            )
        spans = self.tel.spans()[spans_before:]
        if len(spans) != 1:
            self.problems.append(f"{where}: {len(spans)} ended spans, expected 1")

    @contextlib.contextmanager
    def instrumented(self) -> Iterator[None]:
        instrumentor = OpenAIBillingInstrumentor()
        instrumentor.instrument(
            tracer_provider=self.tel.tracer_provider, meter_provider=self.tel.meter_provider
        )
        try:
            yield
        finally:
            instrumentor.uninstrument()

    def verdict(self, caplog: pytest.LogCaptureFixture) -> None:
        problems = self.problems + _metric_problems(self.tel) + _faults(caplog)
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:12])


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_junk_answers_sync(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_openai_billing")
    check = _Check(server)
    client = openai.OpenAI(
        api_key="sk-junk", base_url=server.base_url, max_retries=0, _strict_response_validation=strict
    )

    def run(name: str, call: Callable[[], Any], index: int) -> str:
        check.serve(index)
        try:
            return _seen(call())
        except Exception as exc:
            return _seen(exc)

    calls = _sync_calls(client)
    with client:
        for name, call in calls.items():
            for index in range(len(ANSWERS)):
                check.plain[(name, index)] = run(name, call, index)
        with check.instrumented():
            for name, call in calls.items():
                for index in range(len(ANSWERS)):
                    before = len(check.tel.spans())
                    check.compare(name, index, run(name, call, index), before)
    check.verdict(caplog)


async def test_junk_answers_async(server: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_openai_billing")
    check = _Check(server)
    client = openai.AsyncOpenAI(api_key="sk-junk", base_url=server.base_url, max_retries=0)

    async def run(name: str, call: Callable[[], Awaitable[Any]], index: int) -> str:
        check.serve(index)
        try:
            return _seen(await call())
        except Exception as exc:
            return _seen(exc)
        finally:
            # A stream the SDK gave up on leaves httpx's async generators unfinished: finalize them now,
            # on this loop, so what that logs is counted below for this run (not raised at random later).
            gc.collect(1)  # young objects: the call's own; a full collection per call costs seconds
            for _ in range(3):
                await asyncio.sleep(0)

    def loop_errors() -> int:
        return sum(r.name == "asyncio" and r.levelno >= logging.ERROR for r in caplog.records)

    calls = _async_calls(client)
    async with client:
        for name, call in calls.items():
            for index in range(len(ANSWERS)):
                check.plain[(name, index)] = await run(name, call, index)
        plain_errors = loop_errors()
        with check.instrumented():
            for name, call in calls.items():
                for index in range(len(ANSWERS)):
                    before = len(check.tel.spans())
                    check.compare(name, index, await run(name, call, index), before)
    # The event loop reports nothing more with us than without us (e.g. an aclose() we would race).
    ours = loop_errors() - plain_errors
    assert ours <= plain_errors, f"event-loop errors: {plain_errors} without us, {ours} with us"
    check.verdict(caplog)
