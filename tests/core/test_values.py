"""The hand-written value classes (Usage, PriceQuery, Cost) behave as the dataclasses they replaced.

Their ``__slots__`` and ``__init__`` are written out separately (values.py says why): a field added to
one and not the other, or in another order, would drop or misplace a value, so the two are compared.
"""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

from otel_openai_billing.pricing.types import Cost, PriceQuery
from otel_openai_billing.usage import QUANTITIES, Usage
from otel_openai_billing.values import Value

CLASSES = [Usage, PriceQuery, Cost]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_slots_are_the_init_parameters_in_order(cls: type[Value]) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]
    assert list(cls.__slots__) == parameters


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_is_set_from_its_own_argument(cls: type[Value]) -> None:
    # A distinct value per field, by keyword and by position: each must come back from its own field.
    values = {name: f"value-{i}" for i, name in enumerate(cls.__slots__)}
    for made in (cls(**values), cls(*values.values())):
        assert {name: getattr(made, name) for name in cls.__slots__} == values


def test_defaults_and_equality() -> None:
    assert all(getattr(Usage(), name) is None for name in QUANTITIES)
    assert Usage().estimated is False and Usage().is_empty()
    assert Usage(input_tokens=3) == Usage(3)
    assert Usage(input_tokens=3) != Usage(input_tokens=3, estimated=True)
    assert Usage(input_tokens=3) != PriceQuery("gpt-4o")
    with pytest.raises(TypeError):
        hash(Usage())  # mutable: not hashable, as a dataclass with eq
    query = PriceQuery("gpt-4o")
    assert (query.endpoint, query.provider, query.batch, query.free) == (
        "POST /chat/completions",
        "openai",
        False,
        False,
    )
    # Each cost gets its own components dict: one shared default would leak between calls.
    first, second = Cost("priced"), Cost("priced")
    first.components["input"] = Decimal("1")
    assert second.components == {}
    with pytest.raises(AttributeError):
        Usage().input_tokenz = 1  # type: ignore[attr-defined]  # a misspelt field is an error


def test_replace_and_repr() -> None:
    query = PriceQuery("gpt-4o", service_tier="flex")
    batch = query.replace(batch=True)
    assert (batch.batch, batch.service_tier, batch.model) == (True, "flex", "gpt-4o")
    assert query.batch is False  # the original is untouched
    with pytest.raises(TypeError):
        query.replace(no_such_field=1)
    assert repr(Usage(input_tokens=5)).startswith("Usage(input_tokens=5, output_tokens=None,")
    assert repr(Cost("unpriced", reason="x")) == (
        "Cost(status='unpriced', amount=None, components={}, layer=None, tier=None, batch=False, "
        "reason='x', estimate_method=None)"
    )
