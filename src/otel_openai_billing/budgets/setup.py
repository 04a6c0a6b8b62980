"""Wiring: the configuration -> a ready ``BudgetGuard`` (or None when no budgets are configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from ..config import Config
    from .guard import BudgetGuard
    from .policy import Budget
    from .stores import Store

# The guard, stores and policy are imported by the functions that need them: instrument() imports this
# module with or without budgets, and an app without budgets must not pay for them at start-up.

ENV = "OTEL_OPENAI_BILLING_BUDGETS"


def fixed_budgets(raw: Any) -> tuple[Budget, ...]:
    """Budgets given in code (a list) or in the environment variable (JSON text)."""
    if not raw:
        return ()
    from .policy import parse_budgets
    from .source import parse_json_text

    if isinstance(raw, str):
        return parse_json_text(raw, ENV)
    return parse_budgets(list(raw), "instrument(budgets=...)")


def make_store(config: Config) -> Store:
    from .stores import MemoryStore, RedisStore

    if config.budget_store == "memory":
        return MemoryStore()
    return RedisStore(config.budget_store, config.budget_store_timeout_ms / 1000)


def make_guard(config: Config, pricer: Any, meter: Meter | None, estimator: Any = None) -> BudgetGuard | None:
    """The guard for ``instrument()``; raises ``BudgetConfigError`` naming the bad source and entry.

    ``estimator`` is the usage estimator the instrumentation already has, if any; with
    ``budget_tokenizer`` on, the guard counts request text with it (one is made when there is none).
    """
    fixed = fixed_budgets(config.budgets)
    path = str(config.budgets_file) if config.budgets_file else None
    if not fixed and path is None:
        return None
    if config.budget_tokenizer:
        if estimator is None:
            from ..estimate import Estimator

            estimator = Estimator(config.tokenizer_dir)
        # Loaded in the background; until it is, reservations use the byte bound.
        estimator.warm("gpt-4o")
    else:
        estimator = None
    from .guard import BudgetGuard
    from .source import BudgetSource
    from .telemetry import BudgetTelemetry

    return BudgetGuard(
        BudgetSource(fixed, path),
        make_store(config),
        pricer,
        policy=config.budget_on_store_error,
        reservation_ttl_s=config.budget_reservation_ttl,
        default_output_tokens=config.budget_default_output_tokens,
        context_tokens=config.budget_context_tokens,
        telemetry=BudgetTelemetry(meter, config.metric_attribution_limit),
        estimator=estimator,
    )
