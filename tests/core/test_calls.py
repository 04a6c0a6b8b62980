"""One span per call, carrying what a bill is made of: the real SDK over real HTTP."""

from __future__ import annotations

import os
import random
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI


def _server_usage(server: FakeOpenAI, **usage: Any) -> dict[str, Any]:
    server.next_usage = usage
    return usage


def test_chat_span_carries_ids_model_and_usage(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    _server_usage(
        server,
        prompt_tokens=1234,
        completion_tokens=567,
        total_tokens=1801,
        prompt_tokens_details={"cached_tokens": 1024, "audio_tokens": 0},
        completion_tokens_details={"reasoning_tokens": 320, "audio_tokens": 0},
    )
    result = client.chat.completions.create(**CHAT)

    span = telemetry.only_span()
    sent = server.requests[-1]
    attrs = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert attrs[n.PROVIDER_NAME] == "openai"
    assert attrs[n.OPERATION_NAME] == "chat"
    assert attrs[n.OPENAI_API_TYPE] == "chat_completions"
    assert attrs[n.REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[n.RESPONSE_MODEL] == result.model == "gpt-4o-mini-2024-07-18"
    assert attrs[n.RESPONSE_ID] == result.id
    assert list(attrs[n.RESPONSE_FINISH_REASONS]) == ["stop"]
    assert attrs[n.OPENAI_REQUEST_ID] == sent.response_request_id
    assert attrs[n.OPENAI_CLIENT_REQUEST_ID] == sent.headers["X-Client-Request-Id"]
    assert attrs[n.OPENAI_RESPONSE_SERVICE_TIER] == result.service_tier
    assert attrs[n.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[n.SERVER_PORT] == server.port
    assert attrs[n.USAGE_INPUT_TOKENS] == 1234
    assert attrs[n.USAGE_OUTPUT_TOKENS] == 567
    assert attrs[n.USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert attrs[n.USAGE_REASONING_OUTPUT_TOKENS] == 320
    assert attrs[n.OPENAI_RETRY_COUNT] == 0
    assert span.status.status_code is StatusCode.UNSET


def test_usage_fields_newer_than_the_sdk_still_count(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # cache_write_tokens and image/audio details are read from the raw JSON, so they count even on
    # SDK versions whose types do not declare them.
    _server_usage(
        server,
        prompt_tokens=5000,
        completion_tokens=100,
        total_tokens=5100,
        prompt_tokens_details={
            "cached_tokens": 1000,
            "cache_write_tokens": 3000,
            "audio_tokens": 40,
            "image_tokens": 250,
        },
        completion_tokens_details={"reasoning_tokens": 0, "audio_tokens": 60},
    )
    client.chat.completions.create(**CHAT)
    attrs = telemetry.only_span().attributes
    assert attrs[n.USAGE_CACHE_WRITE_INPUT_TOKENS] == 3000
    assert attrs[n.USAGE_AUDIO_INPUT_TOKENS] == 40
    assert attrs[n.USAGE_IMAGE_INPUT_TOKENS] == 250
    assert attrs[n.USAGE_AUDIO_OUTPUT_TOKENS] == 60


def test_n_choices_and_requested_tier(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(**CHAT, n=3, extra_body={"service_tier": "flex"})
    attrs = telemetry.only_span().attributes
    assert attrs[n.REQUEST_CHOICE_COUNT] == 3
    assert list(attrs[n.RESPONSE_FINISH_REASONS]) == ["stop", "stop", "stop"]
    assert attrs[n.OPENAI_REQUEST_SERVICE_TIER] == "flex"
    assert attrs[n.OPENAI_RESPONSE_SERVICE_TIER] == "flex"


def test_no_content_key_or_headers_recorded(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "my secret prompt text"}],
        extra_headers={"X-Custom-Secret": "hunter2"},
    )
    span = telemetry.only_span()
    flat = repr(dict(span.attributes)) + repr([e.attributes for e in span.events])
    for secret in ("my secret prompt text", "sk-test-secret-key", "hunter2", server.reply_text):
        assert secret not in flat


def test_caller_client_request_id_is_kept_and_recorded(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(**CHAT, extra_headers={"x-client-request-id": "my-own-id-42"})
    assert server.requests[-1].headers.getlist("X-Client-Request-Id") == ["my-own-id-42"]
    assert telemetry.only_span().attributes[n.OPENAI_CLIENT_REQUEST_ID] == "my-own-id-42"


def test_caller_client_request_id_in_default_headers_is_kept_and_recorded(
    telemetry: Telemetry, server: FakeOpenAI
) -> None:
    with openai.OpenAI(
        api_key="sk-test-secret-key",
        base_url=server.base_url,
        max_retries=0,
        default_headers={"X-Client-Request-Id": "client-wide-id"},
    ) as client:
        client.chat.completions.create(**CHAT)
    assert server.requests[-1].headers.getlist("X-Client-Request-Id") == ["client-wide-id"]
    assert telemetry.only_span().attributes[n.OPENAI_CLIENT_REQUEST_ID] == "client-wide-id"


def test_client_request_id_is_added_beside_the_callers_other_headers(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.chat.completions.create(**CHAT, extra_headers={"X-Trace-Tag": "blue"})
    sent = server.requests[-1].headers
    assert sent["X-Trace-Tag"] == "blue"
    assert len(sent.getlist("X-Client-Request-Id")) == 1
    assert telemetry.only_span().attributes[n.OPENAI_CLIENT_REQUEST_ID] == sent["X-Client-Request-Id"]


@pytest.mark.parametrize("instrument_kwargs", [{"client_request_id": False}])
def test_client_request_id_can_be_switched_off(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
) -> None:
    client.chat.completions.create(**CHAT)
    assert "X-Client-Request-Id" not in server.requests[-1].headers
    assert n.OPENAI_CLIENT_REQUEST_ID not in telemetry.only_span().attributes


def test_legacy_completion_and_embeddings(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    _server_usage(server, prompt_tokens=4, completion_tokens=16, total_tokens=20)
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon")
    _server_usage(server, prompt_tokens=8, total_tokens=8)
    client.embeddings.create(model="text-embedding-3-small", input="hello world")
    completion, embedding = telemetry.spans()
    assert completion.name == "text_completion gpt-3.5-turbo-instruct"
    assert completion.attributes[n.OPERATION_NAME] == "text_completion"
    assert completion.attributes[n.USAGE_INPUT_TOKENS] == 4
    assert completion.attributes[n.USAGE_OUTPUT_TOKENS] == 16
    assert embedding.name == "embeddings text-embedding-3-small"
    assert embedding.attributes[n.OPERATION_NAME] == "embeddings"
    assert embedding.attributes[n.USAGE_INPUT_TOKENS] == 8
    assert n.USAGE_OUTPUT_TOKENS not in embedding.attributes


@pytest.mark.sdk("1.66")
def test_responses_api(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    _server_usage(
        server,
        input_tokens=900,
        input_tokens_details={"cached_tokens": 512},
        output_tokens=300,
        output_tokens_details={"reasoning_tokens": 128},
        total_tokens=1200,
    )
    result = client.responses.create(model="gpt-4.1", input="hello")
    attrs = telemetry.only_span().attributes
    assert attrs[n.OPERATION_NAME] == "chat"
    assert attrs[n.OPENAI_API_TYPE] == "responses"
    assert attrs[n.RESPONSE_ID] == result.id
    assert attrs[n.RESPONSE_MODEL] == result.model
    assert attrs[n.USAGE_INPUT_TOKENS] == 900
    assert attrs[n.USAGE_CACHE_READ_INPUT_TOKENS] == 512
    assert attrs[n.USAGE_REASONING_OUTPUT_TOKENS] == 128
    assert list(attrs[n.RESPONSE_FINISH_REASONS]) == ["completed"]
    assert attrs[n.OPENAI_REQUEST_ID] == server.requests[-1].response_request_id


def test_every_endpoint_gets_a_span_even_unknown_ones(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    client.moderations.create(input="hello")
    models = list(client.models.list())
    files = client.files.list()
    spans = telemetry.spans()
    assert [s.attributes[n.OPERATION_NAME] for s in spans] == ["moderation", "models", "files"]
    assert models and files is not None
    assert [s.attributes[n.OPENAI_REQUEST_ID] for s in spans] == [
        r.response_request_id for r in server.requests
    ]
    assert spans[1].attributes[n.BILLABLE] is False


def test_images_and_audio(telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI) -> None:
    client.images.generate(model="gpt-image-1", prompt="a cat", size="1024x1024", quality="low")
    client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there, world")
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF0000WAVE", "audio/wav"))
    image, speech, transcription = telemetry.spans()
    assert image.attributes[n.OPERATION_NAME] == "generate_content"
    assert image.attributes[n.USAGE_INPUT_TOKENS] > 0
    assert speech.attributes[n.OPENAI_REQUEST_ID] == server.requests[1].response_request_id
    assert transcription.attributes[n.OPERATION_NAME] == "transcription"
    assert transcription.attributes[n.OPENAI_REQUEST_ID] == server.requests[2].response_request_id


def _sent_client_request_id(server: FakeOpenAI) -> str:
    (sent,) = server.requests[-1].headers.getlist("X-Client-Request-Id")
    return sent


def test_client_request_ids_stay_unique_when_the_app_seeds_random(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # An app seeding the random module for reproducible runs must not make our ids repeat.
    random.seed(7)
    client.chat.completions.create(**CHAT)
    first = _sent_client_request_id(server)
    random.seed(7)
    client.chat.completions.create(**CHAT)
    second = _sent_client_request_id(server)
    assert len(first) == len(second) == 32 and first != second
    assert [s.attributes[n.OPENAI_CLIENT_REQUEST_ID] for s in telemetry.spans()] == [first, second]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_client_request_ids_differ_in_a_forked_worker(
    telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI
) -> None:
    # A pre-forking server's workers start from the parent's generator state: each must draw its own.
    pid = os.fork()
    if pid == 0:  # the worker: one call to the server (which runs in the parent and records it)
        try:
            child = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
            child.chat.completions.create(**CHAT)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    worker_id = _sent_client_request_id(server)
    client.chat.completions.create(**CHAT)
    assert len(worker_id) == 32 and worker_id != _sent_client_request_id(server)
