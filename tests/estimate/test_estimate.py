"""Usage estimated when a billable call ended without usage: flagged, priced, measured against real usage.

Token counts below are o200k_base's (the gpt-4o family's encoding): "user" is 1 token, "Say hello" 2
("Say", " hello"), "Hello there, friend." 5 ("Hello", " there", ",", " friend", "."). A chat request
is framed as 3 tokens per message plus 3 that prime the reply (OpenAI's token-counting guide).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import statistics
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import names as n
from otel_openai_billing.estimate import (
    Estimator,
    collect_text,
    estimate_input_tokens,
    estimate_output_tokens,
)
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

RECORDED = json.loads((Path(__file__).parent / "recorded_exchanges.json").read_text())["exchanges"]
SAY_HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
# 3 (message) + 1 ("user") + 2 ("Say hello") + 3 (reply priming).
SAY_HELLO_INPUT = 9


def relative_errors() -> tuple[list[float], list[float]]:
    """|estimate - reported| / reported, for input and output, over the recorded exchanges."""
    est = Estimator()
    errors_in, errors_out = [], []
    for ex in RECORDED:
        received: list[str] = []
        collect_text(received, {"choices": [{"message": ex["response"]}]})
        usage, method = est.estimate(ex["response_model"], ex["request"], received)
        assert usage is not None, method
        reported_in, reported_out = ex["usage"]["prompt_tokens"], ex["usage"]["completion_tokens"]
        errors_in.append(abs(usage.input_tokens - reported_in) / reported_in)
        errors_out.append(abs(usage.output_tokens - reported_out) / reported_out)
    return errors_in, errors_out


def test_accuracy_against_usage_the_api_reported() -> None:
    # The figures in docs/pricing.md (benchmarks/bench_estimate.py prints them). Plain chat is exact on
    # input; tool definitions and JSON-schema response formats are framed differently by the API.
    errors_in, errors_out = relative_errors()
    assert len(errors_in) == len(RECORDED) == 9
    assert statistics.median(errors_in) <= 0.02 and max(errors_in) <= 0.18
    assert statistics.median(errors_out) <= 0.08 and max(errors_out) <= 0.34
    assert min(errors_in) == 0  # exact on plain messages


def test_public_helpers() -> None:
    assert estimate_input_tokens("gpt-4o-mini", SAY_HELLO) == SAY_HELLO_INPUT
    assert estimate_output_tokens("gpt-4o-mini", "Hello there, friend.") == 5
    # A legacy Completions prompt has no chat framing; cl100k_base for gpt-3.5: "Say hello" is 2 tokens.
    assert estimate_input_tokens("gpt-3.5-turbo-instruct", {"prompt": "Say hello"}) == 2
    # An image part cannot be counted offline: no guess.
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert estimate_input_tokens("gpt-4o", image) is None
    assert estimate_input_tokens("davinci-002", SAY_HELLO) is None  # no known tokenizer


@pytest.mark.parametrize("instrument_kwargs", [{"inject_stream_usage": False}])
def test_stream_without_usage_is_estimated(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
) -> None:
    # A server (or a caller) that never asks for usage: the stream ends with none.
    server.reply_text = "Hello there, friend."
    chunks = list(client.chat.completions.create(**SAY_HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there, friend."
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert attrs[n.COST_ESTIMATE_METHOD] == "tiktoken:o200k_base"
    assert attrs[n.USAGE_ESTIMATED] is True
    assert (attrs[n.USAGE_INPUT_TOKENS], attrs[n.USAGE_OUTPUT_TOKENS]) == (SAY_HELLO_INPUT, 5)
    # gpt-4o-mini: 9 x $0.15/1M + 5 x $0.60/1M = 0.00000135 + 0.000003.
    assert Decimal(str(attrs[n.COST_AMOUNT])) == Decimal("0.00000435")


def test_stream_closed_before_usage_is_estimated_on_what_arrived(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    server.reply_text = "Hello there, friend."
    stream = client.chat.completions.create(**SAY_HELLO, stream=True)
    chunks = iter(stream)
    next(chunks)  # the role chunk
    assert next(chunks).choices[0].delta.content == "Hello"
    stream.close()
    attrs = telemetry.only_span().attributes
    assert attrs[n.STREAM_ENDED_BY] == "closed"
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert attrs[n.COST_WARNING] == "usage estimated: stream closed before the API reported usage"
    # Only "Hello" arrived: 1 output token. 9 x $0.15/1M + 1 x $0.60/1M.
    assert (attrs[n.USAGE_INPUT_TOKENS], attrs[n.USAGE_OUTPUT_TOKENS]) == (SAY_HELLO_INPUT, 1)
    assert Decimal(str(attrs[n.COST_AMOUNT])) == Decimal("0.00000195")


@pytest.mark.parametrize("instrument_kwargs", [{"inject_stream_usage": False, "estimate_usage": False}])
def test_off_switch(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
) -> None:
    list(client.chat.completions.create(**SAY_HELLO, stream=True))
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_UNPRICED
    assert n.COST_ESTIMATE_METHOD not in attrs


@pytest.mark.parametrize("instrument_kwargs", [{"inject_stream_usage": False}])
def test_no_encoding_offline_stays_unpriced_with_the_reason(
    telemetry: Telemetry,
    server: FakeOpenAI,
    client: openai.OpenAI,
    instrument_kwargs: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A machine without the estimate extra's data package and no tiktoken cache: nothing to count with.
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "bpe_openai" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    list(client.chat.completions.create(**SAY_HELLO, stream=True))
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_UNPRICED
    assert "not estimated: no o200k_base encoding file found offline" in attrs[n.COST_UNPRICED_REASON]


def test_configured_directory_and_hash_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.find_spec("bpe_openai")
    assert spec is not None and spec.submodule_search_locations
    shipped = Path(next(iter(spec.submodule_search_locations))) / "data" / "o200k_base.tiktoken.gz"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    (tmp_path / "o200k_base.tiktoken").write_bytes(gzip.decompress(shipped.read_bytes()))
    assert Estimator(tmp_path).output_tokens("gpt-4o", "Hello there, friend.") == 5
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "o200k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")  # wrong vocabulary: refused by hash
    enc, why = Estimator(corrupt).encoding("gpt-4o")
    assert enc is None and "no o200k_base encoding file found offline" in why


def test_responses_without_usage_are_estimated(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # A Responses stream cut before response.completed (which carries the usage).
    server.reply_text = "Hello there, friend."
    server.cut_next_stream(after_chunks=6)
    with pytest.raises(Exception):  # noqa: B017 (the transport's error differs across SDK versions)
        list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    # Input: 3 (message) + 2 ("Say hello") + 3 (reply priming) = 8.
    assert attrs[n.USAGE_INPUT_TOKENS] == 8
    # Six events arrive: created, in_progress, output_item.added, content_part.added, then the deltas
    # "Hello" and " there,": 3 tokens ("Hello", " there", ",").
    assert attrs[n.USAGE_OUTPUT_TOKENS] == 3


def test_whole_responses_object_text_is_collected() -> None:
    received: list[str] = []
    collect_text(
        received,
        {
            "object": "response",
            "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Hello there, friend."}]},
                {"type": "function_call", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            ],
        },
    )
    assert received[0] == "Hello there, friend." and received[-2:] == ["get_weather", '{"city":"Paris"}']


def test_raw_response_dropped_unread_is_not_estimated(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    import gc

    raw = client.chat.completions.with_raw_response.create(**SAY_HELLO)
    del raw  # the output was generated and billed, but never seen: it cannot be counted
    gc.collect()
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_UNPRICED
    assert attrs[n.COST_UNPRICED_REASON].endswith("not estimated: the response body was never read")


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


@pytest.mark.parametrize("instrument_kwargs", [{"inject_stream_usage": False}])
def test_every_kind_of_later_chunk_counts_its_text(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
) -> None:
    # Chunks after a stream's first take a short way through the record when they are plain text
    # deltas; the others (a delta without content, text arriving with the finish reason, a second
    # choice's refusal) take the long way. The text of all of them is counted: "Hello there, friend."
    # then " No." is 7 tokens ("Hello", " there", ",", " friend", ".", " No", ".").
    server.raw_next(
        _sse(
            [
                _chunk({"role": "assistant", "content": ""}),
                _chunk({"content": "Hello"}),
                _chunk({}),
                _chunk({"content": " there"}),
                _chunk({"content": ", friend."}, finish="stop"),
                _chunk({"content": None, "refusal": " No"}, index=1),
                _chunk({"refusal": "."}, index=1, finish="content_filter"),
            ]
        ),
        "text/event-stream",
    )
    list(client.chat.completions.create(**SAY_HELLO, stream=True))
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert (attrs[n.USAGE_INPUT_TOKENS], attrs[n.USAGE_OUTPUT_TOKENS]) == (SAY_HELLO_INPUT, 7)
    assert list(attrs[n.RESPONSE_FINISH_REASONS]) == ["stop", "content_filter"]


def test_responses_stream_counts_refusal_and_argument_deltas(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # After the event carrying the response, a Responses stream's text deltas take a short way through
    # the record; a refusal's deltas and a tool call's arguments are output too. The stream ends before
    # response.completed, so the output is estimated: the text " No.f{}" (refusal, the call's name and
    # arguments) is 3 tokens (" No", ".f", "{}"), and a tool call's framing 7: 10 in all.
    response = {"id": "resp_1", "object": "response", "model": "gpt-4o-mini", "status": "in_progress"}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}
    events = [
        {"type": "response.created", "response": response, "sequence_number": 0},
        {"type": "response.refusal.delta", "delta": " No", "item_id": "m", "sequence_number": 1},
        {"type": "response.refusal.delta", "delta": ".", "item_id": "m", "sequence_number": 2},
        {"type": "response.output_item.added", "item": call, "output_index": 1, "sequence_number": 3},
        {"type": "response.function_call_arguments.delta", "delta": "{}", "sequence_number": 4},
    ]
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    server.raw_next(body, "text/event-stream")
    list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    attrs = telemetry.only_span().attributes
    assert attrs[n.COST_STATUS] == n.COST_STATUS_ESTIMATED
    assert (attrs[n.USAGE_INPUT_TOKENS], attrs[n.USAGE_OUTPUT_TOKENS]) == (8, 10)
