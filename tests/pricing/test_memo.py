"""One pricer prices calls that differ in one field each, in turn and again: its memo of a query's model
name and rate card (``Pricer._resolve``) must never give one call the card of another."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage

# Midnight, as the hooks give a call's day.
NOV20 = datetime(2026, 11, 20, tzinfo=UTC)
AUG20 = datetime(2026, 8, 20, tzinfo=UTC)
USAGE = Usage(1_000, 1_000)

# (query, amount for 1,000 input and 1,000 output tokens, worked out by hand). gpt-daybreak-blue-latest
# is an alias of gpt-5.6-sol (sources in tests/pricing/test_new_models.py); gpt-4o-mini is $0.15 / $0.60
# per 1M, Batch half of that (openai.com/api/pricing).
CASES = [
    # Sol since the 2026-08-21 cut: 1,000 x $4/1M + 1,000 x $20/1M.
    (PriceQuery("gpt-daybreak-blue-latest", timestamp=NOV20), "0.024"),
    # The day before the cut: $5 and $30.
    (PriceQuery("gpt-daybreak-blue-latest", timestamp=AUG20), "0.035"),
    # Fast: $8 and $40.
    (PriceQuery("gpt-daybreak-blue-latest", service_tier="fast", timestamp=NOV20), "0.048"),
    # The alias asked for wins over the model the response names (docs/pricing.md): Sol's rates.
    (
        PriceQuery("gpt-4o-mini-2024-07-18", request_model="gpt-daybreak-blue-latest", timestamp=NOV20),
        "0.024",
    ),
    # The response's model alone: $0.15 and $0.60.
    (PriceQuery("gpt-4o-mini-2024-07-18", request_model="gpt-4o-mini", timestamp=NOV20), "0.00075"),
    # At Batch rates: $0.075 and $0.30.
    (
        PriceQuery("gpt-4o-mini-2024-07-18", request_model="gpt-4o-mini", batch=True, timestamp=NOV20),
        "0.000375",
    ),
]


def test_each_call_gets_its_own_card_however_calls_interleave() -> None:
    pricer = Pricer()
    for _ in range(2):
        for query, expected in [*CASES, *reversed(CASES)]:
            cost = pricer.price(USAGE, query)
            assert cost.status == "priced", (query, cost.reason)
            assert cost.amount == Decimal(expected), query


def test_a_call_without_a_model_name_stays_unpriced_between_priced_ones() -> None:
    pricer = Pricer()
    nameless = PriceQuery(None, timestamp=NOV20)
    for query, expected in CASES:
        assert pricer.price(USAGE, query).amount == Decimal(expected)
        cost = pricer.price(USAGE, nameless)
        assert (cost.status, cost.amount) == ("unpriced", None)
        assert "no model name" in (cost.reason or "")
