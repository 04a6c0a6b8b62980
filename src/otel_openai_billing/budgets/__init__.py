"""Spend limits enforced in the app: per customer, feature, label or everything, shared across replicas.

``policy`` says what a budget is (pure); ``estimate`` bounds a call's cost from its request (pure);
``stores`` keep the counters (in memory, or Redis with atomic Lua scripts); ``guard`` is what the hooks
call before and after each OpenAI call. See docs/budgets.md.

Only the exceptions load with the package (the hooks raise one); the rest loads when budgets are
configured, so an app without budgets never pays for it at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import BudgetExceeded, BudgetStoreUnavailable

if TYPE_CHECKING:
    from .policy import Budget, BudgetConfigError, budget

_FROM_POLICY = ("Budget", "BudgetConfigError", "budget")

__all__ = ["Budget", "BudgetConfigError", "BudgetExceeded", "BudgetStoreUnavailable", "budget"]


def __getattr__(name: str) -> Any:
    if name not in _FROM_POLICY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import policy

    value = getattr(policy, name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value
