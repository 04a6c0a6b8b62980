"""Spend limits enforced in the app: per customer, feature, label or everything, shared across replicas.

``policy`` says what a budget is (pure); ``estimate`` bounds a call's cost from its request (pure);
``stores`` keep the counters (in memory, or Redis with atomic Lua scripts); ``guard`` is what the hooks
call before and after each OpenAI call. See docs/budgets.md.
"""

from .errors import BudgetExceeded, BudgetStoreUnavailable
from .policy import Budget, BudgetConfigError, budget

__all__ = ["Budget", "BudgetConfigError", "BudgetExceeded", "BudgetStoreUnavailable", "budget"]
