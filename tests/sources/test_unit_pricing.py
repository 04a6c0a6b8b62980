"""The pricing of the new units on plain values: training per method, the image tool's own card,
price files adding a rate to a model another entry prices."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from otel_openai_billing.pricing import Pricer
from otel_openai_billing.pricing.types import PriceQuery
from otel_openai_billing.usage import Usage

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def test_dpo_without_a_dpo_rate_is_unpriced_not_priced_as_supervised() -> None:
    cost = Pricer().price(
        Usage(trained_tokens=1000), PriceQuery("gpt-3.5-turbo-0125", training_method="dpo", timestamp=DAY)
    )
    assert cost.status == "unpriced"
    assert cost.reason == "no dpo training rate for 'gpt-3.5-turbo-0125'"


def test_training_rate_from_a_user_price_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "negotiated.json"
    path.write_text(
        json.dumps(
            {
                "schema": 1,
                "models": [
                    {
                        "match": {"exact": "gpt-4o-mini-2024-07-18"},
                        "prices": [{"per_1m_tokens": {"training": "2.40"}}],
                    }
                ],
            }
        )
    )
    cost = Pricer([path]).price(
        Usage(trained_tokens=500_000), PriceQuery("gpt-4o-mini-2024-07-18", timestamp=DAY)
    )
    # 500,000 x $2.40/1M = $1.20 (the shipped $3.00 is overridden); inference rates still apply to it.
    assert (cost.amount, cost.layer) == (Decimal("1.20"), "override")
    inference = Pricer([path]).price(
        Usage(input_tokens=1000), PriceQuery("gpt-4o-mini-2024-07-18", timestamp=DAY)
    )
    assert inference.amount == Decimal("0.00015")  # 1000 x $0.15/1M from genai-prices


def test_image_tool_cached_and_text_output_at_their_own_rates() -> None:
    usage = Usage(
        input_tokens=10,
        output_tokens=5,
        tool_image_input_text_tokens=100,
        tool_image_cached_text_tokens=40,
        tool_image_input_image_tokens=200,
        tool_image_cached_image_tokens=50,
        tool_image_output_tokens=1000,
        tool_image_output_text_tokens=100,
    )
    cost = Pricer().price(usage, PriceQuery("gpt-4.1-mini", tool_image_model="gpt-image-1.5", timestamp=DAY))
    # gpt-4.1-mini: 10 x 0.40/1M + 5 x 1.60/1M = 0.000004 + 0.000008
    # gpt-image-1.5: text in 60 x $5 + cached text 40 x $1.25 + image in 150 x $8 + cached image 50 x $2
    #   + image out 900 x $32 + text out 100 x $10, per 1M
    #   = 0.0003 + 0.00005 + 0.0012 + 0.0001 + 0.0288 + 0.001 = 0.03145
    assert cost.amount == Decimal("0.000012") + Decimal("0.03145")
    assert cost.components["image_tool_output"] == Decimal("0.0288")


def test_image_tool_tokens_without_a_model_stay_unpriced() -> None:
    cost = Pricer().price(
        Usage(input_tokens=10, output_tokens=5, tool_image_output_tokens=100), PriceQuery("gpt-4.1-mini")
    )
    assert cost.status == "unpriced"
