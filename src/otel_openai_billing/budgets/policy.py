"""Budgets as plain values: what a budget is, which calls it covers, and which window a call falls in.

Pure: no store, no OpenTelemetry. A budget is a scope (attribution keys, each a fixed value or ``*``
for "each value separately"), a window (a UTC calendar day or month, or a rolling period), a limit in
USD and an action (``warn`` or ``block``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

ACTIONS = ("warn", "block")
EACH = "*"  # a scope value meaning "every value of this key has a budget of its own"
# Scope keys: the attribution keys a call carries (see attribution.py); labels as ``label.<name>``.
CUSTOMER_ID = "customer_id"
FEATURE = "feature"
LABEL_PREFIX = "label."
_ENTRY_KEYS = ("name", "scope", "window", "limit_usd", "action")
_ROLLING = re.compile(r"^rolling:(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAY_S = 86400
# A rolling window is kept as this many buckets; spend leaves it one bucket late at most, so the
# window holds slightly more than the period, never less (a conservative approximation).
ROLLING_BUCKETS = 60
# Amounts in stores are whole nano-USD (1e-9): int64 in Redis, exact in a double below 9e15 (USD 9M).
NANO = Decimal("1e9")
# Store keys start with this; the hash tag {...} keeps every key in one Redis Cluster slot.
KEY_PREFIX = "{otel_openai_billing}:budget:"


class BudgetConfigError(ValueError):
    """A budget definition that cannot be used; the message names its source and entry."""


@dataclass(frozen=True, slots=True)
class Window:
    """A calendar day or month in UTC, or a rolling period of ``seconds``."""

    kind: str  # "day" | "month" | "rolling"
    seconds: int = 0  # rolling only

    @property
    def spec(self) -> str:
        if self.kind != "rolling":
            return self.kind
        for unit in ("d", "h", "m"):
            if self.seconds % _UNIT_SECONDS[unit] == 0:
                return f"rolling:{self.seconds // _UNIT_SECONDS[unit]}{unit}"
        return f"rolling:{self.seconds}s"

    def slot(self, at: datetime) -> tuple[str, int, int, int]:
        """(window id in the key, bucket, bucket count, key lifetime in s) for a time."""
        return self.span(at.timestamp())[:4]

    def span(self, ts: float) -> tuple[str, int, int, int, float, float]:
        """``slot`` for a POSIX time, plus the times [from, until) in which the slot stays the same.

        The guard keeps a call's slot until ``until``, so the date is formatted once per window (or
        rolling bucket), not on every call.
        """
        if self.kind == "rolling":
            width = max(1, self.seconds // ROLLING_BUCKETS)
            bucket = int(ts) // width
            start = bucket * width
            return "rolling", bucket, ROLLING_BUCKETS, self.seconds + 2 * width, start, start + width
        if self.kind == "day":
            # POSIX time has no leap seconds: every UTC day is 86,400 s long.
            start = ts // _DAY_S * _DAY_S
            at = datetime.fromtimestamp(start, UTC)
            return at.strftime("%Y-%m-%d"), 0, 1, 2 * _DAY_S, start, start + _DAY_S
        at = datetime.fromtimestamp(ts, UTC)
        first = datetime(at.year, at.month, 1, tzinfo=UTC)
        following = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
        return first.strftime("%Y-%m"), 0, 1, 32 * _DAY_S, first.timestamp(), following.timestamp()


@dataclass(frozen=True, slots=True)
class Budget:
    """One spend limit. ``scope`` maps attribution keys to a value or ``*``; empty means every call."""

    name: str
    limit_usd: Decimal
    window: Window
    scope: tuple[tuple[str, str], ...] = ()
    action: str = "block"

    def instance(self, values: Mapping[str, str]) -> str | None:
        """The budget instance a call with these attribution values counts against, or None."""
        parts = []
        for key, wanted in self.scope:
            value = values.get(key)
            if value is None or (wanted != EACH and value != wanted):
                return None
            parts.append(f"{key}={value}")
        return ",".join(parts)

    @property
    def limit_nano(self) -> int:
        return int(self.limit_usd * NANO)

    @property
    def limit_float(self) -> float:
        return float(self.limit_usd)


def to_nano(amount: Decimal) -> int:
    """USD -> whole nano-USD, rounded up: a store never counts less than was spent."""
    return int((amount * NANO).to_integral_value(rounding="ROUND_CEILING"))


def from_nano(amount: int) -> Decimal:
    return Decimal(amount) / NANO


def store_key(prefix: str, budget: Budget, instance: str, window_id: str) -> str:
    """The store key of one budget instance in one window."""
    return f"{prefix}{quote(budget.name, safe='')}|{quote(instance, safe='=,')}|{window_id}"


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- parsing ------------------------------------------------------------------------------------
def parse_budgets(entries: Any, source: str) -> tuple[Budget, ...]:
    """Budgets from a list of entries (dicts or ``Budget``); errors name ``source`` and the entry."""
    if isinstance(entries, Mapping):
        unknown = set(entries) - {"budgets"}
        if unknown:
            raise BudgetConfigError(
                f"{source}: unknown top-level key(s) {sorted(unknown)}; expected 'budgets'"
            )
        entries = entries.get("budgets", [])
    if not isinstance(entries, list | tuple):
        raise BudgetConfigError(f"{source}: expected a list of budgets, got {type(entries).__name__}")
    budgets: list[Budget] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        budget = entry if isinstance(entry, Budget) else _parse_entry(entry, f"{source}: budget #{index + 1}")
        if budget.name in seen:
            raise BudgetConfigError(f"{source}: budget #{index + 1}: duplicate name {budget.name!r}")
        seen.add(budget.name)
        budgets.append(budget)
    return tuple(budgets)


def _parse_entry(entry: Any, where: str) -> Budget:
    if not isinstance(entry, Mapping):
        raise BudgetConfigError(f"{where}: expected an object, got {type(entry).__name__}")
    name = entry.get("name")
    if isinstance(name, str) and name:
        where = f"{where} ({name!r})"
    else:
        raise BudgetConfigError(f"{where}: 'name' must be a non-empty string")
    unknown = set(entry) - set(_ENTRY_KEYS)
    if unknown:
        raise BudgetConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}; expected {', '.join(_ENTRY_KEYS)}"
        )
    return Budget(
        name=name,
        limit_usd=_limit(entry.get("limit_usd"), where),
        window=parse_window(entry.get("window", "month"), where),
        scope=_scope(entry.get("scope", {}), where),
        action=_action(entry.get("action", "block"), where),
    )


def _limit(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        # A float is refused: money is written as a string ("12.50") or a whole number.
        raise BudgetConfigError(f"{where}: 'limit_usd' must be a decimal string or an integer, got {raw!r}")
    try:
        limit = Decimal(str(raw))
    except InvalidOperation:
        raise BudgetConfigError(f"{where}: 'limit_usd' is not a number: {raw!r}") from None
    if not limit.is_finite() or limit < 0:
        raise BudgetConfigError(f"{where}: 'limit_usd' must be zero or more, got {raw!r}")
    return limit


def parse_window(raw: Any, where: str) -> Window:
    """``day``, ``month`` or ``rolling:<n><s|m|h|d>`` (at least 60 s)."""
    if raw in ("day", "month"):
        return Window(raw)
    match = _ROLLING.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise BudgetConfigError(f"{where}: 'window' must be day, month or rolling:<n><s|m|h|d>, got {raw!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < ROLLING_BUCKETS:
        raise BudgetConfigError(f"{where}: a rolling window must be at least 60s, got {raw!r}")
    return Window("rolling", seconds)


def _scope(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise BudgetConfigError(f"{where}: 'scope' must be an object of attribution keys, got {raw!r}")
    scope = []
    for key, value in raw.items():
        if key not in (CUSTOMER_ID, FEATURE) and not (
            isinstance(key, str) and key.startswith(LABEL_PREFIX) and len(key) > len(LABEL_PREFIX)
        ):
            raise BudgetConfigError(
                f"{where}: unknown scope key {key!r}; expected customer_id, feature or label.<name>"
            )
        if not isinstance(value, str) or not value:
            raise BudgetConfigError(f"{where}: scope value of {key!r} must be a non-empty string or '*'")
        scope.append((key.removeprefix(LABEL_PREFIX), value))
    return tuple(sorted(scope))


def _action(raw: Any, where: str) -> str:
    if raw not in ACTIONS:
        raise BudgetConfigError(f"{where}: 'action' must be warn or block, got {raw!r}")
    return raw


def budget(
    name: str,
    limit_usd: str | int | Decimal,
    window: str = "month",
    scope: Mapping[str, str] | None = None,
    action: str = "block",
) -> Budget:
    """Build a budget in code, checked like a file entry: ``budget("acme-daily", "5", "day", {...})``."""
    return _parse_entry(
        {
            "name": name,
            "limit_usd": limit_usd,
            "window": window,
            "scope": dict(scope or {}),
            "action": action,
        },
        "budget()",
    )


def matching(budgets: Iterable[Budget], values: Mapping[str, str]) -> list[tuple[Budget, str]]:
    """(budget, instance) for every budget that covers a call with these attribution values."""
    out = []
    for b in budgets:
        instance = b.instance(values)
        if instance is not None:
            out.append((b, instance))
    return out
