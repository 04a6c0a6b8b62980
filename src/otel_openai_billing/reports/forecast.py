"""The cost of a planned change, from observed traffic re-priced by the pricing engine. Pure.

Every observed billed unit is priced again at the rates in force on ``as_of``, as it was and as the
scenario changes it (growth, a model swap, a share moved to Batch or flex, a higher cache hit rate).
So a swap re-prices the observed token mix at the other model's rates, not a flat per-token guess.
A record whose recorded cost the engine cannot reproduce at its own date (a context the record does
not carry, such as an image size, or a price file since changed) keeps its recorded cost, scaled only
by growth, and is counted in the basis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ..pricing import PriceQuery, Pricer
from ..usage import QUANTITIES, Usage
from .customers import unique

_USAGE_FIELDS = QUANTITIES
# Everything of a record its price depends on, besides its day and recorded cost.
_PRICE_KEYS = (
    "response_model",
    "request_model",
    "endpoint",
    "provider",
    "service_tier",
    "batch",
    "data_residency",
    "cost_status",
    "kind",
    "usage_estimated",
    *_USAGE_FIELDS,
)
_MEMO_LIMIT = 10_000  # bounds the memory; past it, calls are priced one by one
_ZERO = Decimal(0)
_ONE = Decimal(1)
# OpenAI caches prompt prefixes of 1,024 tokens or more; a shorter prompt cannot hit the cache.
CACHE_MIN_PROMPT_TOKENS = 1024
# Endpoints the Batch API accepts (openai/types/batch_create_params.py).
BATCH_ENDPOINTS = frozenset(
    {
        "POST /responses",
        "POST /chat/completions",
        "POST /embeddings",
        "POST /completions",
        "POST /moderations",
        "POST /images/generations",
        "POST /images/edits",
        "POST /videos",
    }
)
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})\Z")


@dataclass(frozen=True, slots=True)
class Growth:
    """Traffic multiplied by ``factor``: everything, or one customer's, or one feature's."""

    factor: Decimal
    customer: str | None = None
    feature: str | None = None

    def applies(self, record: Mapping[str, Any]) -> bool:
        return (self.customer is None or record.get("customer_id") == self.customer) and (
            self.feature is None or record.get("feature") == self.feature
        )


@dataclass(frozen=True, slots=True)
class Swap:
    """``share`` of the traffic of model ``source`` sent to ``target`` with the same token mix."""

    source: str
    target: str
    share: Decimal = _ONE

    def applies(self, record: Mapping[str, Any]) -> bool:
        return model_matches(self.source, record)


@dataclass(frozen=True, slots=True)
class Scenario:
    """The planned change. Growth factors that match a record multiply."""

    growth: tuple[Growth, ...] = ()
    swaps: tuple[Swap, ...] = ()
    batch_share: Decimal = _ZERO  # of eligible synchronous traffic, moved to the Batch API
    flex_share: Decimal = _ZERO  # of synchronous traffic, moved to the flex tier
    cache_hit_rate: Decimal | None = None  # share of cacheable input read from the cache, at least

    def describe(self) -> list[str]:
        """The scenario in words, one line per change."""
        out = []
        for g in self.growth:
            who = " and ".join(
                x
                for x in (g.customer and f"customer {g.customer}", g.feature and f"feature {g.feature}")
                if x
            )
            out.append(f"growth x{_num(g.factor)}" + (f" for {who}" if who else " overall"))
        for s in self.swaps:
            out.append(f"{_pct(s.share)} of {s.source} traffic moved to {s.target}")
        if self.batch_share:
            out.append(f"{_pct(self.batch_share)} of eligible traffic moved to the Batch API")
        if self.flex_share:
            out.append(f"{_pct(self.flex_share)} of traffic moved to the flex tier")
        if self.cache_hit_rate is not None:
            out.append(f"cache hit rate raised to {_pct(self.cache_hit_rate)} of cacheable input")
        return out or ["no change (baseline)"]


def _q(d: Decimal) -> Decimal:
    return d.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN)


def _num(d: Decimal) -> str:
    return f"{d.normalize():f}"


def _pct(d: Decimal) -> str:
    return f"{_num(d * 100)}%"


def model_matches(name: str, record: Mapping[str, Any]) -> bool:
    """True when a record's model is ``name``: the requested name, or a dated snapshot of it."""
    if record.get("request_model") == name:
        return True
    model = record.get("response_model")
    return model == name or (model is not None and _SNAPSHOT.sub("", model) == name)


def usage_of(record: Mapping[str, Any]) -> Usage:
    """The normalized usage a billing record carries."""
    usage = Usage(**{f: record.get(f) for f in _USAGE_FIELDS})
    usage.estimated = bool(record.get("usage_estimated"))
    return usage


def _query(record: Mapping[str, Any], at: datetime, **changes: Any) -> PriceQuery:
    query = PriceQuery(
        model=record.get("response_model") or record.get("request_model"),
        request_model=record.get("request_model"),
        endpoint=record.get("endpoint") or "POST /chat/completions",
        provider=record.get("provider") or "openai",
        service_tier=record.get("service_tier"),
        batch=bool(record.get("batch")),
        data_residency=record.get("data_residency"),
        timestamp=at,
        free=record.get("cost_status") == "free",
    )
    return query.replace(**changes) if changes else query


def _with_cache(usage: Usage, rate: Decimal) -> Usage:
    inp = usage.input_tokens or 0
    if inp < CACHE_MIN_PROMPT_TOKENS:
        return usage
    writes = usage.cache_write_tokens or 0
    cacheable = inp - writes - (usage.input_audio_tokens or 0) - (usage.input_image_tokens or 0)
    target = int((rate * cacheable).to_integral_value(rounding=ROUND_HALF_EVEN))
    if target <= (usage.cache_read_tokens or 0):
        return usage
    return usage.replace(cache_read_tokens=target)


@dataclass(slots=True)
class ModelRow:
    """Per priced model: calls and cost over the basis window, as observed and under the scenario."""

    model: str
    baseline_calls: Decimal = _ZERO
    baseline_cost: Decimal = _ZERO
    scenario_calls: Decimal = _ZERO
    scenario_cost: Decimal = _ZERO


@dataclass(slots=True)
class Forecast:
    """The forecast and its basis. Costs over the window are at ``as_of`` rates; projections per horizon."""

    start: date
    end: date  # exclusive
    as_of: datetime
    horizon_days: int
    scenario: Scenario
    days: int = 0  # days the run-rate is taken over (from the first day with calls to the end)
    calls: int = 0
    unpriced_calls: int = 0  # no recorded cost and the engine cannot price them: left out
    kept_recorded: int = 0  # priced at their recorded cost (context the record does not carry)
    recorded_cost: Decimal = _ZERO  # what the calls cost when they were made
    baseline_cost: Decimal = _ZERO  # the same calls at as_of rates
    scenario_cost: Decimal = _ZERO
    daily: dict[date, Decimal] = field(default_factory=dict)  # baseline cost per day of the window
    daily_calls: dict[date, int] = field(default_factory=dict)
    models: dict[str, ModelRow] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # --- the basis, so nobody mistakes the forecast for a promise -------------------------------
    def series(self) -> list[tuple[date, Decimal, int]]:
        """(day, baseline cost, calls) for every day of the basis, days without calls as 0."""
        first = self.end - timedelta(days=self.days)
        return [
            (d, self.daily.get(d, _ZERO), self.daily_calls.get(d, 0))
            for d in (first + timedelta(days=i) for i in range(self.days))
        ]

    def mean_daily(self) -> Decimal:
        return _q(self.baseline_cost / self.days) if self.days else _ZERO

    def spread(self) -> dict[str, Decimal]:
        """Minimum, maximum and standard deviation of the daily baseline cost."""
        costs = [c for _, c, _ in self.series()]
        if not costs:
            return {"min": _ZERO, "max": _ZERO, "stdev": _ZERO}
        mean = self.mean_daily()
        var = sum(((c - mean) ** 2 for c in costs), _ZERO) / len(costs)
        return {"min": min(costs), "max": max(costs), "stdev": _q(var.sqrt())}

    def trend(self) -> Decimal:
        """Least-squares slope of the daily baseline cost, USD per day per day."""
        points = self.series()
        n = len(points)
        if n < 2:
            return _ZERO
        xs = [Decimal(i) for i in range(n)]
        mx = sum(xs, _ZERO) / n
        my = self.mean_daily()
        sxx = sum(((x - mx) ** 2 for x in xs), _ZERO)
        sxy = sum(((x - mx) * (c - my) for x, (_, c, _) in zip(xs, points, strict=True)), _ZERO)
        return _q(sxy / sxx)

    def projection(self, cost: Decimal) -> Decimal:
        """A window cost as a run-rate over the horizon (to 1e-10 USD: a division need not end)."""
        return _q(cost / self.days * self.horizon_days) if self.days else _ZERO

    def summary(self) -> dict[str, Any]:
        """Everything a reader needs, as one plain dict (JSON-ready with Decimals)."""
        spread = self.spread()
        mean = self.mean_daily()
        ratio = self.scenario_cost / self.baseline_cost if self.baseline_cost else None
        base = self.projection(self.baseline_cost)
        scen = self.projection(self.scenario_cost)
        sd_h = spread["stdev"] * self.horizon_days
        return {
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "days_observed": self.days,
            "calls": self.calls,
            "unpriced_calls": self.unpriced_calls,
            "kept_recorded_cost": self.kept_recorded,
            "recorded_cost": self.recorded_cost,
            "baseline_cost": self.baseline_cost,
            "scenario_cost": self.scenario_cost,
            "mean_daily_cost": mean,
            "daily_min": spread["min"],
            "daily_max": spread["max"],
            "daily_stdev": spread["stdev"],
            "trend_per_day": self.trend(),
            "trend_pct_per_day": _q(self.trend() / mean * 100) if mean else None,
            "horizon_days": self.horizon_days,
            "baseline_projection": base,
            "scenario_projection": scen,
            # One standard deviation of daily cost, every day: a plain, wide band, not a confidence interval.
            "scenario_low": max(_ZERO, scen - sd_h * (ratio or _ONE)),
            "scenario_high": scen + sd_h * (ratio or _ONE),
            "change": scen - base,
            "change_pct": _q((ratio - 1) * 100) if ratio is not None else None,
            "scenario": self.scenario.describe(),
            "notes": self.notes,
        }

    def model_rows(self) -> list[dict[str, Any]]:
        """Per model: calls per day and cost over the horizon, before and after the change."""
        rows = []
        per_day = Decimal(self.days) if self.days else _ONE
        for m in sorted(self.models.values(), key=lambda r: -max(r.baseline_cost, r.scenario_cost)):
            base, scen = self.projection(m.baseline_cost), self.projection(m.scenario_cost)
            rows.append(
                {
                    "model": m.model,
                    "baseline_calls_per_day": _q(m.baseline_calls / per_day),
                    "scenario_calls_per_day": _q(m.scenario_calls / per_day),
                    "baseline_cost": base,
                    "scenario_cost": scen,
                    "change": scen - base,
                }
            )
        return rows


def forecast(
    records: Iterable[Mapping[str, Any]],
    pricer: Pricer,
    *,
    start: date,
    end: date,
    scenario: Scenario = Scenario(),
    horizon_days: int = 30,
    as_of: datetime | None = None,
) -> Forecast:
    """Forecast the cost of ``scenario`` from the records of the UTC days ``start`` <= day < ``end``."""
    at = as_of or datetime.now(UTC)
    fc = Forecast(start=start, end=end, as_of=at, horizon_days=horizon_days, scenario=scenario)
    first: date | None = None
    flex_fallback: set[str] = set()
    memo: dict[tuple[Any, ...], tuple[bool, Decimal, list[tuple[str, Decimal, Decimal]]]] = {}
    for record in unique(records):
        day = date.fromisoformat(record["time"][:10])
        if not start <= day < end:
            continue
        first = day if first is None or day < first else first
        fc.calls += 1
        fc.daily_calls[day] = fc.daily_calls.get(day, 0) + 1
        recorded = Decimal(record["cost"]) if record.get("cost") is not None else None
        if recorded is None and record.get("cost_status") in ("unpriced", "inconsistent"):
            fc.unpriced_calls += 1
            continue
        if recorded is None:
            continue  # a failed call: not billed, so it costs nothing in any scenario
        fc.recorded_cost += recorded
        weight = _ONE
        for g in scenario.growth:
            if g.applies(record):
                weight *= g.factor
        model = record.get("response_model") or record.get("request_model") or "?"
        # Calls alike in everything that sets their price are priced once (prices change by the day).
        key = (day, record["cost"], *map(record.get, _PRICE_KEYS))
        priced = memo.get(key)
        if priced is None:
            priced = _price_record(record, day, recorded, pricer, at, scenario, flex_fallback)
            if len(memo) < _MEMO_LIMIT:
                memo[key] = priced
        reproduced, baseline, unit_pieces = priced
        fc.kept_recorded += not reproduced
        pieces = [(name, calls * weight, cost * weight) for name, calls, cost in unit_pieces]
        fc.baseline_cost += baseline
        fc.daily[day] = fc.daily.get(day, _ZERO) + baseline
        row = fc.models.setdefault(model, ModelRow(model))
        row.baseline_calls += 1
        row.baseline_cost += baseline
        for name, calls, cost in pieces:
            row = fc.models.setdefault(name, ModelRow(name))
            row.scenario_calls += calls
            row.scenario_cost += cost
            fc.scenario_cost += cost
    fc.days = (end - first).days if first is not None else 0
    if fc.days and fc.days < (end - start).days:
        fc.notes.append(
            f"calls start on {first}: the run-rate is over {fc.days} day{'' if fc.days == 1 else 's'}, "
            f"not the {(end - start).days} asked"
        )
    if fc.kept_recorded:
        fc.notes.append(
            f"{fc.kept_recorded} calls kept at their recorded cost (their price depends on context the "
            "record does not carry); only growth applies to them"
        )
    if fc.unpriced_calls:
        fc.notes.append(f"{fc.unpriced_calls} unpriced calls are not in any figure")
    for name in sorted(flex_fallback):
        fc.notes.append(f"{name} has no flex rate: its 'flex' share is priced at the default tier")
    return fc


def _price_record(
    record: Mapping[str, Any],
    day: date,
    recorded: Decimal,
    pricer: Pricer,
    at: datetime,
    scenario: Scenario,
    flex_fallback: set[str],
) -> tuple[bool, Decimal, list[tuple[str, Decimal, Decimal]]]:
    """(reproduced, baseline cost, scenario pieces for one call) of a record; see the module doc."""
    usage = usage_of(record)
    then = datetime(day.year, day.month, day.day, tzinfo=UTC)  # the engine prices by UTC day
    if pricer.price(usage, _query(record, then)).amount != recorded:
        model = record.get("response_model") or record.get("request_model") or "?"
        return False, recorded, [(model, _ONE, recorded)]
    baseline = pricer.price(usage, _query(record, at)).amount
    pieces = _scenario_pieces(record, usage, _ONE, pricer, at, scenario, flex_fallback)
    return True, recorded if baseline is None else baseline, pieces


def _scenario_pieces(
    record: Mapping[str, Any],
    usage: Usage,
    weight: Decimal,
    pricer: Pricer,
    at: datetime,
    scenario: Scenario,
    flex_fallback: set[str],
) -> list[tuple[str, Decimal, Decimal]]:
    """(model priced, calls, cost) of one record under the scenario: a swap or tier splits it."""
    if scenario.cache_hit_rate is not None:
        usage = _with_cache(usage, scenario.cache_hit_rate)
    model = record.get("response_model") or record.get("request_model") or "?"
    targets: list[tuple[str | None, Decimal]] = [(None, weight)]  # None: the record's own model
    for swap in scenario.swaps:
        if swap.applies(record):
            targets = [(None, weight * (_ONE - swap.share)), (swap.target, weight * swap.share)]
            break
    synchronous = not record.get("batch") and record.get("kind", "call") == "call"
    batchable = synchronous and record.get("endpoint") in BATCH_ENDPOINTS
    pieces = []
    for target, share in targets:
        if not share:
            continue
        base_q = (
            _query(record, at) if target is None else _query(record, at, model=target, request_model=None)
        )
        name = target or model
        modes: list[tuple[PriceQuery, Decimal]] = [(base_q, share)]
        if synchronous and (scenario.batch_share or scenario.flex_share):
            batch = scenario.batch_share if batchable else _ZERO
            modes = [
                (base_q.replace(batch=True), share * batch),
                (base_q.replace(service_tier="flex"), share * scenario.flex_share),
                (base_q, share * (_ONE - batch - scenario.flex_share)),
            ]
        for query, part in modes:
            if not part:
                continue
            cost = pricer.price(usage, query)
            if cost.amount is None:
                raise ValueError(f"{name} cannot be priced for this scenario: {cost.reason}")
            if query.service_tier == "flex" and cost.tier != "flex":
                flex_fallback.add(name)
            pieces.append((name, part, cost.amount * part))
    return pieces
