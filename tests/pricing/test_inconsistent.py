"""Usage that cannot be real is flagged `inconsistent`, never priced (as-is or at 0)."""

from __future__ import annotations

import pytest

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage


@pytest.mark.parametrize(
    ("model", "usage", "why"),
    [
        ("gpt-4o", Usage(input_tokens=-5, output_tokens=10), "input_tokens=-5"),
        ("gpt-4o", Usage(input_tokens=10, output_tokens=10**12), "output_tokens=1000000000000"),
        ("gpt-4o", Usage(input_tokens=int(1e308), output_tokens=1), "implausible usage: input_tokens=1"),
        (
            "gpt-4o",
            Usage(input_tokens=10, cache_read_tokens=-5, output_tokens=1),
            "cached_input comes out negative",
        ),
        ("gpt-4o", Usage(input_tokens=10, cache_read_tokens=20, output_tokens=1), "input comes out negative"),
        (
            "gpt-4o",
            Usage(input_tokens=10, output_tokens=5, output_audio_tokens=9),
            "output comes out negative",
        ),
        ("whisper-1", Usage(audio_seconds=float("nan")), "audio_seconds=nan"),
        ("whisper-1", Usage(audio_seconds=-3.0), "audio_seconds=-3.0"),
        ("tts-1", Usage(input_characters=-1), "input_characters=-1"),
    ],
)
def test_inconsistent(pricer: Pricer, model: str, usage: Usage, why: str) -> None:
    cost = pricer.price(usage, PriceQuery(model))
    assert (cost.status, cost.amount) == ("inconsistent", None)
    assert why in cost.reason
