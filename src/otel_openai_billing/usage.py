"""Raw response ``usage`` dicts -> one normalized :class:`Usage`.

Pure functions, one per usage shape the API returns. They read the raw JSON dict (what the SDK's
``_process_response_data`` receives), never the SDK's typed objects, so fields newer than the installed
SDK still count, and the same code serves openai 1.x to 3.x.

Conventions of the normalized record (they follow how OpenAI bills):
- ``input_tokens`` includes cached, cache-write, audio and image input tokens; those are subsets.
- ``output_tokens`` includes reasoning, audio and image output tokens; those are subsets, never added.
- ``None`` means "the API did not report it"; ``0`` means it reported zero.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from .values import Value


class Usage(Value):
    """Billable quantities of one call, as reported by the API (or estimated, see ``estimated``)."""

    __slots__ = (  # noqa: RUF023  (the fields in __init__ order: TOKEN_FIELDS fill them by position)
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        # Of cache_write_tokens, those written with the long (12 h) TTL; the rest used the default TTL.
        "cache_write_long_ttl_tokens",
        "reasoning_tokens",
        "input_text_tokens",
        "input_audio_tokens",
        "input_image_tokens",
        "cache_read_audio_tokens",
        "cache_read_image_tokens",
        "output_text_tokens",
        "output_audio_tokens",
        "output_image_tokens",
        # Non-token units.
        "audio_seconds",
        "input_characters",
        "images",
        "web_search_calls",
        "file_search_calls",
        # Hosted image-generation tool inside a Responses call: its own token counts and rates.
        "tool_image_input_text_tokens",
        "tool_image_input_image_tokens",
        "tool_image_output_tokens",
        "tool_image_output_text_tokens",  # of tool_image_output_tokens
        "tool_image_cached_text_tokens",  # of tool_image_input_text_tokens
        "tool_image_cached_image_tokens",  # of tool_image_input_image_tokens
        # Fine-tuning: tokens trained on (dataset tokens x epochs), as the job object reports them.
        "trained_tokens",
        # True when a quantity was derived by this package rather than reported by the API.
        "estimated",
    )

    def __init__(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cache_write_long_ttl_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        input_text_tokens: int | None = None,
        input_audio_tokens: int | None = None,
        input_image_tokens: int | None = None,
        cache_read_audio_tokens: int | None = None,
        cache_read_image_tokens: int | None = None,
        output_text_tokens: int | None = None,
        output_audio_tokens: int | None = None,
        output_image_tokens: int | None = None,
        audio_seconds: float | None = None,
        input_characters: int | None = None,
        images: int | None = None,
        web_search_calls: int | None = None,
        file_search_calls: int | None = None,
        tool_image_input_text_tokens: int | None = None,
        tool_image_input_image_tokens: int | None = None,
        tool_image_output_tokens: int | None = None,
        tool_image_output_text_tokens: int | None = None,
        tool_image_cached_text_tokens: int | None = None,
        tool_image_cached_image_tokens: int | None = None,
        trained_tokens: int | None = None,
        estimated: bool = False,
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens
        self.cache_write_long_ttl_tokens = cache_write_long_ttl_tokens
        self.reasoning_tokens = reasoning_tokens
        self.input_text_tokens = input_text_tokens
        self.input_audio_tokens = input_audio_tokens
        self.input_image_tokens = input_image_tokens
        self.cache_read_audio_tokens = cache_read_audio_tokens
        self.cache_read_image_tokens = cache_read_image_tokens
        self.output_text_tokens = output_text_tokens
        self.output_audio_tokens = output_audio_tokens
        self.output_image_tokens = output_image_tokens
        self.audio_seconds = audio_seconds
        self.input_characters = input_characters
        self.images = images
        self.web_search_calls = web_search_calls
        self.file_search_calls = file_search_calls
        self.tool_image_input_text_tokens = tool_image_input_text_tokens
        self.tool_image_input_image_tokens = tool_image_input_image_tokens
        self.tool_image_output_tokens = tool_image_output_tokens
        self.tool_image_output_text_tokens = tool_image_output_text_tokens
        self.tool_image_cached_text_tokens = tool_image_cached_text_tokens
        self.tool_image_cached_image_tokens = tool_image_cached_image_tokens
        self.trained_tokens = trained_tokens
        self.estimated = estimated

    def is_empty(self) -> bool:
        """True when nothing billable was reported."""
        return all(v is None for v in _quantities(self))


def add(total: Usage, more: Usage) -> Usage:
    """Sum two usages field by field (None + None stays None); for Batch lines of one model."""
    for name in Usage.__slots__:
        b = getattr(more, name)
        if name == "estimated":
            total.estimated = total.estimated or b
        elif b is not None:
            a = getattr(total, name)
            setattr(total, name, b if a is None else a + b)
    return total


def _int(value: Any) -> int | None:
    # Exact int first: every real count is one.
    if type(value) is int:
        return value
    if value is None:
        return None
    # bool is an int subclass; a JSON true is never a token count.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        # The SDK's models coerce "100" to 100, so the API's bill counts it: so do we.
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


_EMPTY: Mapping[str, Any] = {}


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a null or junk ``*_details``)."""
    # type() and None first: the ABC check costs ten times more, JSON objects are plain dicts and an
    # absent *_details is None.
    if type(value) is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else _EMPTY


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def _token_usage(
    inp: Any, out: Any, details: Mapping[str, Any], out_details: Mapping[str, Any], cached: Mapping[str, Any]
) -> Usage:
    # Chat and Responses name their totals differently but share the keys of their details objects.
    # In the order of TOKEN_FIELDS, Usage's first fields.
    counts = (
        inp,
        out,
        details.get("cached_tokens"),
        details.get("cache_write_tokens"),
        _map(details.get("cache_write_tokens_details")).get("ttl_12h_tokens")
        if "cache_write_tokens_details" in details
        else None,
        out_details.get("reasoning_tokens"),
        details.get("text_tokens"),
        details.get("audio_tokens"),
        details.get("image_tokens"),
        cached.get("audio_tokens"),
        cached.get("image_tokens"),
        out_details.get("text_tokens"),
        out_details.get("audio_tokens"),
        out_details.get("image_tokens"),
    )
    # Real counts are ints or absent: that is settled in C for all of them at once, and only a body
    # with something else (a float, a string, a bool) has each value read by _int.
    if not _COUNT_TYPES.issuperset(map(type, counts)):
        counts = tuple(map(_int, counts))
    return Usage(*counts)


def chat_usage(u: Mapping[str, Any]) -> Usage:
    """Chat Completions and legacy Completions: ``prompt_tokens`` / ``completion_tokens``."""
    return _token_usage(
        u.get("prompt_tokens"),
        u.get("completion_tokens"),
        _map(u.get("prompt_tokens_details")),
        _map(u.get("completion_tokens_details")),
        _EMPTY,  # chat reports no cached audio or image tokens
    )


def responses_usage(u: Mapping[str, Any]) -> Usage:
    """Responses API, Batch objects, decisions, agents, gpt-image and token-billed transcription.

    They share ``input_tokens`` / ``output_tokens`` with ``input_tokens_details`` (Responses, images) or
    ``input_token_details`` (realtime, transcription); both spellings are read.
    """
    details = _map(u.get("input_tokens_details") or u.get("input_token_details"))
    return _token_usage(
        u.get("input_tokens"),
        u.get("output_tokens"),
        details,
        _map(u.get("output_tokens_details") or u.get("output_token_details")),
        _map(details.get("cached_tokens_details")),
    )


def embeddings_usage(u: Mapping[str, Any]) -> Usage:
    """Embeddings: input only."""
    return Usage(input_tokens=_int(u.get("prompt_tokens")))


def transcription_usage(u: Mapping[str, Any]) -> Usage:
    """Transcriptions: ``{"type": "duration", "seconds"}`` or ``{"type": "tokens", ...}``."""
    if u.get("type") == "duration" or ("seconds" in u and "input_tokens" not in u):
        seconds = u.get("seconds")
        return Usage(audio_seconds=float(seconds) if isinstance(seconds, int | float) else None)
    return responses_usage(u)


def add_tool_usage(usage: Usage, tool_usage: Mapping[str, Any]) -> None:
    """Responses ``tool_usage``: hosted web search calls and the image-generation tool's tokens."""
    usage.web_search_calls = _int(_get(tool_usage, "web_search", "num_requests"))
    usage.file_search_calls = _int(_get(tool_usage, "file_search", "num_requests"))
    image_gen = tool_usage.get("image_gen")
    if isinstance(image_gen, Mapping):
        usage.tool_image_input_text_tokens = _int(_get(image_gen, "input_tokens_details", "text_tokens"))
        usage.tool_image_input_image_tokens = _int(_get(image_gen, "input_tokens_details", "image_tokens"))
        usage.tool_image_output_tokens = _int(image_gen.get("output_tokens"))
        usage.tool_image_output_text_tokens = _int(_get(image_gen, "output_tokens_details", "text_tokens"))
        usage.tool_image_cached_text_tokens = _int(
            _get(image_gen, "cached_tokens_details", "cached_text_tokens")
        )
        usage.tool_image_cached_image_tokens = _int(
            _get(image_gen, "cached_tokens_details", "cached_image_tokens")
        )


UsageShape = Callable[[Mapping[str, Any]], Usage]

SHAPES: dict[str, UsageShape] = {
    "chat": chat_usage,
    "responses": responses_usage,
    "embeddings": embeddings_usage,
    "images": responses_usage,
    "transcription": transcription_usage,
}


def extract(shape: str | None, raw_usage: Any, tool_usage: Any = None) -> Usage | None:
    """Normalize a raw ``usage`` dict of the given shape; ``None`` if there is nothing to read."""
    # A usage body is a plain dict; the ABC check (ten times the cost) is for anything else.
    if shape is None or not (type(raw_usage) is dict or isinstance(raw_usage, Mapping)):
        return None
    fn = SHAPES.get(shape)
    if fn is None:
        return None
    usage = fn(raw_usage)
    if tool_usage is not None and isinstance(tool_usage, Mapping):
        add_tool_usage(usage, tool_usage)
    return usage


# Usage's first fields, in order: _token_usage fills them by position (tests/core/test_usage_fields.py
# keeps the two in step).
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_long_ttl_tokens",
    "reasoning_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "cache_read_audio_tokens",
    "cache_read_image_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "output_image_tokens",
)
_COUNT_TYPES = frozenset((int, type(None)))

# No billed unit reports more than this (1e11: the largest context window is about 1M tokens, a whole
# Batch of 50,000 requests at a million tokens each is 5e10, under the 15B-token queue limit). A larger,
# negative or non-finite count is junk: recorded as-is it would poison a histogram's running sum,
# overflow a 64-bit attribute, and price nonsense. The pricing engine uses the same bound.
MAX_COUNT = 10**11
# Every field of Usage but ``estimated`` (the last): the billed quantities.
QUANTITIES: tuple[str, ...] = Usage.__slots__[:-1]
_quantities = operator.attrgetter(*QUANTITIES)


def all_plausible(values: tuple[Any, ...]) -> bool:
    """True when every count in ``values`` (None for absent) is within [0, MAX_COUNT], settled in C."""
    # filter() drops the Nones (and zeros, which are fine), min/max bound the rest, and a NaN makes the
    # sum NaN (it fails == itself).
    present = tuple(filter(None, values))
    if not present:
        return True
    total = sum(present)
    return min(present) >= 0 and max(present) <= MAX_COUNT and total == total


def implausible(usage: Usage) -> list[str]:
    """The quantities of ``usage`` that no real response carries: negative, non-finite or huge."""
    # The common case, every count plausible, is settled in C; the loop only names the bad ones.
    if all_plausible(_quantities(usage)):
        return []
    bad = []
    for name in QUANTITIES:
        value = getattr(usage, name)
        # NaN fails every comparison, so "not (in range)" catches it with the infinities.
        if value is not None and not (0 <= value <= MAX_COUNT):
            bad.append(name)
    return bad
