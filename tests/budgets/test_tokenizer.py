"""Reservations counted with OpenAI's tokenizer (budget_tokenizer on), once its encoding has loaded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

from otel_openai_billing import billing_context
from otel_openai_billing import names as n
from otel_openai_billing.budgets import budget
from otel_openai_billing.hooks import ACTIVE
from tests.budgets.conftest import WORST_HI, hi_request

# hi_request() as the SDK sends it, counted with o200k_base (gpt-4o-mini's encoding): the same framing
# allowances as the byte bound (4 per object) around token counts instead of byte counts:
#   4 (body) + "messages" 1 + [4 + "role" 1 + "user" 1 + "content" 1 + "hi" 1 = 8] + "model" 1
#   + "gpt-4o-mini" 6 (gpt, -, 4, o, -, mini) + "max_tokens" 2 + 1 (the number) = 23 input tokens;
#   output = max_tokens = 10.
#   23 x 0.15e-6 + 10 x 0.60e-6 = 0.00000345 + 0.000006 = 0.00000945 USD
WORST_HI_TOKENS = Decimal("0.00000945")


@pytest.fixture
def instrument_kwargs() -> dict[str, Any]:
    return {"budgets": [budget("all", "1", "day", {})], "budget_tokenizer": True}


def test_a_loaded_tokenizer_tightens_the_reservation(telemetry: Any, client: openai.OpenAI) -> None:
    guard = ACTIVE.core.budgets  # type: ignore[union-attr]
    enc, name = guard._estimator.encoding("gpt-4o-mini")  # wait for the background load
    assert enc is not None, name
    with billing_context(customer_id="acme"):
        client.chat.completions.create(**hi_request())
    reserved = telemetry.calls()[-1].attributes[n.BUDGET_WORST_CASE]
    assert reserved == pytest.approx(float(WORST_HI_TOKENS))
    assert WORST_HI_TOKENS < WORST_HI  # the byte bound of the same request


def test_until_the_encoding_loads_the_byte_bound_holds(telemetry: Any, client: openai.OpenAI) -> None:
    guard = ACTIVE.core.budgets  # type: ignore[union-attr]
    guard._estimator._loaded.clear()  # as in a process whose encoding has not loaded yet
    guard._estimator._warming.add("o200k_base")  # and whose background load is still running
    client.chat.completions.create(**hi_request())
    reserved = telemetry.calls()[-1].attributes[n.BUDGET_WORST_CASE]
    assert reserved == pytest.approx(float(WORST_HI))


# Without max_tokens the output cap is budget_default_output_tokens, 16,384, and the tokenizer runs
# only on text whose byte bound is above an eighth of it, 2,048 (budgets/estimate.py).
SHORT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
# The byte bound of SHORT: 4 (body) + "messages" 8 + 21 (the message) + "model" 5 + "gpt-4o-mini" 11
# = 49 input tokens, under 2,048: kept.
#   49 x 0.15e-6 + 16,384 x 0.6e-6 = 0.00000735 + 0.0098304 = 0.00983775 USD
WORST_SHORT = Decimal("0.00983775")
# A 2,999-byte message, above 2,048: counted by the tokenizer, 500 tokens ("hello" + 499 x " hello");
# 4 + "messages" 1 + [4 + "role" 1 + "user" 1 + "content" 1 + 500 = 507] + "model" 1 + "gpt-4o-mini" 6
# = 519 input tokens (the byte bound would be 49 - 2 + 2,999 = 3,046).
#   519 x 0.15e-6 + 16,384 x 0.6e-6 = 0.00007785 + 0.0098304 = 0.00990825 USD
LONG = {**SHORT, "messages": [{"role": "user", "content": "hello " * 499 + "hello"}]}
WORST_LONG = Decimal("0.00990825")


@pytest.mark.parametrize(("body", "expected"), [(SHORT, WORST_SHORT), (LONG, WORST_LONG)])
def test_the_tokenizer_counts_only_text_that_matters_next_to_the_output_cap(
    telemetry: Any, client: openai.OpenAI, body: dict, expected: Decimal
) -> None:
    guard = ACTIVE.core.budgets  # type: ignore[union-attr]
    enc, name = guard._estimator.encoding("gpt-4o-mini")  # wait for the background load
    assert enc is not None, name
    client.chat.completions.create(**body)
    assert telemetry.calls()[-1].attributes[n.BUDGET_WORST_CASE] == pytest.approx(float(expected))
