"""The exceptions a budgeted call can raise before anything is sent to OpenAI."""

from __future__ import annotations

from decimal import Decimal


class BudgetExceeded(Exception):
    """A ``block`` budget has no room for this call's worst-case cost; the request was not sent.

    ``budget`` is the budget's name, ``scope`` the instance (``customer_id=acme``; empty for a budget
    over every call), ``window`` its window id (``2026-12-01``, ``2026-12``, ``rolling``), and the
    amounts are USD as the store saw them when it refused: settled spend, other calls' outstanding
    reservations, and this call's worst case.
    """

    # Documented and exported as otel_openai_billing.BudgetExceeded; error.type on spans says so.
    __module__ = "otel_openai_billing"

    def __init__(
        self,
        budget: str,
        scope: str,
        window: str,
        limit_usd: Decimal,
        spent_usd: Decimal,
        reserved_usd: Decimal,
        worst_case_usd: Decimal,
    ) -> None:
        self.budget = budget
        self.scope = scope
        self.window = window
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.worst_case_usd = worst_case_usd
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.scope}, " if self.scope else ""
        return (
            f"budget {self.budget!r} ({where}window {self.window}) has no room for this call: spent "
            f"${_usd(self.spent_usd)} + reserved ${_usd(self.reserved_usd)} + this call's worst case "
            f"${_usd(self.worst_case_usd)} > limit ${_usd(self.limit_usd)}; the request was not sent"
        )


class BudgetStoreUnavailable(BudgetExceeded):
    """The budget store could not be reached and the policy is ``fail_closed``; the request was not sent."""

    __module__ = "otel_openai_billing"

    def __init__(self, budget: str, scope: str, window: str, limit_usd: Decimal, reason: str) -> None:
        self.reason = reason
        zero = Decimal(0)
        super().__init__(budget, scope, window, limit_usd, zero, zero, zero)

    def _message(self) -> str:
        return (
            f"budget {self.budget!r}: the budget store is unavailable ({self.reason}) and the policy is "
            f"fail_closed; the request was not sent"
        )


def _usd(amount: Decimal) -> str:
    # 0.0000177, not 0.000017700 or 1.77E-5
    return f"{amount.normalize():f}"
