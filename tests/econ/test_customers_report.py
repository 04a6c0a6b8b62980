"""The customers report on hand-made records: grouping, shares, revenue, margins, flags, sorting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_openai_billing.reports.customers import (
    FLAG_LOSS,
    FLAG_LOW_MARGIN,
    FLAG_NO_REVENUE,
    FLAG_UNPRICED,
    InputFileError,
    customer_report,
    parse_revenue,
    summary,
)

from .records import record

# A gpt-4o call of 1,000 input and 500 output tokens at $2.50 / $10 per 1M:
# 1000 x 0.0000025 + 500 x 0.00001 = 0.0025 + 0.005 = $0.0075.
CALL = "0.0075"


def _records() -> list[dict]:
    return [
        record(customer_id="acme", feature="search", cost=CALL),
        record(customer_id="acme", feature="chat", cost=CALL),
        record(customer_id="beta", feature="search", cost=CALL),
        record(customer_id="beta", feature="search", cost=None, cost_status="unpriced"),
        record(customer_id="gamma", feature="chat", cost=CALL),
        # A failed call: no cost, no pricing status.
        record(customer_id="gamma", feature="chat", cost=None, cost_status=None, http_status=500),
        record(customer_id=None, feature="chat", cost=CALL),
        # December traffic, in a period of its own.
        record(customer_id="acme", feature="search", cost=CALL, time="2026-12-01T00:00:00.000000Z"),
    ]


REVENUE_CSV = """customer,period,revenue
acme,2026-11,0.01
beta,2026-11,0.03
gamma,2026-11,0.0085
delta,2026-11,5
acme,2026-10,99
"""


def test_margins_flags_and_order() -> None:
    revenue = parse_revenue(REVENUE_CSV, "revenue.csv")
    rows = customer_report(_records(), revenue=revenue, min_margin=Decimal(20))
    nov = [r for r in rows if r["period"] == "2026-11"]
    by = {r["customer_id"]: r for r in nov}
    # acme: 2 calls x 0.0075 = 0.015 against 0.01: margin -0.005, -50%.
    assert by["acme"]["cost"] == Decimal("0.015")
    assert by["acme"]["margin"] == Decimal("-0.005")
    assert by["acme"]["margin_pct"] == Decimal("-50")
    assert by["acme"]["flags"] == [FLAG_LOSS]
    # gamma: 0.0085 - 0.0075 = 0.001 = 11.76...%, under the 20% minimum; the failed call costs nothing.
    assert by["gamma"]["margin"] == Decimal("0.001")
    assert by["gamma"]["flags"] == [FLAG_LOW_MARGIN]
    assert by["gamma"]["calls"] == 2 and by["gamma"]["failed_calls"] == 1
    # beta: 0.03 - 0.0075 = 0.0225 = 75%; its unpriced call makes the cost a lower bound.
    assert by["beta"]["margin_pct"] == Decimal("75")
    assert by["beta"]["flags"] == [FLAG_UNPRICED] and by["beta"]["unpriced_calls"] == 1
    # delta pays and made no call: 100% margin, still listed.
    assert by["delta"]["calls"] == 0 and by["delta"]["margin_pct"] == Decimal(100)
    # Calls with no customer are their own row, never dropped.
    assert by[None]["cost"] == Decimal(CALL) and by[None]["flags"] == [FLAG_NO_REVENUE]
    # Losses on top, then by margin %, then costs with no revenue.
    assert [r["customer_id"] for r in nov] == ["acme", "gamma", "beta", "delta", None]
    # Shares of the month's cost: 5 priced calls x 0.0075 = 0.0375; acme has 0.015 of it = 40%.
    assert by["acme"]["share"] == Decimal("0.4")
    # October revenue is outside the months with calls: not shown. December has calls, no revenue.
    dec = [r for r in rows if r["period"] == "2026-12"]
    assert [(r["customer_id"], r["flags"]) for r in dec] == [("acme", [FLAG_NO_REVENUE])]


def test_summary() -> None:
    revenue = parse_revenue(REVENUE_CSV, "revenue.csv")
    rows = [r for r in customer_report(_records(), revenue=revenue) if r["period"] == "2026-11"]
    total = summary(rows)
    # Revenue 0.01 + 0.03 + 0.0085 + 5 = 5.0485; cost 5 x 0.0075 = 0.0375.
    assert total["revenue"] == Decimal("5.0485") and total["cost"] == Decimal("0.0375")
    assert total["margin"] == Decimal("5.011")
    assert total["calls"] == 8 - 1  # December's call is another period


def test_period_all_sums_revenue_over_covered_months() -> None:
    revenue = parse_revenue(REVENUE_CSV + "acme,2026-12,1\n", "revenue.csv")
    rows = customer_report(_records(), revenue=revenue, period="all")
    acme = next(r for r in rows if r["customer_id"] == "acme")
    # Months with calls: 2026-11 and 2026-12. Revenue 0.01 + 1; cost 3 x 0.0075 = 0.0225.
    assert acme["period"] == "all" and acme["revenue"] == Decimal("1.01")
    assert acme["margin"] == Decimal("0.9875")


def test_by_feature_and_customer_feature() -> None:
    rows = customer_report(_records(), by="feature", period="all")
    by = {r["feature"]: r for r in rows}
    # chat: acme, gamma, gamma(failed), no-customer = 3 priced x 0.0075 = 0.0225; search 3 x 0.0075.
    assert by["chat"]["cost"] == Decimal("0.0225") and by["chat"]["calls"] == 4
    assert by["search"]["calls"] == 4 and by["search"]["unpriced_calls"] == 1
    assert "margin" not in by["chat"]
    pairs = customer_report(_records(), by="customer-feature", period="all")
    keys = {(r["customer_id"], r["feature"]) for r in pairs}
    assert keys == {
        ("acme", "search"),
        ("acme", "chat"),
        ("beta", "search"),
        ("gamma", "chat"),
        (None, "chat"),
    }


def test_tokens_and_cost_per_call() -> None:
    recs = [
        record(customer_id="a", input_tokens=1000, cache_read_tokens=200, output_tokens=50, cost="0.001"),
        record(customer_id="a", input_tokens=500, output_tokens=25, cost="0.002"),
    ]
    (row,) = customer_report(recs)
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (1500, 200, 75)
    assert row["tokens"] == 1575
    assert row["cost_per_call"] == Decimal("0.0015")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", "f.csv:1", "empty file"),
        ("customer,revenue\nacme,3\n", "f.csv:1", "missing column 'period'"),
        ("customer,period,revenue\nacme,2026-11,$99\n", "f.csv:2:3", "is not a number"),
        ("customer,period,revenue\nacme,2026-11,1,234\n", "f.csv:2:4", "found 4"),
        ("customer,period,revenue\n\nacme,November,3\n", "f.csv:3:2", "not a calendar month"),
        ("customer,period,revenue\n,2026-11,3\n", "f.csv:2:1", "customer is empty"),
        ("customer,period,revenue\nacme,2026-11\n", "f.csv:2:3", "expected 3 fields"),
        ("customer,period,revenue\nacme,2026-11,1\nacme,2026-11,2\n", "f.csv:3:1", "first on line 2"),
        ("period,customer,revenue,currency\n2026-11,acme,1,EUR\n", "f.csv:2:4", "only USD"),
    ],
)
def test_revenue_errors_name_file_line_column(text: str, where: str, message: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_revenue(text, "f.csv")
    assert str(info.value).startswith(where + ":"), str(info.value)
    assert message in str(info.value)


def test_revenue_reads_columns_by_name() -> None:
    text = "\ufeffRevenue,Notes,Customer,Period\n12.50,x,acme,2026-11\n"
    assert parse_revenue(text, "f.csv") == {("acme", "2026-11"): Decimal("12.50")}


def test_a_record_read_twice_counts_once() -> None:
    one = record(customer_id="a", cost="0.5")
    (row,) = customer_report([one, dict(one)])
    assert (row["calls"], row["cost"]) == (1, Decimal("0.5"))
