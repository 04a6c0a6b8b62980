"""Models released after the database's data, priced by the shipped supplement, worked out by hand.

Sources (recorded in docs/pricing.md):
- gpt-6.2-sol: OpenAI's model page, developers.openai.com/api/docs/models/gpt-6.2-sol: $2 input,
  $0.10 cached, $2.50 cache write (30 min), $10 output; 12 h cache write $5; above 272K input tokens
  input and cache rates x2 and output x1.5 for the whole request; Batch 50%; Fast 2x; Ultrafast 3x
  through 2027-02-28 and 6x from 2027-03-01.
- gpt-6.2-astra: $8 input, $40 output (OpenAI's model page as quoted by vercel.com/ai-gateway/models/
  gpt-6.2-astra and apidog's guide); $0.40 cached (LiteLLM discussion #52347: 60% below $1). Its cache
  write, long-context, Batch and tier rates are still in no stored page (searched again 2026-12-03).
- gpt-6.2-sol-healthcare (released 2026-11-24): $2 input, $0.10 cached, $2.50 cache write, $10 output;
  gpt-6-astra-healthcare: $10 input, $1 cached, $50 output. Third-party only (OpenCode Data,
  opencode.ai/data/openai/gpt-6-2-sol-healthcare and opencode.ai/data/compare/openai/gpt-5-6-terra/
  openai/gpt-6-astra-healthcare): OpenAI's help article (help.openai.com/en/articles/20001656) sends
  readers to a pricing page that is not stored.
- gpt-daybreak-blue-latest: an alias whose default snapshot is gpt-5.6-sol (OpenAI's model page,
  developers.openai.com/api/docs/models/gpt-daybreak-blue-latest), priced at Sol's rates: $4 input,
  $0.40 cached, $5 cache write, $20 output since the 2026-08-21 cut ($5 / $0.50 / $30 before); above
  272K input tokens $8 / $0.80 / $30; Fast $8 / $0.80 / $40 (OpenAI's Fast mode page,
  openai.com/api-fast-mode).
- gpt-daybreak-red-latest: an alias of gpt-5.6-cyber (third-party only: github.com/coder/coder/pull/29218,
  github.com/can1357/oh-my-pi/pull/8614, both citing developers.openai.com/api/docs/pricing#cyber-models),
  $12.50 input, $1.25 cached, $75 output.
- Not priced, no rate in any stored page: gpt-6.1-sol-healthcare, gpt-6.2-astra-healthcare,
  gpt-6.2-astra-law.
- Data residency: +10% on regional endpoints for models released on or after 2026-03-05.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


NOV20 = at(2026, 11, 20)
NOV25 = at(2026, 11, 25)


@pytest.mark.parametrize(
    ("query", "usage", "expected"),
    [
        # 7,000 uncached x $2/1M = 0.014; 2,000 cached x $0.10/1M = 0.0002; 600 30-min writes x $2.50/1M
        # = 0.0015; 400 12-h writes x $5/1M = 0.002; 3,000 output (1,000 reasoning inside) x $10/1M = 0.03.
        (
            PriceQuery("gpt-6.2-sol", timestamp=NOV20),
            Usage(
                input_tokens=10_000,
                cache_read_tokens=2_000,
                cache_write_tokens=1_000,
                cache_write_long_ttl_tokens=400,
                output_tokens=3_000,
                reasoning_tokens=1_000,
            ),
            "0.0477",
        ),
        # Long context, whole request: 200,000 x $4/1M = 0.8; 100,000 cached x $0.20/1M = 0.02;
        # 10,000 output x $15/1M = 0.15.
        (
            PriceQuery("gpt-6.2-sol", timestamp=NOV20),
            Usage(input_tokens=300_000, cache_read_tokens=100_000, output_tokens=10_000),
            "0.97",
        ),
        # Fast (priority's new name) is 2x: 1,000 x $4/1M + 1,000 x $20/1M.
        (PriceQuery("gpt-6.2-sol", service_tier="fast", timestamp=NOV20), Usage(1_000, 1_000), "0.024"),
        # Ultrafast 3x until 2027-02-28: 1,000 x $6/1M + 1,000 x $30/1M ...
        (
            PriceQuery("gpt-6.2-sol", service_tier="ultrafast", timestamp=at(2027, 2, 28)),
            Usage(1_000, 1_000),
            "0.036",
        ),
        # ... and 6x from 2027-03-01: 1,000 x $12/1M + 1,000 x $60/1M.
        (
            PriceQuery("gpt-6.2-sol", service_tier="ultrafast", timestamp=at(2027, 3, 1)),
            Usage(1_000, 1_000),
            "0.072",
        ),
        # Batch 50%: 200,000 x $1/1M + 100,000 x $5/1M ...
        (PriceQuery("gpt-6.2-sol", batch=True, timestamp=NOV20), Usage(200_000, 100_000), "0.7"),
        # ... of the long-context rate above 272K: 1,000,000 x $2/1M + 100,000 x $7.50/1M.
        (PriceQuery("gpt-6.2-sol", batch=True, timestamp=NOV20), Usage(1_000_000, 100_000), "2.75"),
        # Regional endpoint +10%: (1,000 x $2/1M + 1,000 x $10/1M) x 1.1.
        (PriceQuery("gpt-6.2-sol", data_residency="eu", timestamp=NOV20), Usage(1_000, 1_000), "0.0132"),
        # 6,000 x $8/1M = 0.048; 4,000 cached x $0.40/1M = 0.0016; 2,000 x $40/1M = 0.08.
        (
            PriceQuery("gpt-6.2-astra", timestamp=NOV20),
            Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000),
            "0.1296",
        ),
        # 7,000 uncached x $2/1M = 0.014; 2,000 cached x $0.10/1M = 0.0002; 1,000 writes x $2.50/1M
        # = 0.0025; 3,000 output (1,000 reasoning inside) x $10/1M = 0.03.
        (
            PriceQuery("gpt-6.2-sol-healthcare", endpoint="POST /responses", timestamp=NOV25),
            Usage(
                input_tokens=10_000,
                cache_read_tokens=2_000,
                cache_write_tokens=1_000,
                output_tokens=3_000,
                reasoning_tokens=1_000,
            ),
            "0.0467",
        ),
        # Regional endpoint +10%: (1,000 x $2/1M + 1,000 x $10/1M) x 1.1.
        (
            PriceQuery("gpt-6.2-sol-healthcare", data_residency="eu", timestamp=NOV25),
            Usage(1_000, 1_000),
            "0.0132",
        ),
        # 6,000 x $10/1M = 0.06; 4,000 cached x $1/1M = 0.004; 2,000 x $50/1M = 0.1.
        (
            PriceQuery("gpt-6-astra-healthcare", endpoint="POST /responses", timestamp=NOV25),
            Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000),
            "0.164",
        ),
    ],
)
def test_hand_priced(pricer: Pricer, query: PriceQuery, usage: Usage, expected: str) -> None:
    cost = pricer.price(usage, query)
    assert cost.status == "priced", cost.reason
    assert cost.amount == Decimal(expected)
    assert cost.layer == "supplement"


def test_flex_not_published_for_sol_is_flagged(pricer: Pricer) -> None:
    cost = pricer.price(Usage(1_000, 1_000), PriceQuery("gpt-6.2-sol", service_tier="flex", timestamp=NOV20))
    # Standard rates (1,000 x $2/1M + 1,000 x $10/1M), and the note says why.
    assert cost.amount == Decimal("0.012")
    assert cost.tier == "default"
    assert "tier flex has no published rate" in cost.reason


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        # Above 272K input tokens Astra's rates are not in any stored page: not guessed.
        (Usage(input_tokens=300_000, output_tokens=10), "above 272000 input tokens"),
        # Cache-write rate not published for Astra.
        (Usage(input_tokens=1_000, cache_write_tokens=100, output_tokens=10), "no cache_write rate"),
    ],
)
def test_astra_unpublished_rates_stay_unpriced(pricer: Pricer, usage: Usage, why: str) -> None:
    cost = pricer.price(usage, PriceQuery("gpt-6.2-astra", timestamp=NOV20))
    assert (cost.status, cost.amount) == ("unpriced", None)
    assert why in cost.reason


@pytest.mark.parametrize(
    ("model", "day_before_release"),
    [("gpt-6.2-sol", at(2026, 11, 16)), ("gpt-6.2-sol-healthcare", at(2026, 11, 23))],
)
def test_not_priced_before_release(pricer: Pricer, model: str, day_before_release: datetime) -> None:
    cost = pricer.price(Usage(10, 10), PriceQuery(model, timestamp=day_before_release))
    assert cost.status == "unpriced"
    assert "not in the price data" in cost.reason


@pytest.mark.parametrize(
    ("model", "usage", "why"),
    [
        # No source publishes the healthcare configurations' rates above 272K input tokens.
        (
            "gpt-6.2-sol-healthcare",
            Usage(input_tokens=300_000, output_tokens=10),
            "above 272000 input tokens",
        ),
        (
            "gpt-6-astra-healthcare",
            Usage(input_tokens=300_000, output_tokens=10),
            "above 272000 input tokens",
        ),
        # Nor a 12 h cache-write rate for the 6.2 one, nor any cache-write rate for the Astra one.
        (
            "gpt-6.2-sol-healthcare",
            Usage(
                input_tokens=1_000, cache_write_tokens=100, cache_write_long_ttl_tokens=100, output_tokens=10
            ),
            "no cache_write_12h rate",
        ),
        (
            "gpt-6-astra-healthcare",
            Usage(input_tokens=1_000, cache_write_tokens=100, output_tokens=10),
            "no cache_write rate",
        ),
        # Nor the healthcare web-search index's per-call rate.
        ("gpt-6.2-sol-healthcare", Usage(1_000, 10, web_search_calls=1), "no web_search rate"),
        # Three of the new ids have no rate in any stored page at all.
        ("gpt-6.1-sol-healthcare", Usage(1_000, 10), "not in the price data"),
        ("gpt-6.2-astra-healthcare", Usage(1_000, 10), "not in the price data"),
        ("gpt-6.2-astra-law", Usage(1_000, 10), "not in the price data"),
    ],
)
def test_unpublished_rates_stay_unpriced(pricer: Pricer, model: str, usage: Usage, why: str) -> None:
    cost = pricer.price(usage, PriceQuery(model, endpoint="POST /responses", timestamp=NOV25))
    assert (cost.status, cost.amount) == ("unpriced", None)
    assert why in cost.reason


def test_healthcare_fast_not_published_is_flagged(pricer: Pricer) -> None:
    query = PriceQuery("gpt-6.2-sol-healthcare", service_tier="fast", timestamp=NOV25)
    cost = pricer.price(Usage(1_000, 1_000), query)
    # Standard rates (1,000 x $2/1M + 1,000 x $10/1M), and the note says why.
    assert cost.amount == Decimal("0.012")
    assert cost.tier == "default"
    assert "tier priority has no published rate" in cost.reason


@pytest.mark.parametrize(
    ("query", "usage", "expected"),
    [
        # Daybreak Blue at Sol's rates: 7,000 uncached x $4/1M = 0.028; 2,000 cached x $0.40/1M = 0.0008;
        # 1,000 writes x $5/1M = 0.005; 3,000 output x $20/1M = 0.06. (A response that names the snapshot
        # instead is priced as gpt-5.6-sol directly.)
        (
            PriceQuery("gpt-daybreak-blue-latest", endpoint="POST /responses", timestamp=NOV20),
            Usage(
                input_tokens=10_000, cache_read_tokens=2_000, cache_write_tokens=1_000, output_tokens=3_000
            ),
            "0.0938",
        ),
        # Before Sol's 2026-08-21 cut the alias followed Sol's $5 / $30: 1,000 x $5/1M + 1,000 x $30/1M.
        (PriceQuery("gpt-daybreak-blue-latest", timestamp=at(2026, 8, 20)), Usage(1_000, 1_000), "0.035"),
        # Above 272K the whole call: 200,000 x $8/1M = 1.6; 100,000 cached x $0.80/1M = 0.08;
        # 10,000 output x $30/1M = 0.3.
        (
            PriceQuery("gpt-daybreak-blue-latest", timestamp=NOV20),
            Usage(input_tokens=300_000, cache_read_tokens=100_000, output_tokens=10_000),
            "1.98",
        ),
        # Fast: 1,000 uncached x $8/1M = 0.008; 1,000 cached x $0.80/1M = 0.0008; 1,000 x $40/1M = 0.04.
        (
            PriceQuery("gpt-daybreak-blue-latest", service_tier="fast", timestamp=NOV20),
            Usage(input_tokens=2_000, cache_read_tokens=1_000, output_tokens=1_000),
            "0.0488",
        ),
        # Daybreak Red at GPT-5.6 Cyber's rates: 6,000 x $12.50/1M = 0.075; 4,000 cached x $1.25/1M = 0.005;
        # 2,000 x $75/1M = 0.15.
        (
            PriceQuery("gpt-daybreak-red-latest", endpoint="POST /responses", timestamp=NOV20),
            Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000),
            "0.23",
        ),
    ],
)
def test_daybreak_aliases_priced_as_their_snapshot(
    pricer: Pricer, query: PriceQuery, usage: Usage, expected: str
) -> None:
    cost = pricer.price(usage, query)
    assert cost.status == "priced", cost.reason
    assert cost.amount == Decimal(expected)
    # The rates are the snapshot's, from the database; only the alias comes from the supplement.
    assert cost.layer.startswith("genai-prices")
