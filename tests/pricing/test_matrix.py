"""Costs of a matrix of calls, each expected figure written by hand from OpenAI's published prices."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otel_openai_billing.pricing import Cost, PriceQuery, Pricer
from otel_openai_billing.usage import Usage

D = Decimal
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # after genai-prices' tier (10-12) and Batch (10-14) data
TOL = D("1e-9")


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


def assert_cost(cost: Cost, expected: str) -> None:
    assert cost.status in ("priced", "estimated"), cost
    assert cost.amount is not None
    assert abs(cost.amount - D(expected)) <= TOL, cost
    # The breakdown adds up exactly to the amount.
    assert sum(cost.components.values(), D(0)) == cost.amount


CASES = [
    # id, model, usage, query kwargs, expected USD
    # 400 uncached x $2.50/1M + 800 cached x $1.25/1M + 350 out x $10/1M (100 reasoning inside) = 0.0055
    (
        "gpt-4o snapshot, cached, reasoning",
        "gpt-4o-2024-08-06",
        Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350, reasoning_tokens=100),
        {},
        "0.0055",
    ),
    # gpt-4o-2024-05-13 is its own price, $5/$15: 1000 x 5/1M + 100 x 15/1M = 0.0065 (gpt-4o would be 0.0035)
    (
        "gpt-4o-2024-05-13 not gpt-4o",
        "gpt-4o-2024-05-13",
        Usage(input_tokens=1000, output_tokens=100),
        {},
        "0.0065",
    ),
    # 8000 x 0.15 + 2000 x 0.075 + 500 x 0.60, per 1M = 0.0012 + 0.00015 + 0.0003 = 0.00165
    (
        "gpt-4o-mini cached",
        "gpt-4o-mini-2024-07-18",
        Usage(input_tokens=10000, cache_read_tokens=2000, output_tokens=500),
        {},
        "0.00165",
    ),
    # gpt-4.1: 1000 x 2 + 4000 x 0.50 + 1000 x 8, per 1M = 0.012
    (
        "gpt-4.1 cached 75% off",
        "gpt-4.1-2025-04-14",
        Usage(input_tokens=5000, cache_read_tokens=4000, output_tokens=1000),
        {},
        "0.012",
    ),
    # o3 before the 2025-06-10 cut: 1000 x 10 + 1000 x 2.50 + 1000 x 40, per 1M = 0.0525
    (
        "o3 before price cut",
        "o3-2025-04-16",
        Usage(input_tokens=2000, cache_read_tokens=1000, output_tokens=1000),
        {"timestamp": day(2025, 5, 1)},
        "0.0525",
    ),
    # o3 after the cut: 1000 x 2 + 1000 x 0.50 + 1000 x 8, per 1M = 0.0105
    (
        "o3 after price cut",
        "o3-2025-04-16",
        Usage(input_tokens=2000, cache_read_tokens=1000, output_tokens=1000),
        {"timestamp": day(2025, 7, 1)},
        "0.0105",
    ),
    # gpt-5 priority: 5000 x 2.50 + 5000 x 0.25 + 2000 x 20, per 1M = 0.0125 + 0.00125 + 0.04 = 0.05375
    (
        "gpt-5 priority",
        "gpt-5-2025-08-07",
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"service_tier": "priority"},
        "0.05375",
    ),
    (
        "gpt-5 fast = priority",
        "gpt-5-2025-08-07",
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"service_tier": "fast"},
        "0.05375",
    ),
    # Same call in 2025, before genai-prices carries tier rates (the supplement does).
    (
        "gpt-5 priority 2025",
        "gpt-5-2025-08-07",
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"service_tier": "priority", "timestamp": day(2025, 9, 1)},
        "0.05375",
    ),
    # gpt-5 flex: 5000 x 0.625 + 5000 x 0.0625 + 2000 x 5, per 1M = 0.003125 + 0.0003125 + 0.01 = 0.0134375
    (
        "gpt-5 flex",
        "gpt-5",
        Usage(input_tokens=10000, cache_read_tokens=5000, output_tokens=2000),
        {"service_tier": "flex"},
        "0.0134375",
    ),
    # gpt-5-mini priority (1.8x): 10000 x 0.45 + 1000 x 3.60, per 1M = 0.0081
    (
        "gpt-5-mini priority",
        "gpt-5-mini",
        Usage(input_tokens=10000, output_tokens=1000),
        {"service_tier": "priority"},
        "0.0081",
    ),
    # gpt-5-nano default: 10000 x 0.05 + 1000 x 0.40, per 1M = 0.0009
    ("gpt-5-nano", "gpt-5-nano", Usage(input_tokens=10000, output_tokens=1000), {}, "0.0009"),
    # gpt-4o priority (1.7x): 1000 x 4.25 + 1000 x 17, per 1M = 0.02125
    (
        "gpt-4o priority",
        "gpt-4o",
        Usage(input_tokens=1000, output_tokens=1000),
        {"service_tier": "priority"},
        "0.02125",
    ),
    # Batch gpt-4o: 1000 x 1.25 + 1000 cached x 1.25 (no Batch cached rate: standard) + 1000 x 5 = 0.0075
    (
        "gpt-4o batch",
        "gpt-4o-2024-08-06",
        Usage(input_tokens=2000, cache_read_tokens=1000, output_tokens=1000),
        {"batch": True},
        "0.0075",
    ),
    (
        "gpt-4o batch 2025",
        "gpt-4o-2024-08-06",
        Usage(input_tokens=2000, cache_read_tokens=1000, output_tokens=1000),
        {"batch": True, "timestamp": day(2025, 6, 1)},
        "0.0075",
    ),
    # Batch o3 after the cut: 1000 x 1 + 1000 x 4, per 1M = 0.005
    ("o3 batch", "o3", Usage(input_tokens=1000, output_tokens=1000), {"batch": True}, "0.005"),
    # Ultrafast gpt-6-astra (6x): 400 x 60 + 800 x 6 + 350 x 300, per 1M = 0.024 + 0.0048 + 0.105 = 0.1338
    (
        "gpt-6-astra ultrafast",
        "gpt-6-astra",
        Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350),
        {"service_tier": "ultrafast"},
        "0.1338",
    ),
    # gpt-6.1-sol cache writes: 5000 x 2 + 2000 cached x 0.10 + 2000 x 2.50 (30 min) + 1000 x 5 (12 h)
    # + 500 x 10, per 1M = 0.01 + 0.0002 + 0.005 + 0.005 + 0.005 = 0.0252
    (
        "gpt-6.1-sol cache writes by TTL",
        "gpt-6.1-sol",
        Usage(
            input_tokens=10000,
            cache_read_tokens=2000,
            cache_write_tokens=3000,
            cache_write_long_ttl_tokens=1000,
            output_tokens=500,
        ),
        {},
        "0.0252",
    ),
    # Same call on a regional endpoint: released after 2026-03-05, so +10%: 0.0252 x 1.1 = 0.02772
    (
        "gpt-6.1-sol data residency",
        "gpt-6.1-sol",
        Usage(
            input_tokens=10000,
            cache_read_tokens=2000,
            cache_write_tokens=3000,
            cache_write_long_ttl_tokens=1000,
            output_tokens=500,
        ),
        {"data_residency": "eu"},
        "0.02772",
    ),
    # gpt-4o predates 2026-03-05: no uplift on a regional endpoint (0.0055 as above)
    (
        "gpt-4o data residency no uplift",
        "gpt-4o-2024-08-06",
        Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350),
        {"data_residency": "eu"},
        "0.0055",
    ),
    # gpt-5.4 above 272K input: the whole call at long rates: 200000 x 5 + 100000 x 0.50 + 1000 x 22.50
    # per 1M = 1.0 + 0.05 + 0.0225 = 1.0725
    (
        "gpt-5.4 long context",
        "gpt-5.4",
        Usage(input_tokens=300000, cache_read_tokens=100000, output_tokens=1000),
        {},
        "1.0725",
    ),
    # Exactly 272000 is still short context: 272000 x 2.50 + 1000 x 15, per 1M = 0.695
    ("gpt-5.4 at threshold", "gpt-5.4", Usage(input_tokens=272000, output_tokens=1000), {}, "0.695"),
    # gpt-5.6-sol price history: $5/$30 before 2026-08-21, $4/$20 from then on (1000 in, 1000 out)
    (
        "gpt-5.6-sol before cut",
        "gpt-5.6-sol",
        Usage(input_tokens=1000, output_tokens=1000),
        {"timestamp": day(2026, 8, 1)},
        "0.035",
    ),
    ("gpt-5.6-sol after cut", "gpt-5.6-sol", Usage(input_tokens=1000, output_tokens=1000), {}, "0.024"),
    # gpt-4o-audio-preview-2024-12-17: 400 text x 2.50 + 600 audio x 40 + 100 text out x 10 + 400 audio
    # out x 80, per 1M = 0.001 + 0.024 + 0.001 + 0.032 = 0.058
    (
        "audio preview",
        "gpt-4o-audio-preview-2024-12-17",
        Usage(input_tokens=1000, input_audio_tokens=600, output_tokens=500, output_audio_tokens=400),
        {},
        "0.058",
    ),
    # gpt-realtime: text in 300 x 4, cached text 200 x 0.40, audio in 1000 x 32, cached audio 500 x 0.40,
    # text out 200 x 16, audio out 800 x 64, per 1M = 0.0012+0.00008+0.032+0.0002+0.0032+0.0512 = 0.08788
    (
        "realtime audio",
        "gpt-realtime",
        Usage(
            input_tokens=2000,
            cache_read_tokens=700,
            cache_read_audio_tokens=500,
            input_audio_tokens=1500,
            output_tokens=1000,
            output_audio_tokens=800,
        ),
        {},
        "0.08788",
    ),
    # gpt-image-1: 100 text x 5 + 500 image x 10 + 4160 image out x 40, per 1M = 0.0005 + 0.005 + 0.1664
    (
        "gpt-image-1 tokens",
        "gpt-image-1",
        Usage(input_tokens=600, input_image_tokens=500, output_tokens=4160, output_image_tokens=4160),
        {"endpoint": "POST /images/generations"},
        "0.1719",
    ),
    # dall-e-3 hd 1024x1792 at $0.12 x 2 images = 0.24
    (
        "dall-e-3 hd",
        "dall-e-3",
        Usage(images=2),
        {"timestamp": day(2025, 1, 1), "image_size": "1024x1792", "image_quality": "hd"},
        "0.24",
    ),
    # dall-e-2 256x256 at $0.016 x 3 = 0.048
    (
        "dall-e-2",
        "dall-e-2",
        Usage(images=3),
        {"timestamp": day(2025, 1, 1), "image_size": "256x256", "image_quality": "standard"},
        "0.048",
    ),
    # whisper-1 $0.006/min: 90.5 s x 0.006 / 60 = 0.00905
    (
        "whisper-1 per second",
        "whisper-1",
        Usage(audio_seconds=90.5),
        {"endpoint": "POST /audio/transcriptions"},
        "0.00905",
    ),
    # gpt-4o-transcribe: 100 text x 2.50 + 900 audio x 6 + 200 out x 10, per 1M = 0.00765
    (
        "gpt-4o-transcribe tokens",
        "gpt-4o-transcribe",
        Usage(input_tokens=1000, input_audio_tokens=900, input_text_tokens=100, output_tokens=200),
        {"endpoint": "POST /audio/transcriptions"},
        "0.00765",
    ),
    # tts-1-hd $30/1M characters: 2000 x 30 / 1M = 0.06
    (
        "tts-1-hd characters",
        "tts-1-hd",
        Usage(input_characters=2000, estimated=True),
        {"endpoint": "POST /audio/speech"},
        "0.06",
    ),
    # embeddings: 10000 x 0.02/1M = 0.0002 ; 10000 x 0.13/1M = 0.0013
    (
        "embedding small",
        "text-embedding-3-small",
        Usage(input_tokens=10000),
        {"endpoint": "POST /embeddings"},
        "0.0002",
    ),
    (
        "embedding large",
        "text-embedding-3-large",
        Usage(input_tokens=10000),
        {"endpoint": "POST /embeddings"},
        "0.0013",
    ),
    # ft:gpt-4o-mini: 500 x 0.30 + 500 cached x 0.15 + 1000 x 1.20, per 1M = 0.001425
    (
        "ft gpt-4o-mini",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        Usage(input_tokens=1000, cache_read_tokens=500, output_tokens=1000),
        {},
        "0.001425",
    ),
    # ft:gpt-4.1: 1000 x 3 + 1000 x 12, per 1M = 0.015 (base gpt-4.1 would be 0.01)
    (
        "ft gpt-4.1",
        "ft:gpt-4.1-2025-04-14:acme:support:abc123",
        Usage(input_tokens=1000, output_tokens=1000),
        {},
        "0.015",
    ),
    # ft:o4-mini: 1000 x 4 + 1000 x 16, per 1M = 0.02
    (
        "ft o4-mini",
        "ft:o4-mini-2025-04-16:acme::x1",
        Usage(input_tokens=1000, output_tokens=1000),
        {},
        "0.02",
    ),
    # Azure prices the response's real model, not the deployment name (0.0055 as gpt-4o above)
    (
        "azure",
        "gpt-4o-2024-08-06",
        Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350),
        {"provider": "azure", "request_model": "my-prod-deployment"},
        "0.0055",
    ),
    # Responses with hosted web search: 1000 in x 2 /1M + 3 calls x $10/1k = 0.002 + 0.03 = 0.032
    (
        "web search calls",
        "gpt-4.1",
        Usage(input_tokens=1000, output_tokens=0, web_search_calls=3),
        {"endpoint": "POST /responses"},
        "0.032",
    ),
]


@pytest.mark.parametrize(
    ("model", "usage", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hand_priced_matrix(pricer: Pricer, model, usage, kwargs, expected) -> None:
    kwargs = {"timestamp": NOW, **kwargs}
    assert_cost(pricer.price(usage, PriceQuery(model, **kwargs)), expected)


def test_layer_and_tier_reported(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1000, output_tokens=1000)
    astra = pricer.price(usage, PriceQuery("gpt-6-astra", service_tier="ultrafast", timestamp=NOW))
    assert (astra.layer, astra.tier) == ("supplement", "ultrafast")
    gpt4o = pricer.price(usage, PriceQuery("gpt-4o", timestamp=NOW))
    assert gpt4o.layer.startswith("genai-prices@") and gpt4o.tier == "default"
    batch = pricer.price(usage, PriceQuery("gpt-4o", batch=True, timestamp=NOW))
    assert batch.batch is True


def test_estimated_status(pricer: Pricer) -> None:
    # tts-1 $15/1M characters: 1000 x 15 / 1M = 0.015, from a count the caller derived
    cost = pricer.price(Usage(input_characters=1000, estimated=True), PriceQuery("tts-1", timestamp=NOW))
    assert cost.status == "estimated"
    assert cost.amount == D("0.015")


def test_tier_without_rate_falls_back_with_reason(pricer: Pricer) -> None:
    # gpt-4.1 has no flex rate: 1000 x 2 + 1000 x 8, per 1M = 0.01 at default, and it says so
    cost = pricer.price(
        Usage(input_tokens=1000, output_tokens=1000),
        PriceQuery("gpt-4.1", service_tier="flex", timestamp=NOW),
    )
    assert_cost(cost, "0.01")
    assert cost.tier == "default"
    assert "flex" in cost.reason and "default" in cost.reason


def test_scale_tier_is_list_price_with_reason(pricer: Pricer) -> None:
    cost = pricer.price(
        Usage(input_tokens=1000, output_tokens=1000),
        PriceQuery("gpt-4o", service_tier="scale", timestamp=NOW),
    )
    assert_cost(cost, "0.0125")  # 1000 x 2.50 + 1000 x 10, per 1M
    assert "scale" in cost.reason


def test_batch_without_published_rate_is_half_and_flagged(pricer: Pricer) -> None:
    # o1-mini has no Batch entry: 10000 x 1.10 / 1M x 50% = 0.0055
    cost = pricer.price(Usage(input_tokens=10000), PriceQuery("o1-mini", batch=True, timestamp=NOW))
    assert_cost(cost, "0.0055")
    assert "50%" in cost.reason


@pytest.mark.parametrize(
    ("model", "usage", "kwargs", "why"),
    [
        ("gpt-99-turbo", Usage(input_tokens=10, output_tokens=10), {}, "not in the price data"),
        ("gpt-4o-2031-01-01", Usage(input_tokens=10, output_tokens=10), {}, "not in the price data"),
        # The base gpt-4 matcher also catches ft:gpt-4-0613; a fine-tune is never priced at base rates.
        ("ft:gpt-4-0613:acme::x", Usage(input_tokens=10, output_tokens=10), {}, "not in the price data"),
        (
            "ft:gpt-9-2030-01-01:acme::x",
            Usage(input_tokens=10, output_tokens=10),
            {},
            "not in the price data",
        ),
        # Audio tokens on a text model: no audio rate, so unpriced rather than priced as text.
        ("gpt-4o", Usage(input_tokens=10, output_tokens=10, output_audio_tokens=5), {}, "output_audio"),
        ("gpt-4o-mini-tts", Usage(input_characters=100, estimated=True), {}, "characters"),
        (
            "dall-e-3",
            Usage(images=1),
            {"image_size": "512x512", "image_quality": "hd", "timestamp": day(2025, 1, 1)},
            "per-image",
        ),
        # dall-e-3 was shut down on 2026-05-12: no price in force afterwards.
        ("dall-e-3", Usage(images=1), {}, "not in the price data"),
    ],
)
def test_unpriced_never_zero(pricer: Pricer, model, usage, kwargs, why) -> None:
    cost = pricer.price(usage, PriceQuery(model, **{"timestamp": NOW, **kwargs}))
    assert cost.status == "unpriced"
    assert cost.amount is None
    assert why in cost.reason


def test_no_usage_and_free(pricer: Pricer) -> None:
    none = pricer.price(None, PriceQuery("gpt-4o", timestamp=NOW))
    assert (none.status, none.amount, none.reason) == ("unpriced", None, "no usage reported")
    free = pricer.price(Usage(input_tokens=100), PriceQuery("omni-moderation-latest", free=True))
    assert (free.status, free.amount) == ("free", D(0))


def test_unknown_model_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    fresh = Pricer()
    with caplog.at_level("WARNING", logger="otel_openai_billing.pricing"):
        for _ in range(3):
            fresh.price(Usage(input_tokens=1), PriceQuery("mystery-model", timestamp=NOW))
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "mystery-model" in caplog.records[0].message


def test_dall_e_defaults_are_flagged(pricer: Pricer) -> None:
    cost = pricer.price(Usage(images=1), PriceQuery("dall-e-3", timestamp=day(2025, 1, 1)))
    assert_cost(cost, "0.04")  # API default: standard 1024x1024 at $0.040
    assert "default" in cost.reason


def test_price_never_raises(pricer: Pricer) -> None:
    bad = Usage(input_tokens="lots")  # type: ignore[arg-type]
    cost = pricer.price(bad, PriceQuery("gpt-4o", timestamp=NOW))
    assert cost.status == "unpriced" and cost.amount is None


def test_naive_timestamp_is_utc(pricer: Pricer) -> None:
    # o3 on 2025-06-09 (naive = UTC) is still the old price: 1000 x 10 + 1000 x 40, per 1M = 0.05
    cost = pricer.price(
        Usage(input_tokens=1000, output_tokens=1000), PriceQuery("o3", timestamp=datetime(2025, 6, 9, 23, 59))
    )
    assert_cost(cost, "0.05")
