"""What the guard keeps from one call to the next never serves a call stale: a reloaded budget, another
model or tier, other prices, a long-context request. Real SDK calls over real HTTP (in-memory store).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import BudgetExceeded, billing_context
from otel_openai_billing import names as n
from otel_openai_billing.budgets import budget
from otel_openai_billing.budgets.rates import UnitRates
from otel_openai_billing.endpoints import lookup
from otel_openai_billing.hooks import ACTIVE
from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.record import CallRecord
from otel_openai_billing.usage import Usage
from tests.budgets.conftest import CHAT_ACTUAL, WORST_HI, hi_request


def guard() -> Any:
    assert ACTIVE.core is not None and ACTIVE.core.budgets is not None
    return ACTIVE.core.budgets


def worst_case(telemetry: Any) -> Decimal:
    # The attribute is a float; the amounts below have at most 8 significant digits, which it keeps.
    return Decimal(str(telemetry.calls()[-1].attributes[n.BUDGET_WORST_CASE]))


# --- a budget file edited while its slots are kept -------------------------------------------------
def _write(path: Path, limit: str, window: str) -> None:
    entry = {"name": "per-customer", "scope": {"customer_id": "*"}, "window": window, "limit_usd": limit}
    path.write_text(json.dumps({"budgets": [entry]}))


class TestReload:
    @pytest.fixture
    def instrument_kwargs(self, budget_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setattr("otel_openai_billing.budgets.source.CHECK_INTERVAL_S", 0.0)
        _write(budget_file, "1", "day")
        return {"budgets_file": str(budget_file)}

    def test_a_reloaded_limit_and_window_apply_from_the_next_call(
        self, telemetry: Any, client: openai.OpenAI, budget_file: Path
    ) -> None:
        with billing_context(customer_id="acme"):
            client.chat.completions.create(**hi_request())  # spent today: CHAT_ACTUAL (0.00000885)
            # The same budget, lowered: 0.00000885 + WORST_HI 0.000015 = 0.00002385 > 0.00002.
            _write(budget_file, "0.00002", "day")
            with pytest.raises(BudgetExceeded) as refused:
                client.chat.completions.create(**hi_request())
            assert refused.value.limit_usd == Decimal("0.00002")
            assert refused.value.spent_usd == CHAT_ACTUAL
            # The same name over a month: another store key, whose spend starts at 0 (0 + 0.000015 fits).
            _write(budget_file, "0.00002", "month")
            client.chat.completions.create(**hi_request())
        (month,) = guard().status()
        assert month.window == datetime.now(UTC).strftime("%Y-%m")
        assert (month.spent, month.budget.limit_usd) == (CHAT_ACTUAL, Decimal("0.00002"))


# --- another model, another tier, other prices ----------------------------------------------------
@pytest.fixture
def instrument_kwargs() -> dict[str, Any]:
    return {"budgets": [budget("all", "1000", "day", {})]}


def test_each_model_and_tier_has_its_own_worst_case(telemetry: Any, client: openai.OpenAI) -> None:
    client.chat.completions.create(**hi_request())
    assert worst_case(telemetry) == WORST_HI  # gpt-4o-mini: 0.000015 (conftest)

    # gpt-6.2-sol (the supplement: $2 in, $10 out per 1M below 272K input tokens); its name has as
    # many bytes as gpt-4o-mini (11), so the bound is the same 60 input tokens, 10 output:
    #   60 x 2e-6 + 10 x 10e-6 = 0.00012 + 0.0001 = 0.00022 USD
    client.chat.completions.create(**{**hi_request(), "model": "gpt-6.2-sol"})
    assert worst_case(telemetry) == Decimal("0.00022")

    # The priority tier is 2x on gpt-6.2-sol; "service_tier" (12) + "priority" (8) add 20 input tokens:
    #   80 x 4e-6 + 10 x 20e-6 = 0.00032 + 0.0002 = 0.00052 USD
    client.chat.completions.create(**{**hi_request(), "model": "gpt-6.2-sol", "service_tier": "priority"})
    assert worst_case(telemetry) == Decimal("0.00052")

    client.chat.completions.create(**hi_request())
    assert worst_case(telemetry) == WORST_HI


def test_a_request_above_the_long_context_threshold_takes_the_long_rates(
    telemetry: Any, client: openai.OpenAI
) -> None:
    # gpt-6.2-sol charges $4 in and $15 out per 1M for the whole request above 272,000 input tokens.
    # "hi" (2 bytes) becomes 272,000 x "a": the bound is 60 - 2 + 272,000 = 272,058 input tokens.
    #   272,058 x 4e-6 + 10 x 15e-6 = 1.088232 + 0.00015 = 1.088382 USD
    # (at the rates below the threshold it would be 272,058 x 2e-6 + 10 x 10e-6 = 0.544216 USD)
    long = {**hi_request(), "model": "gpt-6.2-sol", "messages": [{"role": "user", "content": "a" * 272_000}]}
    client.chat.completions.create(**long)
    assert worst_case(telemetry) == Decimal("1.088382")


def test_a_price_change_at_midnight_reaches_the_worst_case(telemetry: Any) -> None:
    # The guard keeps one pricing query per model and UTC day: a call started a second after midnight
    # gets the new day's rates. Ultrafast on gpt-6.2-sol is 3x standard ($2 in, $10 out per 1M)
    # through 2027-02-28 and 6x from 2027-03-01. The body's bound: 4 (framing) + "model" 5 +
    # "gpt-6.2-sol" 11 + "messages" 8 + 21 (the message) + "max_tokens" 10 + 1 = 60 input tokens, 10 out.
    #   3x: 60 x 6e-6 + 10 x 30e-6 = 0.00036 + 0.0003 = 0.00066 USD
    #   6x: 60 x 12e-6 + 10 x 60e-6 = 0.00072 + 0.0006 = 0.00132 USD
    body = {"model": "gpt-6.2-sol", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    rec = CallRecord(lookup("POST", "/chat/completions"))
    rec.request_model, rec.request_service_tier = "gpt-6.2-sol", "ultrafast"
    midnight = int(datetime(2027, 3, 1, tzinfo=UTC).timestamp()) * 10**9
    rec.start_ns = midnight - 10**9
    assert guard().worst_case(rec, body) == Decimal("0.00066")
    rec.start_ns = midnight
    assert guard().worst_case(rec, body) == Decimal("0.00132")


class TestOverridePrices:
    @pytest.fixture(params=[("1.00", "2.00"), ("3.00", "5.00")])
    def instrument_kwargs(self, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
        input_rate, output_rate = request.param
        prices = tmp_path / "prices.json"
        entry = {
            "match": {"exact": "gpt-4o-mini"},
            "prices": [{"per_1m_tokens": {"input": input_rate, "output": output_rate}}],
        }
        prices.write_text(json.dumps({"schema": 1, "models": [entry]}))
        return {"budgets": [budget("all", "1000", "day", {})], "price_files": [str(prices)]}

    def test_the_worst_case_is_priced_at_the_override(
        self, telemetry: Any, client: openai.OpenAI, instrument_kwargs: dict[str, Any]
    ) -> None:
        client.chat.completions.create(**hi_request())
        # 60 input and 10 output tokens (conftest) at the file's rates:
        #   $1/$2 per 1M: 60 x 1e-6 + 10 x 2e-6 = 0.00006 + 0.00002 = 0.00008 USD
        #   $3/$5 per 1M: 60 x 3e-6 + 10 x 5e-6 = 0.00018 + 0.00005 = 0.00023 USD
        expected = {"1.00": Decimal("0.00008"), "3.00": Decimal("0.00023")}
        rate = json.loads(Path(instrument_kwargs["price_files"][0]).read_text())["models"][0]
        assert worst_case(telemetry) == expected[rate["prices"][0]["per_1m_tokens"]["input"]]


# --- the unit rates against the engine, with plain values -----------------------------------------
@pytest.mark.parametrize(
    ("model", "tier", "day"),
    [
        ("gpt-4o-mini", None, "2026-12-02"),
        ("gpt-4o-mini", "priority", "2026-12-02"),
        ("gpt-4o-audio-preview", None, "2026-12-02"),
        ("gpt-6.2-sol", None, "2026-12-02"),
        # Ultrafast on gpt-6.2-sol is 3x through 2027-02-28 and 6x from 2027-03-01 (the supplement).
        ("gpt-6.2-sol", "ultrafast", "2027-02-28"),
        ("gpt-6.2-sol", "ultrafast", "2027-03-01"),
        ("gpt-6.2-astra", None, "2026-12-02"),  # no published rates above its threshold
    ],
)
def test_unit_rates_price_as_the_engine_does(model: str, tier: str | None, day: str) -> None:
    pricer = Pricer()
    query = PriceQuery(model=model, service_tier=tier, timestamp=datetime.fromisoformat(day + "T12:00Z"))
    rates = UnitRates.of(pricer, query)
    fast = 0
    for inp in (1, 60, 271_999, 272_000, 272_001, 1_000_000):
        for audio_in, image_in in ((0, 0), (min(inp, 30), 0), (0, min(inp, 20))):
            for out, audio_out in ((0, 0), (10, 0), (16_384, 0), (100, 100)):
                usage = Usage(
                    input_tokens=inp,
                    input_audio_tokens=audio_in or None,
                    input_image_tokens=image_in or None,
                    output_tokens=out,
                    output_audio_tokens=audio_out or None,
                )
                amount = rates.price(usage)
                if amount is not None:  # None: left to the engine
                    fast += 1
                    assert amount == pricer.price(usage, query).amount, usage
                elif rates.long_threshold is None or inp <= rates.long_threshold:
                    # Below the threshold only a part without a rate goes back to the engine.
                    assert pricer.price(usage, query).amount is None, usage
    assert fast > 0


def test_unit_rates_leave_characters_images_and_bad_counts_to_the_engine() -> None:
    rates = UnitRates.of(Pricer(), PriceQuery(model="gpt-4o-mini"))
    assert rates.price(Usage(input_tokens=10, output_tokens=5)) == Decimal("0.0000045")  # 1.5e-6 + 3e-6
    for usage in (
        Usage(input_characters=100),
        Usage(images=1),
        Usage(),
        Usage(input_tokens=-1, output_tokens=5),
        Usage(input_tokens=10, input_audio_tokens=20),  # more audio than input: inconsistent
    ):
        assert rates.price(usage) is None, usage
