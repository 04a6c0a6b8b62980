"""Audio usage the response does not report.

- Transcripts in ``text``/``srt``/``vtt`` (and translations, which report no usage) come back as a
  string: the duration is read from the uploaded audio's metadata with mutagen (the ``audio`` extra,
  imported only here), rounded up to the second and flagged estimated.
- Speech with ``stream_format="sse"``: the ``speech.audio.done`` event at the end of the body carries
  the usage (text input tokens, audio output tokens).
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from ..usage import Usage

# Response formats whose body carries no usage (a plain string).
TEXT_FORMATS = frozenset(("text", "srt", "vtt"))
_DONE_EVENT = b'"speech.audio.done"'


def needs_duration(endpoint_key: str, body: Mapping[str, Any]) -> bool:
    """Will this transcription or translation come back without usage?"""
    response_format = body.get("response_format") or "json"
    if endpoint_key == "POST /audio/translations":
        return True  # translations report no usage in any format
    return (
        endpoint_key == "POST /audio/transcriptions"
        and type(response_format) is str  # the caller's own value, sent as it is: may be anything
        and response_format in TEXT_FORMATS
    )


def upload_seconds(files: Any) -> float | None:
    """Duration in seconds of the audio the request uploads as ``file``, or None if unknown."""
    content = _upload(files)
    if content is None:
        return None
    try:
        import mutagen
    except ImportError:
        return None
    data, rewind = content
    try:
        # mutagen picks the format from the header bytes and reads only the metadata it needs.
        info = mutagen.File(data)
        length = getattr(getattr(info, "info", None), "length", None)
    finally:
        rewind()
    return float(length) if isinstance(length, int | float) and length > 0 else None


def estimated_usage(seconds: float) -> Usage:
    """Whisper-style per-second usage from a measured duration (rounded up to the second)."""
    return Usage(audio_seconds=float(math.ceil(seconds)), estimated=True)


def _upload(files: Any) -> tuple[Any, Any] | None:
    # The SDK keeps multipart parts as [(field, value)], value as bytes, a file, a path or a tuple
    # (filename, content[, content_type]).
    if isinstance(files, Mapping):
        files = list(files.items())
    if not isinstance(files, list | tuple):
        return None
    for part in files:
        if not (isinstance(part, tuple) and len(part) == 2 and part[0] == "file"):
            continue
        value = part[1]
        if isinstance(value, tuple) and len(value) >= 2:
            value = value[1]
        if isinstance(value, bytes | bytearray):
            return io.BytesIO(value), lambda: None
        if isinstance(value, os.PathLike):
            fh = open(os.fspath(value), "rb")  # noqa: SIM115 - closed by the returned callback
            return fh, fh.close
        if hasattr(value, "read") and hasattr(value, "seek") and hasattr(value, "tell"):
            # Put the caller's file back where it was, so the SDK uploads all of it.
            return value, functools.partial(value.seek, value.tell())
    return None


def speech_sse_usage(body: bytes) -> Usage | None:
    """The usage in a speech SSE body's ``speech.audio.done`` event (output tokens are audio)."""
    at = body.rfind(_DONE_EVENT)
    if at < 0:
        return None
    start = body.rfind(b"data:", 0, at)
    end = body.find(b"\n", at)
    if start < 0:
        return None
    try:
        event = json.loads(body[start + 5 : end if end >= 0 else len(body)])
    except ValueError:
        return None
    usage = event.get("usage") if type(event) is dict else None
    if type(usage) is not dict:
        return None
    out = usage.get("output_tokens")
    inp = usage.get("input_tokens")
    if type(out) is not int or type(inp) is not int:
        return None
    details = usage.get("input_tokens_details") if type(usage.get("input_tokens_details")) is dict else {}
    text_in = details.get("text_tokens")
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        input_text_tokens=text_in if type(text_in) is int else None,
        output_audio_tokens=out,  # speech output is audio tokens, priced at the audio rate
    )


class SpeechTail:
    """The end of a speech SSE body read in chunks (``with_streaming_response``): the usage event is
    the last one, so only the last few KB are kept."""

    _KEEP = 4096

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk)[-self._KEEP :]

    def line(self, line: str) -> None:
        self.feed(line.encode() + b"\n")

    def usage(self) -> Usage | None:
        return speech_sse_usage(self._tail)
