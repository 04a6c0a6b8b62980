"""The budgets' emission stage: span attributes and events, metrics. The only budgets module that
talks to OpenTelemetry.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from .. import names as n
from .policy import Budget
from .stores import Level

logger = logging.getLogger("otel_openai_billing")

_LOGGED_LIMIT = 10_000


class BudgetTelemetry:
    """Budget metrics (spend and limit per budget instance, bounded), warnings logged once per window."""

    def __init__(self, meter: Meter | None, instance_limit: int) -> None:
        self._limit = instance_limit
        self._lock = threading.Lock()
        # (budget, instance) -> (spent nano-USD, limit USD): the last level this process saw.
        self._levels: dict[tuple[str, str], tuple[int, float]] = {}
        self._per_budget: dict[str, int] = {}
        self._logged: set[tuple[str, str, str]] = set()
        self._metrics = meter is not None
        if meter is None:
            return
        meter.create_observable_gauge(
            n.METRIC_BUDGET_SPEND,
            callbacks=[self._observe(0)],
            unit=n.METRIC_COST_UNIT,
            description="USD spent in the current window of each budget, as last read from the budget store.",
        )
        meter.create_observable_gauge(
            n.METRIC_BUDGET_LIMIT,
            callbacks=[self._observe(1)],
            unit=n.METRIC_COST_UNIT,
            description="The limit of each budget in USD.",
        )
        self._blocked = meter.create_counter(
            n.METRIC_BUDGET_BLOCKED,
            unit="{call}",
            description="Calls a budget refused before they were sent.",
        )
        self._over = meter.create_counter(
            n.METRIC_BUDGET_OVER, unit="{call}", description="Calls a warn budget let through over its limit."
        )
        self._store_errors = meter.create_counter(
            n.METRIC_BUDGET_STORE_ERRORS,
            unit="{error}",
            description="Budget store operations that failed, timed out or were skipped while the store "
            "was down; the failure policy was applied.",
        )

    def _observe(self, index: int) -> Any:
        def callback(options: CallbackOptions) -> list[Observation]:
            with self._lock:
                items = list(self._levels.items())
            return [
                Observation(
                    values[1] if index else values[0] / 1e9, {n.BUDGET_NAME: name, n.BUDGET_SCOPE: scope}
                )
                for (name, scope), values in items
            ]

        return callback

    def level(self, budget: Budget, instance: str, level: Level) -> None:
        """Remember a budget instance's spend for the gauges (the first ``instance_limit`` per budget)."""
        key = (budget.name, instance)
        values = (level.spent, budget.limit_float)
        if key in self._levels:
            self._levels[key] = values
            return
        with self._lock:
            count = self._per_budget.get(budget.name, 0)
            if count >= self._limit:
                return  # bounded cardinality: later instances are enforced but not on the gauges
            self._per_budget[budget.name] = count + 1
            self._levels[key] = values

    def blocked(self, budget: Budget) -> None:
        if self._metrics:
            self._blocked.add(1, {n.BUDGET_NAME: budget.name})

    def over_limit(
        self, rec: Any, budget: Budget, instance: str, window_id: str, spent: Decimal, reserved: Decimal
    ) -> None:
        """A warn budget is over its limit: a span event on the call, a metric, a log once per window."""
        rec.span.add_event(
            n.EVENT_BUDGET_WARNING,
            {
                n.BUDGET_NAME: budget.name,
                n.BUDGET_SCOPE: instance,
                n.BUDGET_LIMIT: float(budget.limit_usd),
                n.BUDGET_SPENT: float(spent),
                n.BUDGET_RESERVED: float(reserved),
            },
        )
        if self._metrics:
            self._over.add(1, {n.BUDGET_NAME: budget.name})
        key = (budget.name, instance, window_id)
        if key in self._logged:
            return
        with self._lock:
            if len(self._logged) >= _LOGGED_LIMIT:
                self._logged.clear()
            self._logged.add(key)
        logger.warning(
            "otel-openai-billing: budget %r (%s, window %s) is over its limit of $%s: spent $%s, "
            "in flight $%s (action warn: calls continue; logged once per window)",
            budget.name,
            instance or "every call",
            window_id,
            budget.limit_usd,
            spent,
            reserved,
        )

    def store_error(self, operation: str) -> None:
        if self._metrics:
            self._store_errors.add(1, {n.BUDGET_STORE_OPERATION: operation})
