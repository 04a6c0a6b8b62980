"""Self-tests of the fakes: the real `openai` SDK (no instrumentation) and the real OTLP exporters."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from .openai_server import (
    CHAT_USAGE,
    COMPLETION_USAGE,
    DEFAULT_REPLY,
    RESPONSES_USAGE,
    FakeOpenAI,
    embedding_vector,
)
from .otlp_receiver import OTLPReceiver

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


# -- FakeOpenAI ------------------------------------------------------------------------------------


def test_chat_completion_resolves_model_and_reports_usage(client: openai.OpenAI, server: FakeOpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, n=2, service_tier="flex"
    )

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.service_tier == "flex"
    assert [c.message.content for c in completion.choices] == [DEFAULT_REPLY, DEFAULT_REPLY]
    assert completion.usage is not None
    assert completion.usage.model_dump(exclude_none=True) == CHAT_USAGE
    [received] = server.requests
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.json["messages"] == MESSAGES
    assert received.headers["authorization"] == "Bearer sk-test"  # case-insensitive lookup
    assert received.response_status == 200
    assert received.response_request_id.startswith("req_")
    assert completion._request_id == received.response_request_id


def test_next_usage_is_returned_verbatim_once(client: openai.OpenAI, server: FakeOpenAI) -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 16, "cache_write_tokens": 100},
        "completion_tokens_details": {
            "reasoning_tokens": 256,
            "audio_tokens": 8,
            "accepted_prediction_tokens": 2,
            "rejected_prediction_tokens": 3,
        },
    }
    server.next_usage = usage

    first = client.chat.completions.with_raw_response.create(model="o3-mini", messages=MESSAGES)
    second = client.chat.completions.create(model="o3-mini", messages=MESSAGES)

    assert first.http_response.json()["usage"] == usage
    assert second.usage is not None
    assert second.usage.prompt_tokens == CHAT_USAGE["prompt_tokens"]


def test_chat_stream_with_include_usage(client: openai.OpenAI, server: FakeOpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    *choice_chunks, usage_chunk = chunks
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in choice_chunks)
    assert all("usage" in c.model_fields_set for c in choice_chunks)
    assert choice_chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in choice_chunks) == DEFAULT_REPLY
    assert choice_chunks[-1].choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.total_tokens == CHAT_USAGE["total_tokens"]
    assert {c.model for c in chunks} == {"gpt-4o-2024-08-06"}
    assert stream.response.headers["x-request-id"] == server.requests[-1].response_request_id
    assert server.requests[-1].body.count(b"include_usage") == 1


def test_chat_stream_without_include_usage_has_no_usage_key(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    assert all(len(c.choices) == 1 for c in chunks)
    assert not any("usage" in c.model_fields_set for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_REPLY


def test_legacy_completion_plain_and_streamed(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello")
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Say hello",
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert completion.object == "text_completion"
    assert completion.choices[0].text == DEFAULT_REPLY
    assert completion.usage is not None
    assert completion.usage.model_dump(exclude_none=True) == COMPLETION_USAGE
    assert "".join(c.choices[0].text for c in chunks[:-1]) == DEFAULT_REPLY
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == COMPLETION_USAGE["total_tokens"]


def test_responses_create_and_retrieve(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4.1-mini", input="Say hello", service_tier="priority")
    retrieved = client.responses.retrieve(response.id)

    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-4.1-mini-2025-04-14"
    assert response.service_tier == "priority"
    assert response.output_text == DEFAULT_REPLY
    assert response.usage is not None
    assert response.usage.model_dump(exclude_none=True) == RESPONSES_USAGE
    assert retrieved.model_dump() == response.model_dump()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")


def test_responses_stream_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    with client.responses.stream(model="gpt-4o-mini", input="Say hello") as helper:
        final = helper.get_final_response()

    deltas = len(DEFAULT_REPLY.split())
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.usage is None
    assert events[-1].response.usage is not None
    assert events[-1].response.usage.total_tokens == RESPONSES_USAGE["total_tokens"]
    # The SDK helper rebuilds the response from the events; it only agrees if they are consistent.
    assert final.output_text == DEFAULT_REPLY


def test_embeddings_base64_by_default_and_float_on_request(client: openai.OpenAI, server: FakeOpenAI) -> None:
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    as_float = client.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float"
    )

    assert server.requests[0].json["encoding_format"] == "base64"  # the SDK asks for base64 itself
    assert [d.embedding for d in default.data] == [embedding_vector("alpha"), embedding_vector("beta")]
    assert as_float.data[0].embedding == embedding_vector("alpha")
    assert default.usage.prompt_tokens == default.usage.total_tokens == 8
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="alpha", encoding_format="base64"
    )
    encoded = raw.http_response.json()["data"][0]["embedding"]
    assert list(struct.unpack("<8f", base64.b64decode(encoded))) == embedding_vector("alpha")


def test_moderations_have_results_and_no_usage(client: openai.OpenAI) -> None:
    moderation = client.moderations.with_raw_response.create(input=["one", "two"])

    body = moderation.http_response.json()
    assert body["model"] == "omni-moderation-2024-09-26"
    assert len(body["results"]) == 2
    assert "usage" not in body
    assert moderation.parse().results[0].flagged is False


def test_images_token_usage_for_gpt_image_and_none_for_dalle(client: openai.OpenAI) -> None:
    gpt_image = client.images.generate(model="gpt-image-1", prompt="a cat", size="1024x1024", quality="low")
    dalle = client.images.generate(model="dall-e-3", prompt="a cat", response_format="b64_json")

    assert gpt_image.usage is not None
    # 12 prompt tokens + 272 output tokens (one low-quality 1024x1024 image) = 284.
    assert (gpt_image.usage.input_tokens, gpt_image.usage.output_tokens) == (12, 272)
    assert gpt_image.usage.total_tokens == 284
    assert gpt_image.data is not None
    assert gpt_image.data[0].b64_json is not None
    assert base64.b64decode(gpt_image.data[0].b64_json).startswith(b"\x89PNG")
    assert dalle.usage is None
    assert dalle.data is not None
    assert dalle.data[0].revised_prompt == "a cat"


def test_transcriptions_json_usage_shapes_and_text(client: openai.OpenAI, server: FakeOpenAI) -> None:
    audio = ("hello.wav", b"RIFF....WAVEfmt ", "audio/wav")
    whisper = client.audio.transcriptions.create(model="whisper-1", file=audio)
    tokens = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio)
    text = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")

    assert whisper.text == DEFAULT_REPLY
    assert whisper.usage is not None
    assert whisper.usage.type == "duration"
    assert whisper.usage.seconds == 3
    assert tokens.usage is not None
    assert tokens.usage.type == "tokens"
    assert tokens.usage.total_tokens == 49
    assert text == DEFAULT_REPLY + "\n"
    assert server.requests[-1].form == {"model": "whisper-1", "response_format": "text"}
    assert server.requests[-1].files == {"file": b"RIFF....WAVEfmt "}
    assert server.requests[-1].json is None


def test_speech_returns_audio_bytes(client: openai.OpenAI, server: FakeOpenAI) -> None:
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="hello")

    assert speech.response.headers["content-type"] == "audio/mpeg"
    assert speech.content.startswith(b"ID3")
    assert speech.response.headers["x-request-id"] == server.requests[-1].response_request_id


def test_models_and_files_lists(client: openai.OpenAI, server: FakeOpenAI) -> None:
    models = client.models.list()
    files = list(client.files.list(limit=2))  # auto-pagination follows `after`

    assert "gpt-4o-mini" in [m.id for m in models]
    assert [f.filename for f in files] == ["train-1.jsonl", "train-2.jsonl", "train-3.jsonl"]
    assert [r.query for r in server.requests[1:]] == [
        {"limit": "2"},
        {"limit": "2", "after": "file-000000000000000000000002"},
    ]


def test_unknown_path_is_an_openai_shaped_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.post("/does-not-exist", cast_to=object, body={})

    assert caught.value.body == {
        "message": "Invalid URL (POST /v1/does-not-exist)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_fail_next_twice_then_sdk_retry_succeeds(server: FakeOpenAI) -> None:
    server.fail_next(2, status=500)

    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=2) as sdk:
        completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert [r.response_status for r in server.requests] == [500, 500, 200]
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1", "2"]
    ids = [r.response_request_id for r in server.requests]
    assert len(set(ids)) == 3
    assert completion._request_id == ids[-1]


def test_fail_next_error_body_and_headers(client: openai.OpenAI, server: FakeOpenAI) -> None:
    server.fail_next(1, status=429, retry_after=7, retry_after_ms=None)

    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input="x")

    error = caught.value
    assert error.request_id == server.requests[0].response_request_id
    assert error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "7"
    assert "retry-after-ms" not in error.response.headers
    # Service resumes after the planned failures.
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data


def test_cut_next_stream_raises_mid_stream(client: openai.OpenAI, server: FakeOpenAI) -> None:
    server.cut_next_stream(after_chunks=2)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received = []

    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)

    assert len(received) == 2
    assert stream.response.headers["x-request-id"] == server.requests[-1].response_request_id
    # Only the next stream is cut.
    assert len(list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))) > 2


def test_delay_triggers_sdk_timeout(client: openai.OpenAI, server: FakeOpenAI) -> None:
    server.delay = 0.5

    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.1).models.list()


async def test_async_client_chat(server: FakeOpenAI) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk:
        completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in stream]

    assert completion._request_id == server.requests[0].response_request_id
    assert chunks[-1].usage is not None


# -- OTLPReceiver ----------------------------------------------------------------------------------


def test_span_round_trip_over_otlp_http(receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")  # exercises the gzip path
    provider = TracerProvider(resource=Resource.create({"service.name": "fakes-selftest"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("tests.fakes", "1.2.3")

    with (
        tracer.start_as_current_span("parent"),
        tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span,
    ):
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": 19,
                "openai.cost.usd": 0.25,
                "gen_ai.response.finish_reasons": ["stop", "length"],
                "stream": True,
            }
        )
        span.add_event("retry", {"http.response.status_code": 500})
        span.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()

    child, parent = receiver.wait_for_spans(2)
    assert child.name == "chat gpt-4o-mini"
    assert child.kind == "CLIENT"
    assert child.attributes == {
        "gen_ai.usage.input_tokens": 19,
        "openai.cost.usd": 0.25,
        "gen_ai.response.finish_reasons": ["stop", "length"],
        "stream": True,
    }
    assert [(e.name, e.attributes) for e in child.events] == [("retry", {"http.response.status_code": 500})]
    assert (child.status_code, child.status_message) == ("ERROR", "boom")
    assert child.parent_span_id == parent.span_id
    assert parent.parent_span_id is None
    assert child.trace_id == parent.trace_id
    assert len(child.trace_id) == 32
    assert child.resource_attributes["service.name"] == "fakes-selftest"
    assert (child.scope_name, child.scope_version) == ("tests.fakes", "1.2.3")


def test_metric_round_trip_over_otlp_http(receiver: OTLPReceiver) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"), export_interval_millis=60_000
    )
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("tests.fakes")
    meter.create_counter("gen_ai.client.cost", unit="USD").add(0.5, {"gen_ai.request.model": "gpt-4o-mini"})
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    tokens.record(19, {"gen_ai.token.type": "input"})
    tokens.record(10, {"gen_ai.token.type": "output"})
    provider.force_flush()
    provider.shutdown()

    cost = receiver.wait_for_metric("gen_ai.client.cost")
    assert (cost.type, cost.unit, cost.is_monotonic, cost.temporality) == ("sum", "USD", True, "CUMULATIVE")
    assert [(p.attributes, p.value) for p in cost.points] == [({"gen_ai.request.model": "gpt-4o-mini"}, 0.5)]
    usage = receiver.wait_for_metric("gen_ai.client.token.usage")
    assert usage.type == "histogram"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in usage.points}
    assert (by_type["input"].sum, by_type["input"].count) == (19, 1)
    assert (by_type["output"].sum, by_type["output"].count) == (10, 1)
    assert usage.scope_name == "tests.fakes"
