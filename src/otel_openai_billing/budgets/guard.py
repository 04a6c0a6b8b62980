"""The guard the hooks call: reserve a call's worst case before it is sent, settle it when it ends.

``reserve`` runs in ``Core.begin`` after the span started; it raises :class:`BudgetExceeded` (which the
hooks let through to the caller) when a ``block`` budget has no room. ``settle`` runs in ``Core.finish``
after emission, for every record with a cost (calls, and Batch or realtime records that never
reserved), and turns the reservation into the actual cost, or releases it when nothing was billed.

When the store fails or times out, the policy applies: ``fail_open`` lets the call through, keeps its
settle in a local backlog that is replayed (idempotently) once the store answers again, and warns;
``fail_closed`` refuses the call with :class:`BudgetStoreUnavailable`. After a failure the store is
not tried again for ``RETRY_AFTER_S``, so a dead store costs no call more than one timeout.

What a call needs besides the store is kept from one call to the next: each budget instance's slot
(store key, limit, bucket) until its window or rolling bucket ends, the pricing query and unit rates
(``rates.py``) of each model, tier and UTC day, the tokenizer of each model. A slot is kept for one
``Budget`` object, and a reload makes new ones, so an edited budget applies from the next call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from .. import names as n
from ..pricing.types import NS_PER_DAY, Cost, PriceQuery, pricing_day
from .errors import BudgetExceeded, BudgetStoreUnavailable
from .estimate import worst_case_usage
from .policy import KEY_PREFIX, Budget, from_nano, matching, now_utc, store_key, to_nano
from .rates import UnitRates
from .source import BudgetSource
from .stores import Level, Slot, Store, StoreError
from .telemetry import BudgetTelemetry

logger = logging.getLogger("otel_openai_billing")

FAIL_OPEN = "fail_open"
FAIL_CLOSED = "fail_closed"
RETRY_AFTER_S = 1.0
_BACKLOG_LIMIT = 100_000
_FLUSH_BATCH = 64
_ZERO = Decimal(0)
# Entries per cache; past it a cache starts over (budget instances, e.g. customers, are unbounded).
_CACHE_LIMIT = 10_000


@dataclass(slots=True)
class Reservation:
    """What a call holds in the budget store between ``reserve`` and ``settle``."""

    rid: str
    matches: list[tuple[Budget, str]]  # (budget, instance)
    at: float  # the call's start, POSIX seconds
    amount: int  # nano-USD
    span_attributes: dict[str, Any]
    slots: list[Slot] | None = None  # as reserved; settle reuses those of calendar windows
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget instance in its current window, as ``budgets status`` shows it."""

    budget: Budget
    instance: str
    window: str
    spent: Decimal
    reserved: Decimal
    reservations: int

    @property
    def remaining(self) -> Decimal:
        return max(_ZERO, self.budget.limit_usd - self.spent - self.reserved)


def slot_of(prefix: str, budget: Budget, instance: str, at: datetime) -> Slot:
    window_id, bucket, buckets, ttl = budget.window.slot(at)
    limit = budget.limit_nano if budget.action == "block" else None
    return Slot(store_key(prefix, budget, instance, window_id), limit, bucket, buckets, ttl)


class BudgetGuard:
    """Budgets enforced on each call, against a store shared (Redis) or not (memory)."""

    def __init__(
        self,
        source: BudgetSource,
        store: Store,
        pricer: Any,
        *,
        policy: str = FAIL_OPEN,
        reservation_ttl_s: int = 900,
        default_output_tokens: int = 16384,
        context_tokens: int = 100_000,
        prefix: str = KEY_PREFIX,
        telemetry: BudgetTelemetry | None = None,
        estimator: Any = None,
    ) -> None:
        self.source = source
        self.store = store
        self._pricer = pricer
        self._policy = policy
        self._ttl_ms = reservation_ttl_s * 1000
        self._default_output = default_output_tokens
        self._context_tokens = context_tokens
        self._estimator = estimator  # estimate.Estimator: token counts once an encoding is loaded
        self.prefix = prefix
        self._telemetry = telemetry or BudgetTelemetry(None, 0)
        self._down_until = 0.0
        self._backlog: deque[tuple[str, list[Slot], int]] = deque()
        self._backlog_lock = threading.Lock()
        self._warned_down = False
        # (budget name, instance) -> (budget, valid from, valid until, slot): see the module docstring.
        self._slots: dict[tuple[str, str], tuple[Budget, float, float, Slot]] = {}
        self._queries: dict[tuple[Any, ...], tuple[PriceQuery, UnitRates]] = {}
        self._counters: dict[str, Any] = {}

    # --- before the call --------------------------------------------------------------------------
    def reserve(self, rec: Any, body: Mapping[str, Any] | None) -> None:
        """Reserve the call's worst case on every budget that covers it; raise if one cannot hold it."""
        if not rec.endpoint.billable or rec.endpoint.free:
            return  # reads, uploads and free endpoints spend nothing and are never refused
        budgets = self.source.current()
        if not budgets:
            return
        values = rec.attribution.values if rec.attribution is not None else {}
        matches = matching(budgets, values)
        if not matches:
            return
        at = rec.start_ns / 1e9
        worst = self.worst_case(rec, body)
        amount = to_nano(worst) if worst is not None else 0
        res = Reservation(os.urandom(12).hex(), matches, at, amount, {})
        if worst is not None:
            res.span_attributes[n.BUDGET_WORST_CASE] = float(worst)
        rec.budget = res
        slots = res.slots = [self._slot(b, instance, at) for b, instance in matches]
        try:
            refused, levels = self._store_call(
                "reserve", self.store.reserve, res.rid, slots, amount, self._ttl_ms
            )
        except StoreError as exc:
            res.span_attributes[n.BUDGET_STORE_UNAVAILABLE] = True
            blocking = [(b, i) for b, i in matches if b.action == "block"]
            if self._policy == FAIL_CLOSED and blocking:
                b, instance = blocking[0]
                res.blocked = True
                res.span_attributes.update(
                    {n.BUDGET_BLOCKED: True, n.BUDGET_NAME: b.name, n.BUDGET_SCOPE: instance}
                )
                window_id = b.window.span(at)[0]
                raise BudgetStoreUnavailable(b.name, instance, window_id, b.limit_usd, str(exc)) from None
            return  # fail_open: the call goes ahead; its settle adds the actual cost later
        for (b, instance), level in zip(matches, levels, strict=True):
            self._telemetry.level(b, instance, level)
        if refused is not None:
            self._refuse(res, refused, levels, worst)
        for (b, instance), level in zip(matches, levels, strict=True):
            if b.action == "warn" and level.spent + level.reserved > b.limit_nano:
                self._telemetry.over_limit(
                    rec, b, instance, b.window.span(at)[0], from_nano(level.spent), from_nano(level.reserved)
                )

    def _refuse(self, res: Reservation, index: int, levels: list[Level], worst: Decimal | None) -> None:
        b, instance = res.matches[index]
        level = levels[index]
        res.blocked = True
        spent, reserved = from_nano(level.spent), from_nano(level.reserved)
        res.span_attributes.update(
            {
                n.BUDGET_BLOCKED: True,
                n.BUDGET_NAME: b.name,
                n.BUDGET_SCOPE: instance,
                n.BUDGET_LIMIT: float(b.limit_usd),
                n.BUDGET_SPENT: float(spent),
                n.BUDGET_RESERVED: float(reserved),
            }
        )
        self._telemetry.blocked(b)
        window_id = b.window.span(res.at)[0]
        raise BudgetExceeded(
            b.name, instance, window_id, b.limit_usd, spent, reserved, worst if worst else _ZERO
        )

    def worst_case(self, rec: Any, body: Mapping[str, Any] | None) -> Decimal | None:
        """The most this call can cost at the rates in force, or None when it cannot be bounded."""
        if body is None or self._pricer is None:
            return None
        count = self._counter(rec.request_model) if self._estimator is not None else None
        usage = worst_case_usage(rec.endpoint.key, body, self._default_output, self._context_tokens, count)
        if usage is None:
            return None
        query, rates = self._query(rec)
        amount = rates.price(usage)
        return amount if amount is not None else self._pricer.price(usage, query).amount

    def _counter(self, model: str | None) -> Any:
        counter = self._counters.get(model)  # type: ignore[arg-type]
        if counter is None:
            # None until the encoding has loaded (the estimator loads it in the background): not kept.
            counter = self._estimator.counter(model)
            if counter is not None and model is not None:
                if len(self._counters) >= _CACHE_LIMIT:
                    self._counters.clear()
                self._counters[model] = counter
        return counter

    def _query(self, rec: Any) -> tuple[PriceQuery, UnitRates]:
        """The worst case's pricing query and its unit rates. The engine prices by UTC day (its rate
        cards are per day), so one query serves every call of a model and its request options in a day."""
        day = rec.start_ns // NS_PER_DAY
        ep = rec.endpoint
        key = (
            rec.request_model,
            ep.key,
            rec.provider,
            rec.request_service_tier,
            rec.data_residency,
            rec.image_size,
            rec.image_quality,
            day,
        )
        cached = self._queries.get(key)
        if cached is None:
            query = PriceQuery(
                model=rec.request_model,
                request_model=rec.request_model,
                endpoint=ep.key,
                provider=rec.provider,
                service_tier=rec.request_service_tier,
                data_residency=rec.data_residency,
                timestamp=pricing_day(rec.start_ns),
                image_size=rec.image_size,
                image_quality=rec.image_quality,
                free=ep.free,
            )
            cached = (query, UnitRates.of(self._pricer, query))
            if len(self._queries) >= _CACHE_LIMIT:
                self._queries.clear()
            self._queries[key] = cached
        return cached

    def _slot(self, b: Budget, instance: str, at: float) -> Slot:
        """The store slot of a budget instance at a time; kept until its window or bucket ends."""
        key = (b.name, instance)
        hit = self._slots.get(key)
        if hit is not None and hit[0] is b and hit[1] <= at < hit[2]:
            return hit[3]
        window_id, bucket, buckets, ttl, start, until = b.window.span(at)
        limit = b.limit_nano if b.action == "block" else None
        slot = Slot(store_key(self.prefix, b, instance, window_id), limit, bucket, buckets, ttl)
        if len(self._slots) >= _CACHE_LIMIT:
            self._slots.clear()
        self._slots[key] = (b, start, until, slot)
        return slot

    # --- after the call ---------------------------------------------------------------------------
    def settle(self, rec: Any, cost: Cost | None) -> None:
        """Turn the call's reservation into its actual cost (nothing billed: release it)."""
        res: Reservation | None = getattr(rec, "budget", None)
        if res is not None and res.blocked:
            return
        if res is None:
            # Records that never reserved (Batch results, realtime sessions) count when billed.
            if cost is None or not cost.amount:
                return
            values = rec.attribution.values if rec.attribution is not None else {}
            found = matching(self.source.current(), values)
            if not found:
                return
            res = Reservation(os.urandom(12).hex(), found, rec.start_ns / 1e9, 0, {})
        if cost is None:
            actual = 0
        elif cost.amount is not None:
            actual = to_nano(cost.amount)
        else:
            # Billed but unpriced: the worst case is the best bound of what it cost.
            actual = res.amount
        now = None
        slots = []
        for i, (b, instance) in enumerate(res.matches):
            # A calendar window is the call's start; a rolling window takes the spend when it lands.
            if b.window.kind == "rolling":
                now = now or time.time()
                slots.append(self._slot(b, instance, now))
            elif res.slots is not None:
                slots.append(res.slots[i])
            else:
                slots.append(self._slot(b, instance, res.at))
        self._settle_slots(res.rid, slots, actual, res.matches)

    def _settle_slots(
        self, rid: str, slots: list[Slot], actual: int, matches: list[tuple[Budget, str]] | None
    ) -> None:
        try:
            levels = self._store_call("settle", self.store.settle, rid, slots, actual, 2 * self._ttl_ms)
        except StoreError:
            with self._backlog_lock:
                if len(self._backlog) >= _BACKLOG_LIMIT:
                    dropped = self._backlog.popleft()
                    logger.error(
                        "otel-openai-billing: budget backlog full; spend of %s nano-USD not counted",
                        dropped[2],
                    )
                self._backlog.append((rid, slots, actual))
            return
        if matches is not None:
            for (b, instance), level in zip(matches, levels, strict=True):
                self._telemetry.level(b, instance, level)

    # --- the store, its failures and the backlog ----------------------------------------------
    def _store_call(self, operation: str, method: Any, *args: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise StoreError("the store failed recently; retrying in at most a second")
        try:
            result = method(*args)
        except StoreError as exc:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            self._telemetry.store_error(operation)
            if not self._warned_down:
                self._warned_down = True
                logger.warning(
                    "otel-openai-billing: the budget store failed (%s); policy %s applies until it is back",
                    exc,
                    self._policy,
                )
            raise
        if self._warned_down:
            self._warned_down = False
            logger.warning("otel-openai-billing: the budget store answers again")
        if self._backlog:
            self._flush()
        return result

    def _flush(self) -> None:
        """Replay settles the store missed; each is idempotent, so a replay after a timeout is safe."""
        for _ in range(_FLUSH_BATCH):
            with self._backlog_lock:
                if not self._backlog:
                    return
                rid, slots, actual = self._backlog.popleft()
            try:
                self.store.settle(rid, slots, actual, 2 * self._ttl_ms)
            except StoreError:
                with self._backlog_lock:
                    self._backlog.appendleft((rid, slots, actual))
                self._down_until = time.monotonic() + RETRY_AFTER_S
                return

    @property
    def backlog(self) -> int:
        """Settles waiting for the store to come back."""
        return len(self._backlog)

    # --- status -------------------------------------------------------------------------------
    def status(self) -> list[BudgetStatus]:
        """Every budget instance of the current windows found in the store."""
        return status(self.store, self.source.current(), self.prefix)


def status(
    store: Store, budgets: tuple[Budget, ...], prefix: str, at: datetime | None = None
) -> list[BudgetStatus]:
    """Spend, reservations and remaining room of each budget instance in its current window."""
    at = at or now_utc()
    rows: list[BudgetStatus] = []
    for b in budgets:
        window_id = b.window.slot(at)[0]
        if any(v == "*" for _, v in b.scope):
            head = store_key(prefix, b, "", "")[:-1]  # prefix + name + "|"
            keys = [k for k in store.scan(head) if k.endswith("|" + window_id)]
            instances = [_instance_of(k) for k in keys]
        else:
            instances = [b.instance(dict(b.scope)) or ""]
        if not instances:
            continue
        slots = [slot_of(prefix, b, i, at) for i in instances]
        for instance, level in zip(instances, store.status(slots), strict=True):
            rows.append(
                BudgetStatus(
                    b,
                    instance,
                    window_id,
                    from_nano(level.spent),
                    from_nano(level.reserved),
                    level.reservations,
                )
            )
    return rows


def _instance_of(key: str) -> str:
    return unquote(key.split("|")[1])
