"""Audio billed in every response format (duration from the uploaded file when the response has no
usage), speech over SSE, gpt-image edits and the Responses API's hosted image_generation tool."""

from __future__ import annotations

import io
import logging
import wave
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from otel_openai_billing import names as n
from tests.fakes.openai_server import TRANSCRIPTION_SECONDS, FakeOpenAI
from tests.fuzz.test_fuzz import _faults

from .conftest import Billed

# whisper-1: $0.006 per minute = $0.0001 per second (genai-prices: $0.36 per hour).
PER_SECOND = Decimal("0.0001")


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A real PCM WAV file of silence (mono, 16-bit)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * int(rate * seconds)))
    return out.getvalue()


def mp3(frames: int) -> bytes:
    """A real MPEG-1 Layer III stream: `frames` frames at 128 kbit/s, 44.1 kHz (417 bytes each)."""
    header = bytes.fromhex("fffb9064")  # sync, MPEG-1, layer III, 128 kbit/s, 44100 Hz, joint stereo
    return (header + bytes(417 - len(header))) * frames


@pytest.mark.parametrize(("response_format", "marker"), [("text", ""), ("srt", " --> "), ("vtt", "WEBVTT")])
def test_whisper_text_formats_priced_from_the_wav_duration(
    client: openai.OpenAI, telemetry: Billed, response_format: str, marker: str
) -> None:
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", wav(2.5), "audio/wav"), response_format=response_format
    )
    assert isinstance(text, str) and marker in text
    span = telemetry.only_span()
    # 2.5 s read from the WAV header, rounded up to 3 s x $0.0001 = $0.0003, flagged estimated.
    assert span.attributes[n.AUDIO_SECONDS] == 3.0
    assert span.attributes[n.USAGE_ESTIMATED] is True
    assert span.attributes[n.COST_STATUS] == "estimated"
    assert span.attributes[n.COST_AMOUNT] == float(3 * PER_SECOND)


def test_gpt_4o_transcribe_text_at_the_estimated_per_minute_cost(
    client: openai.OpenAI, telemetry: Billed
) -> None:
    client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("clip.wav", wav(30.0)), response_format="text"
    )
    span = telemetry.only_span()
    # No tokens reported: 30 s x ($0.006 / 60 s) = $0.003, estimated.
    assert span.attributes[n.COST_STATUS] == "estimated"
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.003"))


def test_whisper_text_from_an_mp3_file_on_disk(
    client: openai.OpenAI, telemetry: Billed, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp3"
    path.write_bytes(mp3(153))
    with path.open("rb") as fh:
        client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="text")
    span = telemetry.only_span()
    # 153 frames x 417 bytes x 8 / 128,000 bit/s = 3.99 s -> 4 s x $0.0001 = $0.0004
    assert span.attributes[n.AUDIO_SECONDS] == 4.0
    assert span.attributes[n.COST_AMOUNT] == float(4 * PER_SECOND)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # openai 3.x deprecates translations
def test_translation_priced_from_the_upload(client: openai.OpenAI, telemetry: Billed) -> None:
    client.audio.translations.create(model="whisper-1", file=("clip.wav", wav(61.2)))
    # 61.2 s -> 62 s x $0.0001 = $0.0062
    assert telemetry.only_span().attributes[n.COST_AMOUNT] == float(62 * PER_SECOND)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # openai 3.x deprecates translations
def test_translation_verbose_json_priced_from_the_upload(client: openai.OpenAI, telemetry: Billed) -> None:
    result = client.audio.translations.create(
        model="whisper-1", file=("clip.mp3", mp3(77)), response_format="verbose_json"
    )
    assert result.text
    # 77 frames x 417 bytes x 8 / 128,000 bit/s = 2.007 s -> 3 s x $0.0001 = $0.0003 (the response has
    # a duration but no usage; the file is what is billed)
    assert telemetry.only_span().attributes[n.COST_AMOUNT] == float(3 * PER_SECOND)


@pytest.mark.sdk_feature("diarize")
def test_diarized_json_priced_from_its_token_usage(client: openai.OpenAI, telemetry: Billed) -> None:
    client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("clip.wav", wav(3.0)), response_format="diarized_json"
    )
    span = telemetry.only_span()
    # 40 audio tokens x $6/1M + 9 text out x $10/1M = 0.00024 + 0.00009 = 0.00033 (gpt-4o-transcribe-diarize
    # shares gpt-4o-transcribe's rates in genai-prices)
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.00033"))
    assert n.USAGE_ESTIMATED not in span.attributes


def test_whisper_json_uses_the_reported_duration(client: openai.OpenAI, telemetry: Billed) -> None:
    client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", wav(9.0)))
    span = telemetry.only_span()
    # The API's usage (3 s from the fake server) wins over the file: 3 x $0.0001, not estimated.
    assert span.attributes[n.COST_AMOUNT] == float(3 * PER_SECOND)
    assert n.USAGE_ESTIMATED not in span.attributes


async def test_async_transcription_text(aclient: openai.AsyncOpenAI, telemetry: Billed) -> None:
    await aclient.audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", wav(1.0)), response_format="text"
    )
    assert telemetry.only_span().attributes[n.COST_AMOUNT] == float(PER_SECOND)


@pytest.mark.sdk_feature("speech_sse")
def test_gpt_4o_mini_tts_sse_priced_from_the_done_event(client: openai.OpenAI, telemetry: Billed) -> None:
    speech = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello there, how are you?", stream_format="sse"
    )
    assert b"speech.audio.done" in speech.content
    span = telemetry.only_span()
    # 14 text tokens x $0.60/1M + 250 audio tokens x $12/1M = 0.0000084 + 0.003 = 0.0030084
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.0030084"))
    assert span.attributes[n.USAGE_AUDIO_OUTPUT_TOKENS] == 250
    assert span.attributes[n.USAGE_INPUT_TOKENS] == 14


@pytest.mark.sdk_feature("speech_sse")
def test_gpt_4o_mini_tts_sse_streamed(client: openai.OpenAI, telemetry: Billed) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello there, how are you?", stream_format="sse"
    ) as response:
        chunks = list(response.iter_bytes(chunk_size=64))
    assert b"speech.audio.done" in b"".join(chunks)
    # As above: 14 x $0.60/1M + 250 x $12/1M = 0.0030084
    assert telemetry.only_span().attributes[n.COST_AMOUNT] == float(Decimal("0.0030084"))


@pytest.mark.sdk_feature("speech_sse")
def test_gpt_4o_mini_tts_sse_read_whole_through_a_streaming_response(
    client: openai.OpenAI, telemetry: Billed
) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello there, how are you?", stream_format="sse"
    ) as response:
        assert b"speech.audio.done" in response.read()
    # As above: 14 x $0.60/1M + 250 x $12/1M = 0.0030084
    assert telemetry.only_span().attributes[n.COST_AMOUNT] == float(Decimal("0.0030084"))


def test_tts_1_per_character(client: openai.OpenAI, telemetry: Billed) -> None:
    client.audio.speech.create(model="tts-1-hd", voice="alloy", input="Hello there, how are you?")
    span = telemetry.only_span()
    # 25 characters x $30/1M = $0.00075
    assert span.attributes[n.INPUT_CHARACTERS] == 25
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.00075"))


@pytest.mark.sdk_feature("image_edit_quality")
def test_gpt_image_edit(client: openai.OpenAI, telemetry: Billed) -> None:
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
    client.images.edit(
        model="gpt-image-1",
        image=("in.png", png, "image/png"),
        prompt="add a hat",
        quality="low",
        size="1024x1024",
    )
    span = telemetry.only_span()
    # gpt-image-1: text in $5, image in $10, image out $40 per 1M. 12 text + 65 image tokens in,
    # 272 out (low, 1024x1024): 12 x 5/1M + 65 x 10/1M + 272 x 40/1M = 0.00006 + 0.00065 + 0.01088
    assert span.attributes[n.USAGE_IMAGE_INPUT_TOKENS] == 65
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.01159"))


IMAGE_GEN_USAGE = {
    "image_gen": {
        "input_tokens": 50,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
        "output_tokens": 272,
        "output_tokens_details": {"image_tokens": 272, "text_tokens": 0},
        "total_tokens": 322,
    }
}
# The Responses call itself: gpt-4.1-mini, 19 in x $0.40/1M + 10 out x $1.60/1M = 0.0000076 + 0.000016
BASE = Decimal("0.0000236")


@pytest.mark.sdk_feature("responses")
def test_hosted_image_tool_priced_with_the_named_model(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    server.sources.next_tool_usage = IMAGE_GEN_USAGE
    client.responses.create(
        model="gpt-4.1-mini", input="draw", tools=[{"type": "image_generation", "model": "gpt-image-1-mini"}]
    )
    span = telemetry.only_span()
    # gpt-image-1-mini: text in $2, image out $8 per 1M: 50 x 2/1M + 272 x 8/1M = 0.0001 + 0.002176
    assert span.attributes[n.IMAGE_TOOL_MODEL] == "gpt-image-1-mini"
    assert span.attributes[n.IMAGE_TOOL_MODEL_ASSUMED] is False
    assert span.attributes[n.COST_AMOUNT] == float(BASE + Decimal("0.002276"))
    assert n.COST_WARNING not in span.attributes


@pytest.mark.sdk_feature("responses")
def test_hosted_image_tool_without_a_model_assumes_the_default_and_says_so(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    server.sources.next_tool_usage = IMAGE_GEN_USAGE
    client.responses.create(model="gpt-4.1-mini", input="draw", tools=[{"type": "image_generation"}])
    span = telemetry.only_span()
    # gpt-image-1 (the API default): 50 x $5/1M + 272 x $40/1M = 0.00025 + 0.01088
    assert span.attributes[n.IMAGE_TOOL_MODEL] == "gpt-image-1"
    assert span.attributes[n.IMAGE_TOOL_MODEL_ASSUMED] is True
    assert span.attributes[n.COST_AMOUNT] == float(BASE + Decimal("0.01113"))
    assert "not named in the request" in span.attributes[n.COST_WARNING]


def test_a_response_format_that_is_no_string_is_recorded_without_a_fault(
    client: openai.OpenAI, telemetry: Billed, caplog: pytest.LogCaptureFixture
) -> None:
    # The caller's value goes out as it is (the API would refuse it; the fake server answers JSON
    # with usage): reading the request must not fail on it, and the answer's usage prices the call.
    caplog.set_level(logging.DEBUG, logger="otel_openai_billing")
    client.audio.transcriptions.create(
        model="whisper-1",
        file=("clip.wav", wav(2.5), "audio/wav"),
        response_format=["text"],  # type: ignore[arg-type]
    )
    assert _faults(caplog) == []
    span = telemetry.only_span()
    assert span.attributes[n.COST_STATUS] == "priced"
    assert span.attributes[n.COST_AMOUNT] == float(TRANSCRIPTION_SECONDS * PER_SECOND)
