"""The forecast on hand-made records, re-priced by the real pricing engine at hand-checked rates.

Rates (OpenAI list prices, in genai-prices 0.2.3), USD per 1M tokens:
gpt-4o input 2.50, cached input 1.25, output 10; Batch 1.25 / 5.
gpt-4o-mini input 0.15, output 0.60. o4-mini input 1.10, output 4.40; flex 0.55 / 2.20.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from otel_openai_billing.pricing import Pricer
from otel_openai_billing.reports.forecast import Growth, Scenario, Swap, forecast

from .records import record

AS_OF = datetime(2026, 11, 30, tzinfo=UTC)
START, END = date(2026, 11, 20), date(2026, 11, 25)  # five UTC days


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def gpt4o(day: int, customer: str = "acme", **kw: object) -> dict:
    # 1000 x 2.50/1M + 500 x 10/1M = 0.0025 + 0.005 = 0.0075
    fields = {
        "time": f"2026-11-{day:02d}T09:30:00.000000Z",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "input_tokens": 1000,
        "output_tokens": 500,
        "cost": "0.0075",
        "customer_id": customer,
        **kw,
    }
    return record(**fields)


def flat() -> list[dict]:
    """Five days, two gpt-4o calls a day (acme and beta): $0.015 a day."""
    return [gpt4o(d, c) for d in range(20, 25) for c in ("acme", "beta")]


def run(pricer: Pricer, records: list[dict], scenario: Scenario = Scenario()) -> dict:  # noqa: B008
    fc = forecast(records, pricer, start=START, end=END, scenario=scenario, horizon_days=30, as_of=AS_OF)
    return fc.summary()


def test_flat_history_basis_and_growth(pricer: Pricer) -> None:
    s = run(pricer, flat())
    assert (s["days_observed"], s["calls"]) == (5, 10)
    assert s["mean_daily_cost"] == Decimal("0.015")
    assert s["daily_stdev"] == 0 and s["trend_per_day"] == 0
    assert s["baseline_projection"] == Decimal("0.45")  # 0.015 x 30
    grown = run(pricer, flat(), Scenario(growth=(Growth(Decimal(3)),)))
    assert grown["scenario_projection"] == Decimal("1.35")  # 3 x 0.45
    assert grown["change_pct"] == Decimal(200)


def test_growth_per_customer_and_feature_multiply(pricer: Pricer) -> None:
    recs = flat()
    recs[0]["feature"] = "search"  # one acme call on day 20
    scenario = Scenario(growth=(Growth(Decimal(2), customer="acme"), Growth(Decimal(5), feature="search")))
    s = run(pricer, recs, scenario)
    # acme: 5 calls x 2 (one of them x 2 x 5 = 10), beta: 5 calls x 1.
    # calls-equivalent: 4 x 2 + 10 + 5 = 23; 23 x 0.0075 = 0.1725 over 5 days = 0.0345/day; x30 = 1.035
    assert s["scenario_projection"] == Decimal("1.035")


def test_swap_reprices_the_token_mix(pricer: Pricer) -> None:
    s = run(pricer, flat(), Scenario(swaps=(Swap("gpt-4o", "gpt-4o-mini"),)))
    # gpt-4o-mini: 1000 x 0.15/1M + 500 x 0.60/1M = 0.00015 + 0.0003 = 0.00045 a call;
    # 2 a day x 30 = 0.027.
    assert s["scenario_projection"] == Decimal("0.027")
    half = forecast(
        flat(),
        pricer,
        start=START,
        end=END,
        as_of=AS_OF,
        scenario=Scenario(swaps=(Swap("gpt-4o", "gpt-4o-mini", Decimal("0.5")),)),
    )
    # Half at 0.0075 and half at 0.00045: 0.003975 a call, 0.00795 a day, 0.2385 over 30 days.
    assert half.summary()["scenario_projection"] == Decimal("0.2385")
    rows = {r["model"]: r for r in half.model_rows()}
    assert rows["gpt-4o-mini"]["scenario_calls_per_day"] == 1
    assert rows["gpt-4o-mini"]["scenario_cost"] == Decimal("0.0135")  # 0.00045 x 30
    assert rows["gpt-4o-2024-08-06"]["baseline_cost"] == Decimal("0.45")


def test_swap_target_without_price_is_an_error(pricer: Pricer) -> None:
    with pytest.raises(ValueError, match="gpt-99"):
        run(pricer, flat(), Scenario(swaps=(Swap("gpt-4o", "gpt-99"),)))


def test_batch_and_flex(pricer: Pricer) -> None:
    s = run(pricer, flat(), Scenario(batch_share=Decimal(1)))
    # Batch: 1000 x 1.25/1M + 500 x 5/1M = 0.00375 a call; 0.0075 a day; 0.225 over 30 days.
    assert s["scenario_projection"] == Decimal("0.225")
    # o4-mini, one call a day of 1000 in / 1000 out: 0.0011 + 0.0044 = 0.0055; flex 0.00275.
    o4 = [
        record(
            time=f"2026-11-{d}T01:00:00.000000Z",
            request_model="o4-mini",
            response_model="o4-mini-2025-04-16",
            input_tokens=1000,
            output_tokens=1000,
            cost="0.0055",
        )
        for d in range(20, 25)
    ]
    flex = run(pricer, o4, Scenario(flex_share=Decimal("0.5")))
    # Half at 0.0055, half at 0.00275: 0.004125 a day, 0.12375 over 30 days.
    assert flex["scenario_projection"] == Decimal("0.12375")
    # gpt-4o has no flex rate: priced at default, and said so.
    nofl = run(pricer, flat(), Scenario(flex_share=Decimal(1)))
    assert nofl["scenario_projection"] == nofl["baseline_projection"]
    assert any("no flex rate" in n for n in nofl["notes"])


def test_cache_hit_rate(pricer: Pricer) -> None:
    # 2000 input tokens: 2000 x 2.50/1M + 500 x 10/1M = 0.005 + 0.005 = 0.01 uncached.
    long = [gpt4o(d, input_tokens=2000, cost="0.01") for d in range(20, 25)]
    s = run(pricer, long, Scenario(cache_hit_rate=Decimal("0.5")))
    # Half read from cache: 1000 x 2.50 + 1000 x 1.25 + 500 x 10, per 1M = 0.00875 a day; x30 = 0.2625.
    assert s["scenario_projection"] == Decimal("0.2625")
    # Prompts under 1,024 tokens are never cached: no change.
    short = run(pricer, flat(), Scenario(cache_hit_rate=Decimal("0.5")))
    assert short["scenario_projection"] == short["baseline_projection"]


def test_trend_spread_and_missing_days(pricer: Pricer) -> None:
    # Day 21: 1 call, day 22: 2 calls, day 23: 3 calls (day 20 has none but is before the first call;
    # day 24 has none and counts as a zero day).
    recs = [gpt4o(d) for d, n in ((21, 1), (22, 2), (23, 3)) for _ in range(n)]
    fc = forecast(recs, pricer, start=START, end=END, as_of=AS_OF)
    s = fc.summary()
    assert s["days_observed"] == 4  # 21..24
    assert [c for _, c, _ in fc.series()] == [Decimal("0.0075"), Decimal("0.015"), Decimal("0.0225"), 0]
    # Costs 0.0075 x (1, 2, 3, 0) at x = 0..3, mean 1.5: slope = sum((x-1.5)(y-1.5))/sum((x-1.5)^2)
    # = 0.0075 x (-1.5x-0.5 + -0.5x0.5 + 0.5x1.5 + 1.5x-1.5) / 5 = 0.0075 x (-1) / 5 = -0.0015
    assert s["trend_per_day"] == Decimal("-0.0015")
    assert (s["daily_min"], s["daily_max"]) == (0, Decimal("0.0225"))
    assert any("run-rate is over 4 days" in n for n in s["notes"])


def test_unpriced_failed_and_unreproducible_records(pricer: Pricer) -> None:
    recs = [
        *flat(),
        record(time="2026-11-21T00:00:00.000000Z", cost=None, cost_status="unpriced", response_model="x"),
        record(time="2026-11-21T00:00:00.000000Z", cost=None, cost_status=None, http_status=429),
        # 10% above list price (say, a price file changed since): the engine cannot reproduce it, so it
        # is kept as recorded.
        gpt4o(22, cost="0.00825"),
    ]
    s = run(pricer, recs, Scenario(swaps=(Swap("gpt-4o", "gpt-4o-mini"),)))
    assert s["calls"] == 13 and s["unpriced_calls"] == 1 and s["kept_recorded_cost"] == 1
    # 10 swapped calls x 0.00045 + the kept call at 0.00825 = 0.01275 over 5 days, x 30 = 0.0765.
    assert s["scenario_projection"] == Decimal("0.0765")


def test_a_record_read_twice_counts_once(pricer: Pricer) -> None:
    recs = flat()
    s = run(pricer, recs + [dict(r) for r in recs])
    assert s["calls"] == 10 and s["baseline_projection"] == Decimal("0.45")
