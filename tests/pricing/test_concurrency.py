"""The pricer is shared by every thread of an app."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage


def test_many_threads_same_answers() -> None:
    pricer = Pricer()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    usage = Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350)

    def work(i: int) -> Decimal | None:
        # Many days and tiers so threads build cards concurrently; gpt-4o's default rates never changed.
        query = PriceQuery("gpt-4o-2024-08-06", timestamp=start + timedelta(days=i % 300))
        return pricer.price(usage, query).amount

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(4000)))
    assert set(results) == {Decimal("0.0055")}  # 400 x 2.50 + 800 x 1.25 + 350 x 10, per 1M
