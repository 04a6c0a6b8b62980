"""Microseconds per cost computation: our engine vs genai-prices' calc_price, on the same call.

Run: PYTHONPATH=src python benchmarks/bench_pricing.py
Case: gpt-4o-2024-08-06, 1200 input tokens (800 cached), 350 output (100 reasoning) = $0.0055.
"""

from __future__ import annotations

import statistics
import timeit
from datetime import UTC, datetime
from decimal import Decimal

import genai_prices

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage

WHEN = datetime(2026, 11, 20, 12, tzinfo=UTC)
EXPECTED = Decimal("0.0055")  # 400 x 2.50 + 800 x 1.25 + 350 x 10, per 1M


def main(repeat: int = 7, number: int = 20_000) -> None:
    pricer = Pricer()
    ours_usage = Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350, reasoning_tokens=100)
    query = PriceQuery("gpt-4o-2024-08-06", timestamp=WHEN)
    theirs_usage = genai_prices.Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350)

    def ours() -> Decimal | None:
        return pricer.price(ours_usage, query).amount

    def theirs() -> Decimal:
        return genai_prices.calc_price(
            theirs_usage, "gpt-4o-2024-08-06", provider_id="openai", genai_request_timestamp=WHEN
        ).total_price

    assert ours() == EXPECTED and theirs() == EXPECTED  # same case, same answer; also warms caches
    results = {}
    for name, fn, n in (
        ("otel-openai-billing Pricer.price", ours, number),
        (f"genai-prices {genai_prices.__version__} calc_price", theirs, number // 10),
    ):
        runs = timeit.repeat(fn, repeat=repeat, number=n)
        results[name] = statistics.median(runs) / n * 1e6
        print(f"{name:<40} median {results[name]:8.2f} us/call  ({repeat} runs x {n} calls)")
    ours_us, theirs_us = results.values()
    print(f"{'ratio (calc_price / ours)':<40} {theirs_us / ours_us:8.1f}x")


if __name__ == "__main__":
    main()
