"""Realtime sessions over the real SDK's WebSocket connection: each response.done and each input-audio
transcription billed once, through a reconnect, and an abrupt end closing what was open."""

from __future__ import annotations

import base64
import gc
import json
import logging
from decimal import Decimal
from typing import Any

import openai
import pytest
from websockets.exceptions import ConnectionClosed

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtime
from tests.fuzz.test_fuzz import _faults, _metric_problems, encoding_problems

from .conftest import Billed, amount

# Text, audio and cached input (cached text and cached audio), text and audio output.
RICH_USAGE: dict[str, Any] = {
    "total_tokens": 1500,
    "input_tokens": 1200,
    "output_tokens": 300,
    "input_token_details": {
        "text_tokens": 200,
        "audio_tokens": 1000,
        "image_tokens": 0,
        "cached_tokens": 500,
        "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 400, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 100, "audio_tokens": 200},
}
# gpt-realtime (genai-prices): text in $4, cached text $0.40, audio in $32, cached audio $0.40,
# text out $16, audio out $64 per 1M.
#   uncached text in  1200 - 500 cached - 600 uncached audio = 100 x 4/1M   = 0.0004
#   cached text       500 - 400 cached audio                 = 100 x 0.4/1M = 0.00004
#   uncached audio in 1000 - 400                              = 600 x 32/1M  = 0.0192
#   cached audio                                              = 400 x 0.4/1M = 0.00016
#   text out          300 - 200 audio                         = 100 x 16/1M  = 0.0016
#   audio out                                                 = 200 x 64/1M  = 0.0128
RICH_COST = Decimal("0.0342")
# The server's default usage: 40 text in x 4/1M + 20 text out x 16/1M = 0.00016 + 0.00032
PLAIN_COST = Decimal("0.00048")
# gpt-4o-transcribe input transcription (server default): 30 audio tokens x $6/1M + 6 text out x $10/1M
TRANSCRIPTION_COST = Decimal("0.00024")


def _client(server: FakeOpenAI, realtime: FakeRealtime, cls: type = openai.OpenAI) -> Any:
    return cls(api_key="sk-test", base_url=server.base_url, websocket_base_url=realtime.base_url)


def _until(conn: Any, kind: str) -> Any:
    for event in conn:
        if event.type == kind:
            return event
    raise AssertionError(f"connection ended before {kind}")


@pytest.mark.sdk_feature("realtime", "reconnect")
def test_session_with_cached_audio_input_over_a_reconnect(
    server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed
) -> None:
    client = _client(server, realtime)
    realtime.response_usage.append(RICH_USAGE)
    reconnects: list[int] = []
    with client.realtime.connect(
        model="gpt-realtime", on_reconnecting=lambda e: reconnects.append(e.close_code), initial_delay=0.01
    ) as conn:
        conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
            }
        )
        _until(conn, "session.updated")
        conn.response.create()
        _until(conn, "response.done")
        conn.input_audio_buffer.append(audio=base64.b64encode(bytes(4800)).decode())
        conn.input_audio_buffer.commit()
        _until(conn, "conversation.item.input_audio_transcription.completed")
        realtime.drop_after_response_created = 1  # the socket dies mid-response: the SDK reconnects
        conn.response.create()
        _until(conn, "response.created")
        _until(conn, "session.created")  # a new server session on the new socket
        conn.response.create()
        _until(conn, "response.done")
        for _ in range(5):
            conn.session.update(session={"type": "realtime", "instructions": "again"})
            _until(conn, "session.updated")  # more events, nothing more billed

    assert reconnects == [1011]
    first_session, second_session = realtime.sessions
    units = telemetry.units("realtime")
    responses = [u for u in units if u.attributes[n.ENDPOINT] == "WS /realtime response.done"]
    (transcription,) = [u for u in units if u.attributes[n.OPERATION_NAME] == "transcription"]
    rich, dropped, plain = responses
    assert rich.attributes[n.REALTIME_SESSION_ID] == first_session
    assert rich.attributes[n.REQUEST_MODEL] == "gpt-realtime"
    assert rich.attributes[n.USAGE_CACHE_READ_INPUT_TOKENS] == 500
    assert rich.attributes[n.USAGE_AUDIO_INPUT_TOKENS] == 1000
    assert rich.attributes[n.USAGE_AUDIO_OUTPUT_TOKENS] == 200
    assert rich.attributes[n.COST_AMOUNT] == float(RICH_COST)
    # The response cut off by the drop: ended, unpriced, with the reason.
    assert dropped.attributes[n.STREAM_ENDED_BY] == "reconnected"
    assert dropped.attributes[n.COST_STATUS] == "unpriced"
    assert "reconnected" in dropped.attributes[n.COST_UNPRICED_REASON]
    assert plain.attributes[n.REALTIME_SESSION_ID] == second_session
    assert plain.attributes[n.COST_AMOUNT] == float(PLAIN_COST)
    assert transcription.attributes[n.REQUEST_MODEL] == "gpt-4o-transcribe"
    assert transcription.attributes[n.COST_AMOUNT] == float(TRANSCRIPTION_COST)
    # Each unit once on the metrics: 1200 + 40 + 30 input tokens.
    assert telemetry.tokens("input") == 1270
    assert telemetry.cost() == pytest.approx(float(RICH_COST + PLAIN_COST + TRANSCRIPTION_COST), rel=1e-12)


@pytest.mark.sdk_feature("realtime")
async def test_async_session(server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed) -> None:
    client = _client(server, realtime, openai.AsyncOpenAI)
    async with client.realtime.connect(model="gpt-realtime-mini") as conn:
        for _ in range(2):
            await conn.response.create()
            async for event in conn:
                if event.type == "response.done":
                    break
    first, second = telemetry.units("realtime")
    # gpt-realtime-mini: 40 text in x $0.60/1M + 20 text out x $2.40/1M = 0.000024 + 0.000048
    assert first.attributes[n.COST_AMOUNT] == float(Decimal("0.000072"))
    assert first.attributes[n.RESPONSE_ID] != second.attributes[n.RESPONSE_ID]
    assert telemetry.tokens("output") == 40


@pytest.mark.sdk_feature("beta_realtime")
def test_beta_realtime_connection(server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed) -> None:
    client = _client(server, realtime)
    with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        conn.response.create()
        _until(conn, "response.done")
    (unit,) = telemetry.units("realtime")
    # gpt-4o-realtime-preview: 40 text in x $5/1M + 20 text out x $20/1M = 0.0002 + 0.0004
    assert unit.attributes[n.COST_AMOUNT] == float(Decimal("0.0006"))


@pytest.mark.sdk_feature("realtime")
def test_abrupt_end_closes_the_open_response(
    server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed
) -> None:
    client = _client(server, realtime)
    realtime.drop_after_response_created = 1
    with pytest.raises(ConnectionClosed), client.realtime.connect(model="gpt-realtime") as conn:
        conn.response.create()
        _until(conn, "response.done")  # never comes: no reconnect policy, the socket drops
    (unit,) = telemetry.units("realtime")
    assert unit.attributes[n.STREAM_ENDED_BY] == "closed"
    assert unit.attributes[n.COST_STATUS] == "unpriced"
    assert telemetry.metric_sum(n.METRIC_UNPRICED_CALLS) == 1


@pytest.mark.sdk_feature("realtime")
def test_connection_dropped_without_close_ends_its_response_when_collected(
    server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed
) -> None:
    client = _client(server, realtime)
    conn = client.realtime.connect(model="gpt-realtime").enter()
    conn.response.create()
    _until(conn, "response.created")
    ws = conn._connection  # the socket stays ours to close; the connection object is let go
    del conn
    gc.collect()
    ws.close()
    (unit,) = telemetry.units("realtime")
    assert unit.attributes[n.STREAM_ENDED_BY] == "abandoned"
    assert unit.attributes[n.COST_STATUS] == "unpriced"


@pytest.mark.sdk_feature("responses_connect")
def test_responses_over_a_websocket(server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed) -> None:
    client = _client(server, realtime)
    with client.responses.connect() as conn:
        for _ in range(2):
            conn.response.create(model="gpt-4.1-mini", input="hi")
            _until(conn, "response.completed")
        for _ in range(5):
            conn.response.create(model="gpt-4.1-mini", input="hi")
            _until(conn, "response.completed")
    spans = [s for s in telemetry.spans() if s.attributes.get(n.ENDPOINT) == "WS /responses"]
    assert len(spans) == 7
    first = spans[0]
    # gpt-4.1-mini: 20 uncached x $0.40/1M + 100 cached x $0.10/1M + 30 out x $1.60/1M
    # = 0.000008 + 0.00001 + 0.000048 = 0.000066
    assert first.attributes[n.RESPONSE_MODEL] == "gpt-4.1-mini"
    assert first.attributes[n.USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert first.attributes[n.COST_AMOUNT] == float(Decimal("0.000066"))
    assert telemetry.tokens("input") == 7 * 120
    assert telemetry.cost() == pytest.approx(7 * float(Decimal("0.000066")), rel=1e-12)


@pytest.mark.sdk_feature("responses_connect")
async def test_responses_websocket_dropped_mid_response(
    server: FakeOpenAI, realtime: FakeRealtime, telemetry: Billed
) -> None:
    client = _client(server, realtime, openai.AsyncOpenAI)
    realtime.drop_after_response_created = 1
    with pytest.raises(ConnectionClosed):
        async with client.responses.connect() as conn:
            await conn.response.create(model="gpt-4.1-mini", input="hi")
            async for event in conn:
                assert event.type != "response.completed"
    (span,) = [s for s in telemetry.spans() if s.attributes.get(n.ENDPOINT) == "WS /responses"]
    assert span.attributes[n.STREAM_ENDED_BY] == "closed"
    assert span.attributes[n.COST_STATUS] == "unpriced"


# Server events no Realtime server sends. The SDK parses each without validating it, so the caller gets
# it as it is; junk in every place we read: the type itself, and the billing events' payloads.
JUNK_EVENTS: list[dict[str, Any]] = [
    {"type": ["x"], "event_id": 1},
    {"type": {"a": 1}},
    {"type": None},
    {"type": "response.done"},
    {"type": "response.done", "response": 5},
    {"type": "response.done", "response": {"id": [], "status": {"x": 1}, "usage": "abc"}},
    {
        "type": "response.done",
        "response": {"id": "resp_j1", "usage": {"input_tokens": 2**70, "output_tokens": -3}},
    },
    {"type": "response.done", "response": {"id": "resp_j2", "usage": {"input_tokens": float("nan")}}},
    {"type": "response.created", "response": {"id": {"x": 1}, "status": []}},
    {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": 5,
        "usage": {"type": "tokens", "input_tokens": -5, "output_tokens": "x"},
    },
    {"type": "conversation.item.input_audio_transcription.completed", "usage": [1]},
    {"type": "session.created", "session": 5},
    {"type": "session.updated", "session": {"model": [1], "audio": "x"}},
    {"type": "error", "error": None},
]


def _junk_session(server: FakeOpenAI, realtime: FakeRealtime) -> tuple[list[str], Any]:
    """What the caller gets of the junk events, and the response.done of a response made after them."""
    realtime.junk.extend(json.dumps(event) for event in JUNK_EVENTS)
    seen = []
    with _client(server, realtime).realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime"})
        _until(conn, "session.updated")
        for _ in JUNK_EVENTS:
            try:
                seen.append(repr(conn.recv()))
            except Exception as exc:
                seen.append(f"raised {type(exc).__name__}: {exc}")
        conn.response.create()
        done = _until(conn, "response.done")
    return seen, done


@pytest.mark.sdk_feature("realtime")
def test_junk_server_events_reach_the_caller_as_they_are_and_bill_nothing_wrong(
    server: FakeOpenAI, realtime: FakeRealtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_openai_billing")  # a fault seen before logs at DEBUG
    plain, _ = _junk_session(server, realtime)
    tel = Billed()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        seen, done = _junk_session(server, realtime)
    finally:
        instrumentor.uninstrument()
    assert seen == plain
    assert _faults(caplog) == []
    spans = tel.spans()
    assert encoding_problems(spans) == [] and _metric_problems(tel) == []
    # The session goes on after the junk: the real response is billed once, at its price.
    (real,) = [s for s in tel.units("realtime") if s.attributes.get(n.RESPONSE_ID) == done.response.id]
    assert amount(real) == PLAIN_COST
    # Junk usage is not billed as it is: the huge and negative counts leave the response unpriced.
    (junk,) = [s for s in tel.units("realtime") if s.attributes.get(n.RESPONSE_ID) == "resp_j1"]
    assert junk.attributes[n.COST_STATUS] == n.COST_STATUS_INCONSISTENT
    assert n.USAGE_INPUT_TOKENS not in junk.attributes
