"""A call's worst case, from its request alone: an upper bound on the tokens it can be billed for.

Pure. The input side is a guaranteed upper bound, not a tokenizer count: every token of a byte-level
BPE (the tokenizers of OpenAI's models) is at least one byte of UTF-8, so the byte count of a text
bounds its token count. Structure (message framing, keys, tool schemas) is counted as text plus a
few tokens per object. Media cannot be sized from the request, so it is counted conservatively.

With ``budget_tokenizer`` on, the guard passes a counter from the usage estimator
(``otel_openai_billing.estimate``, OpenAI's tokenizer, offline) once the model's encoding is loaded:
text is then counted in tokens rather than bytes, with the same framing and media allowances on top,
which is about four times tighter for English and still a bound on what the API will bill. The
tokenizer costs time in proportion to the text (~40 ns a character), so it runs only when the text's
byte bound is above an eighth of the output cap. Below that, the text's share of the worst case is at
most an eighth (every OpenAI text model charges at least as much per output token as per input
token), so counting it exactly could tighten the reservation by no more than that: a short prompt
under a large output cap, the common call, keeps the byte bound and pays no tokenizer time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..usage import Usage

# Per object and list item: message framing (<|start|>role<|message|>... <|end|>) is 3-4 tokens.
FRAMING_TOKENS = 4
# One image input, at any detail: high detail on tile models is at most 1,445 tokens (8 tiles), the
# patch models cap at 1,536 patches x 2.46 (gpt-4.1-nano) = 3,779; this leaves room for larger
# "original" detail budgets of newer models.
IMAGE_TOKENS = 10_000
# One file input (a PDF is text plus an image per page): its size is not in the request.
FILE_TOKENS = 100_000
# Audio input is at most 10 tokens per second; base64 of any codec OpenAI accepts carries at least
# 640 characters per second (opus at 6 kbit/s ~ 1,000), so one token per 64 characters bounds it.
AUDIO_CHARS_PER_TOKEN = 64
_IMAGE_TYPES = frozenset({"image_url", "input_image", "image"})
_FILE_TYPES = frozenset({"file", "input_file"})
_AUDIO_TYPES = frozenset({"input_audio"})
# Legacy Completions bill 16 output tokens when max_tokens is not given (the API's default).
_LEGACY_DEFAULT_MAX_TOKENS = 16
# Text is tokenized only when its byte bound exceeds the output cap divided by this (see the top).
TOKENIZE_ABOVE_OUTPUT_SHARE = 8


@dataclass(slots=True)
class InputBound:
    """Upper bounds on a request's input tokens, by kind."""

    text: int = 0
    image: int = 0
    audio: int = 0

    @property
    def total(self) -> int:
        return self.text + self.image + self.audio


Counter = Callable[[str], int]


def _utf8_bytes(text: str) -> int:
    # ASCII, the common case, is one byte a character: no encoded copy needed.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def estimate_input_tokens(model: str | None, body: Mapping[str, Any], count: Counter | None = None) -> int:
    """An upper bound on the input tokens a request can be billed for (see the module docstring)."""
    return input_bound(body, count).total


def input_bound(body: Mapping[str, Any], count: Counter | None = None) -> InputBound:
    """The input bound split into text, image and audio tokens (each has its own rate).

    ``count`` counts the tokens of a text (a tokenizer); without one, UTF-8 bytes bound them.
    """
    bound = InputBound()
    _walk(body, bound, count or _utf8_bytes)
    return bound


def _walk(node: Any, bound: InputBound, count: Counter) -> None:
    if isinstance(node, str):
        # A data URL is media inside a part that is counted as media, never as text.
        if not node.startswith("data:"):
            bound.text += count(node)
        return
    # dict first: the request bodies the SDK builds are dicts, and the Mapping check costs more.
    if isinstance(node, (dict, Mapping)):
        kind = node.get("type")
        if kind in _IMAGE_TYPES or (kind is None and "image_url" in node):
            bound.image += IMAGE_TOKENS
            return
        if kind in _FILE_TYPES:
            bound.text += FILE_TOKENS
            return
        if kind in _AUDIO_TYPES or (kind is None and "input_audio" in node):
            audio = node.get("input_audio", node)
            data = audio.get("data") if isinstance(audio, Mapping) else None
            bound.audio += (len(data) // AUDIO_CHARS_PER_TOKEN + 1) if isinstance(data, str) else IMAGE_TOKENS
            return
        bound.text += FRAMING_TOKENS
        for key, value in node.items():
            if isinstance(key, str):
                bound.text += count(key)
            _walk(value, bound, count)
        return
    if isinstance(node, list | tuple):
        for item in node:
            _walk(item, bound, count)
        return
    if isinstance(node, int | float):
        # Token arrays (embeddings and legacy prompts) are one token per number.
        bound.text += 1


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def worst_case_usage(
    endpoint_key: str,
    body: Mapping[str, Any],
    default_output_tokens: int,
    context_tokens: int,
    count: Counter | None = None,
) -> Usage | None:
    """The most a request can be billed for, as usage to price; None when it cannot be bounded."""
    if endpoint_key in ("POST /chat/completions", "POST /completions", "POST /responses"):
        out = _output_cap(endpoint_key, body, default_output_tokens)
        bound = _text_bound(body, count, out)
        if endpoint_key == "POST /responses" and any(
            body.get(k) for k in ("previous_response_id", "conversation", "prompt")
        ):
            # Earlier turns and stored prompts are billed as input but are not in the request.
            bound.text += context_tokens
        audio_out = "audio" in (body.get("modalities") or ())
        return Usage(
            input_tokens=bound.total,
            input_audio_tokens=bound.audio or None,
            input_image_tokens=bound.image or None,
            output_tokens=out,
            output_audio_tokens=out if audio_out else None,
        )
    if endpoint_key == "POST /embeddings":
        return Usage(input_tokens=_text_bound({"input": body.get("input")}, count, 0).total)
    if endpoint_key == "POST /audio/speech":
        text = body.get("input")
        return Usage(input_characters=len(text)) if isinstance(text, str) else None
    if endpoint_key == "POST /images/generations":
        return Usage(images=_positive_int(body.get("n")) or 1)
    return None


def _text_bound(body: Mapping[str, Any], count: Counter | None, output_cap: int) -> InputBound:
    """The byte bound, or the tokenizer's count where it tightens the worst case (see the top)."""
    bound = input_bound(body)
    if count is not None and bound.text * TOKENIZE_ABOVE_OUTPUT_SHARE > output_cap:
        return input_bound(body, count)
    return bound


def _output_cap(endpoint_key: str, body: Mapping[str, Any], default: int) -> int:
    if endpoint_key == "POST /responses":
        cap = _positive_int(body.get("max_output_tokens"))
        return cap or default
    if endpoint_key == "POST /completions":
        cap = _positive_int(body.get("max_tokens")) or _LEGACY_DEFAULT_MAX_TOKENS
        # best_of generates that many completions server-side, all billed.
        choices = max(_positive_int(body.get("n")) or 1, _positive_int(body.get("best_of")) or 1)
        return cap * choices
    cap = _positive_int(body.get("max_completion_tokens")) or _positive_int(body.get("max_tokens")) or default
    return cap * (_positive_int(body.get("n")) or 1)
