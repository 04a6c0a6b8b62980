"""genai-prices' calc_price as a second oracle, on cases checked by hand to be right there too."""

from datetime import UTC, datetime

import genai_prices
import pytest

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)

CASES = [
    # model, tier, batch, our usage, the same usage in genai-prices' terms
    (
        "gpt-4o-2024-08-06",
        None,
        False,
        Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350),
        {"input_tokens": 1200, "cache_read_tokens": 800, "output_tokens": 350},
    ),
    (
        "gpt-5",
        "priority",
        False,
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"input_tokens": 10000, "cache_read_tokens": 5000, "output_tokens": 2000},
    ),
    (
        "gpt-5-mini",
        None,
        True,
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"input_tokens": 10000, "cache_read_tokens": 5000, "output_tokens": 2000},
    ),
    (
        "gpt-5.4",
        None,
        False,
        Usage(input_tokens=300000, cache_read_tokens=100000, output_tokens=1000),
        {"input_tokens": 300000, "cache_read_tokens": 100000, "output_tokens": 1000},
    ),
    (
        "gpt-realtime",
        None,
        False,
        Usage(
            input_tokens=2000,
            cache_read_tokens=700,
            cache_read_audio_tokens=500,
            input_audio_tokens=1500,
            output_tokens=1000,
            output_audio_tokens=800,
        ),
        {
            "input_tokens": 2000,
            "cache_read_tokens": 700,
            "cache_audio_read_tokens": 500,
            "input_audio_tokens": 1500,
            "output_tokens": 1000,
            "output_audio_tokens": 800,
        },
    ),
    ("whisper-1", None, False, Usage(audio_seconds=90.5), {"audio_seconds": 90.5}),
    ("text-embedding-3-large", None, False, Usage(input_tokens=12345), {"input_tokens": 12345}),
]


@pytest.mark.parametrize(("model", "tier", "batch", "usage", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_agrees_with_calc_price(pricer: Pricer, model, tier, batch, usage, theirs) -> None:
    context = {"processing": "batch"} if batch else ({"service_tier": tier} if tier else None)
    oracle = genai_prices.calc_price(
        genai_prices.Usage(**theirs),
        model,
        provider_id="openai",
        genai_request_timestamp=NOW,
        price_context=context,
    )
    ours = pricer.price(usage, PriceQuery(model, service_tier=tier, batch=batch, timestamp=NOW))
    assert ours.amount is not None
    assert abs(ours.amount - oracle.total_price) <= genai_prices.types.Decimal("1e-9")
