"""Each count of a usage object lands in its own Usage field, on the fast path (ints) and the slow one.

usage._token_usage fills Usage's first fields by position (TOKEN_FIELDS): a field added or moved in
Usage, or a count moved in the tuple, would put one count in another's field and misprice silently.
"""

from __future__ import annotations

import pytest

from otel_openai_billing import usage as usage_mod

# Each count a distinct value, so a count in the wrong field is seen.
RESPONSES = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "input_tokens_details": {
        "cached_tokens": 300,
        "cache_write_tokens": 40,
        "cache_write_tokens_details": {"ttl_12h_tokens": 15},
        "text_tokens": 600,
        "audio_tokens": 250,
        "image_tokens": 110,
        "cached_tokens_details": {"audio_tokens": 70, "image_tokens": 20},
    },
    "output_tokens_details": {
        "reasoning_tokens": 90,
        "text_tokens": 330,
        "audio_tokens": 120,
        "image_tokens": 50,
    },
}
EXPECTED = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_read_tokens": 300,
    "cache_write_tokens": 40,
    "cache_write_long_ttl_tokens": 15,
    "reasoning_tokens": 90,
    "input_text_tokens": 600,
    "input_audio_tokens": 250,
    "input_image_tokens": 110,
    "cache_read_audio_tokens": 70,
    "cache_read_image_tokens": 20,
    "output_text_tokens": 330,
    "output_audio_tokens": 120,
    "output_image_tokens": 50,
}


def test_token_fields_are_usages_first_fields() -> None:
    names = usage_mod.Usage.__slots__
    assert names[: len(usage_mod.TOKEN_FIELDS)] == usage_mod.TOKEN_FIELDS


def _as(kind: str, value: int) -> object:
    # The same count as the slow path sees it: a float, a numeric string (the SDK coerces both).
    return {"int": value, "float": float(value), "str": str(value)}[kind]


@pytest.mark.parametrize("kind", ["int", "float", "str"])
def test_each_count_lands_in_its_field(kind: str) -> None:
    def convert(d: dict) -> dict:
        return {k: convert(v) if isinstance(v, dict) else _as(kind, v) for k, v in d.items()}

    usage = usage_mod.extract("responses", convert(RESPONSES))
    assert usage is not None
    assert {name: getattr(usage, name) for name in EXPECTED} == EXPECTED
    # Nothing the body did not report is filled in.
    others = set(usage_mod.QUANTITIES) - EXPECTED.keys()
    assert all(getattr(usage, name) is None for name in others)


def test_chat_names_and_junk() -> None:
    usage = usage_mod.extract(
        "chat",
        {
            "prompt_tokens": 1200,
            "completion_tokens": True,  # a JSON true is no count
            "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": "100", "audio_tokens": 2.5},
        },
    )
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (1200, None, 800)
    assert (usage.reasoning_tokens, usage.output_audio_tokens, usage.input_audio_tokens) == (100, None, None)
