"""Budgets enforced on real SDK calls over real HTTP (in-memory store): reserve, refuse, settle."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from otel_openai_billing import BudgetExceeded, billing_context
from otel_openai_billing import names as n
from otel_openai_billing.budgets import budget
from otel_openai_billing.hooks import ACTIVE
from tests.budgets.conftest import CHAT_ACTUAL, WORST_HI, hi_request
from tests.fakes.openai_server import FakeOpenAI

# Room for two calls of hi_request(): the first settles to CHAT_ACTUAL (0.00000885), the second is
# admitted because 0.00000885 + WORST_HI (0.000015) = 0.00002385 <= 0.00003, and settles too
# (spent 0.0000177); the third is refused: 0.0000177 + 0.000015 = 0.0000327 > 0.00003.
LIMIT = "0.00003"


def guard() -> Any:
    assert ACTIVE.core is not None and ACTIVE.core.budgets is not None
    return ACTIVE.core.budgets


def levels() -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(s.budget.name, s.instance): (s.spent, s.reserved) for s in guard().status()}


@pytest.fixture
def instrument_kwargs() -> dict[str, Any]:
    return {
        "budgets": [
            budget("per-customer", LIMIT, "day", {"customer_id": "*"}),
            budget("search-watch", "0.00002", "month", {"feature": "search"}, action="warn"),
        ]
    }


def test_a_call_over_budget_is_refused_before_it_is_sent(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
        client.chat.completions.create(**hi_request())
        with pytest.raises(BudgetExceeded) as refused:
            client.chat.completions.create(**hi_request())
    assert len(server.requests) == 2  # the third never left the process
    exc = refused.value
    assert (exc.budget, exc.scope, exc.limit_usd) == ("per-customer", "customer_id=acme", Decimal(LIMIT))
    assert exc.spent_usd == 2 * CHAT_ACTUAL  # 0.0000177
    assert (exc.reserved_usd, exc.worst_case_usd) == (0, WORST_HI)
    assert str(exc) == (
        "budget 'per-customer' (customer_id=acme, window " + exc.window + ") has no room for this call: "
        "spent $0.0000177 + reserved $0 + this call's worst case $0.000015 > limit $0.00003; "
        "the request was not sent"
    )

    blocked = telemetry.calls()[-1]
    attrs = blocked.attributes
    assert attrs[n.ERROR_TYPE] == "otel_openai_billing.BudgetExceeded"
    assert attrs[n.BUDGET_BLOCKED] is True
    assert attrs[n.BUDGET_NAME] == "per-customer" and attrs[n.BUDGET_SCOPE] == "customer_id=acme"
    assert attrs[n.BUDGET_SPENT] == pytest.approx(0.0000177)
    assert n.HTTP_STATUS_CODE not in attrs and n.COST_AMOUNT not in attrs
    assert not blocked.status.is_ok
    assert telemetry.metric_sum(n.METRIC_BUDGET_BLOCKED, **{n.BUDGET_NAME: "per-customer"}) == 1
    # The admitted calls carry the worst case they reserved.
    assert telemetry.calls()[0].attributes[n.BUDGET_WORST_CASE] == pytest.approx(float(WORST_HI))

    # Each customer has a budget of its own; calls without a customer are not covered by it.
    with billing_context(customer_id="globex"):
        client.chat.completions.create(**hi_request())
    client.chat.completions.create(**hi_request())
    assert levels()[("per-customer", "customer_id=acme")] == (2 * CHAT_ACTUAL, 0)
    assert levels()[("per-customer", "customer_id=globex")] == (CHAT_ACTUAL, 0)


async def test_async_calls_are_refused_too(
    telemetry: Any, aclient: openai.AsyncOpenAI, server: FakeOpenAI
) -> None:
    with billing_context(customer_id="acme"):
        await aclient.chat.completions.create(**hi_request())
        await aclient.chat.completions.create(**hi_request())
        with pytest.raises(BudgetExceeded):
            await aclient.chat.completions.create(**hi_request())
    assert len(server.requests) == 2


def test_a_failed_call_releases_its_reservation(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    server.fail_next(1, status=500)
    with billing_context(customer_id="acme"), pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**hi_request())
    assert levels()[("per-customer", "customer_id=acme")] == (0, 0)


def test_a_stream_holds_its_reservation_until_it_ends(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    with billing_context(customer_id="acme"):
        stream = client.chat.completions.create(**hi_request(), stream=True)
    spent, reserved = levels()[("per-customer", "customer_id=acme")]
    # The streamed body adds "stream": true to the request: "stream" 6 + 1 for the value = 7 more
    # input tokens than hi_request(): 67 x 0.15e-6 + 10 x 0.60e-6 = 0.00001005 + 0.000006 = 0.00001605
    assert (spent, reserved) == (0, Decimal("0.00001605"))
    for _ in stream:
        pass
    assert levels()[("per-customer", "customer_id=acme")] == (CHAT_ACTUAL, 0)


def test_a_warn_budget_reports_and_lets_calls_through(
    telemetry: Any, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "otel_openai_billing")
    # search-watch, limit 0.00002: the first call fits (0 + 0.000015); the second and third would not
    # (0.00000885 + 0.000015 = 0.00002385 > 0.00002): they go ahead, each with an event and a count.
    with billing_context(feature="search"):
        for _ in range(3):
            client.chat.completions.create(**hi_request())
    events = [[e for e in s.events if e.name == n.EVENT_BUDGET_WARNING] for s in telemetry.calls()]
    assert [len(e) for e in events] == [0, 1, 1]
    assert events[1][0].attributes[n.BUDGET_SPENT] == pytest.approx(0.00000885)
    assert telemetry.metric_sum(n.METRIC_BUDGET_OVER, **{n.BUDGET_NAME: "search-watch"}) == 2
    logged = [r for r in caplog.records if "search-watch" in r.getMessage()]
    assert len(logged) == 1  # once per window


def test_responses_and_embeddings_reserve_their_worst_case(telemetry: Any, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme"):
        client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=16)
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    responses, embeddings = telemetry.calls()
    # Responses body {"input": "hi", "model": "gpt-4o-mini", "max_output_tokens": 16}: 4 + "input" 5
    # + "hi" 2 + "model" 5 + "gpt-4o-mini" 11 + "max_output_tokens" 17 + 1 = 45 input tokens, 16 output:
    #   45 x 0.15e-6 + 16 x 0.60e-6 = 0.00000675 + 0.0000096 = 0.00001635
    assert responses.attributes[n.BUDGET_WORST_CASE] == pytest.approx(0.00001635)
    # Embeddings: only the input counts. {"input": "hi"} -> 4 + "input" 5 + "hi" 2 = 11 tokens at
    # $0.02 / 1M: 11 x 0.02e-6 = 0.00000022
    assert embeddings.attributes[n.BUDGET_WORST_CASE] == pytest.approx(0.00000022)
    # Actual: Responses 19 x 0.15e-6 + 10 x 0.60e-6 = 0.00000885; embeddings 8 x 0.02e-6 = 0.00000016
    assert levels()[("per-customer", "customer_id=acme")] == (Decimal("0.00000901"), 0)


def test_reads_and_free_calls_are_never_refused(telemetry: Any, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
        client.chat.completions.create(**hi_request())
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**hi_request())
        # ... but listing models and moderations (free) spend nothing and go ahead.
        client.models.list()
        client.moderations.create(input="hello")
    assert [s.attributes.get(n.BUDGET_BLOCKED) for s in telemetry.calls()] == [None, None, True, None, None]


def test_records_that_never_reserved_count_when_billed(telemetry: Any) -> None:
    # A Batch result or realtime session reaches Core.finish without a reservation; its cost counts.
    from otel_openai_billing import endpoints
    from otel_openai_billing.attribution import Captured
    from otel_openai_billing.pricing.types import Cost
    from otel_openai_billing.record import CallRecord

    rec = CallRecord(endpoints.lookup("POST", "/chat/completions"))
    rec.attribution = Captured({"customer_id": "acme"}, None)
    guard().settle(rec, Cost("priced", Decimal("0.00002")))
    guard().settle(rec, None)  # nothing billed: nothing counted
    assert levels()[("per-customer", "customer_id=acme")] == (Decimal("0.00002"), 0)


def test_spend_gauges_per_budget_instance(telemetry: Any, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
    points = {
        p.attributes[n.BUDGET_SCOPE]: p.value
        for p in telemetry.metric_points(n.METRIC_BUDGET_SPEND)
        if p.attributes[n.BUDGET_NAME] == "per-customer"
    }
    assert points == {"customer_id=acme": pytest.approx(0.00000885)}
    limits = {p.attributes[n.BUDGET_NAME]: p.value for p in telemetry.metric_points(n.METRIC_BUDGET_LIMIT)}
    assert limits == {"per-customer": pytest.approx(0.00003)}


# --- configuration: a file reloaded while running, the environment, bad entries ------------------
def _write(path: Path, limit: str) -> None:
    path.write_text(
        json.dumps({"budgets": [{"name": "all", "scope": {}, "window": "rolling:1h", "limit_usd": limit}]})
    )


class TestFile:
    @pytest.fixture
    def instrument_kwargs(self, budget_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setattr("otel_openai_billing.budgets.source.CHECK_INTERVAL_S", 0.0)
        _write(budget_file, "0")  # a zero limit refuses every call
        return {"budgets_file": str(budget_file)}

    def test_edits_apply_without_a_restart_and_a_bad_edit_keeps_the_last_good(
        self, telemetry: Any, client: openai.OpenAI, budget_file: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**hi_request())
        _write(budget_file, "1")
        client.chat.completions.create(**hi_request())

        budget_file.write_text('{"budgets": [{"name": "all", "limit_usd": "-5"}]}')
        client.chat.completions.create(**hi_request())  # still the last good budget: $1
        assert any(
            str(budget_file) in r.getMessage()
            and "budget #1 ('all')" in r.getMessage()
            and "zero or more" in r.getMessage()
            for r in caplog.records
        )
        budget_file.write_text("{not json")
        client.chat.completions.create(**hi_request())
        assert any(
            str(budget_file) in r.getMessage() and "not valid JSON" in r.getMessage() for r in caplog.records
        )
        assert guard().status()[0].spent == 3 * CHAT_ACTUAL  # the three calls admitted


def test_budgets_from_the_environment(
    server: FakeOpenAI, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_openai_billing import OpenAIBillingInstrumentor

    monkeypatch.setenv(
        "OTEL_OPENAI_BILLING_BUDGETS", '[{"name": "f", "scope": {"label.team": "ml"}, "limit_usd": "0"}]'
    )
    server.clear()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument()
    try:
        client.chat.completions.create(**hi_request())  # no team label: not covered
        with billing_context(team="ml"), pytest.raises(BudgetExceeded) as refused:
            client.chat.completions.create(**hi_request())
        assert refused.value.scope == "team=ml"
    finally:
        instrumentor.uninstrument()
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [{"name": "x", "scope": {"customer": "*"}, "limit_usd": "1"}],
            "budget #1 ('x'): unknown scope key 'customer'",
        ),
        ([{"name": "x", "limit_usd": "-1"}], "budget #1 ('x'): 'limit_usd' must be zero or more"),
        ([{"name": "x", "limit_usd": 1.5}], "budget #1 ('x'): 'limit_usd' must be a decimal string"),
        ([{"name": "x", "limit_usd": "1", "window": "week"}], "'window' must be day, month or rolling"),
        ([{"name": "x", "limit_usd": "1", "action": "stop"}], "'action' must be warn or block"),
        ([{"name": "x", "limit_usd": "1", "limt": 2}], "unknown key(s) ['limt']"),
        ([{"name": "x", "limit_usd": "1"}, {"name": "x", "limit_usd": "2"}], "budget #2: duplicate name 'x'"),
    ],
)
def test_bad_budgets_are_refused_at_instrument_naming_the_entry(entries: list, message: str) -> None:
    from otel_openai_billing import OpenAIBillingInstrumentor

    with pytest.raises(ValueError) as bad:
        OpenAIBillingInstrumentor().instrument(budgets=entries)
    assert "instrument(budgets=...)" in str(bad.value) and message in str(bad.value)
    assert ACTIVE.core is None or ACTIVE.core.budgets is None


def test_a_malformed_file_at_start_names_the_file(tmp_path: Path) -> None:
    from otel_openai_billing import OpenAIBillingInstrumentor

    path = tmp_path / "b.json"
    path.write_text(
        '{"budgets": [{"name": "ok", "limit_usd": "1"},'
        ' {"name": "bad", "limit_usd": "1", "scope": {"tenant": "*"}}]}'
    )
    with pytest.raises(ValueError) as bad:
        OpenAIBillingInstrumentor().instrument(budgets_file=str(path))
    assert f"{path}: budget #2 ('bad'): unknown scope key 'tenant'" in str(bad.value)
