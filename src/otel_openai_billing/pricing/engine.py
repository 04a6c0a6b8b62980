"""The pricing engine: usage + query -> ``Cost``. Pure; no OpenTelemetry.

Rates are resolved once per (provider, model, tier, Batch flag, UTC day, regional endpoint) into a
``RateCard`` from three layers (user override files, the shipped supplement, genai-prices; the first
layer that gives a rate wins, rate by rate) and cached. Pricing a call is then Decimal arithmetic.
"""

from __future__ import annotations

import logging
import operator
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from itertools import compress
from pathlib import Path
from typing import Any

from ..usage import MAX_COUNT, Usage, all_plausible
from . import database, datacache
from .pricefile import (
    TIER_SYNONYMS,
    TOKEN_KEYS,
    PriceFile,
    PriceFileError,
    PriceWindow,
    RateSet,
    load_price_file,
    parse_price_text,
)
from .types import Cost, PriceQuery

logger = logging.getLogger("otel_openai_billing.pricing")

OVERRIDE = "override"
SUPPLEMENT = "supplement"
_RANK = {OVERRIDE: 0, SUPPLEMENT: 1}
_TOKEN_RATE_KEYS = frozenset(TOKEN_KEYS)
_ZERO = Decimal(0)
_CACHE_LIMIT = 4096
# OpenAI's request defaults for the legacy per-image models.
_DEFAULT_IMAGE_QUALITY = "standard"
_DEFAULT_IMAGE_SIZE = "1024x1024"
# A dated snapshot suffix; an override entry written for the alias also prices its snapshots.
_DATE_SUFFIX = re.compile(r"-\d{4}-?\d{2}-?\d{2}$")
# No single call bills more than this many units of anything (usage.MAX_COUNT). A count above it, or
# below zero, is corrupt usage: the call is flagged inconsistent and never priced. The hooks drop such
# counts before emission; this check keeps the CLI and direct callers of the engine as safe.
MAX_PLAUSIBLE_COUNT = MAX_COUNT
# Checked against the bound on every call. Token subsets (cached, cache-write, audio, image, reasoning)
# need no check of their own: one that is negative or larger than its whole makes a component negative,
# which is flagged the same way.
_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "input_characters",
    "images",
    "web_search_calls",
    "file_search_calls",
)
_counts = operator.attrgetter(*_COUNT_FIELDS, "audio_seconds")
INCONSISTENT = "inconsistent"
# The token and call components of a price, each with the rate keys that can bill it, first found wins.
_COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input", ("input",)),
    ("cached_input", ("cached_input", "input")),
    ("cache_write", ("cache_write",)),
    ("cache_write_12h", ("cache_write_12h",)),
    ("input_audio", ("input_audio",)),
    ("cached_input_audio", ("cached_input_audio", "input_audio")),
    # Image inputs of chat models are billed as input tokens when there is no image rate.
    ("input_image", ("input_image", "input")),
    ("cached_input_image", ("cached_input_image", "input_image", "cached_input")),
    ("output", ("output",)),
    ("output_audio", ("output_audio",)),
    # Image models quote their image output as the output rate.
    ("output_image", ("output_image", "output")),
    ("web_search", ("web_search",)),
    ("file_search", ("file_search",)),
    ("characters", ("characters",)),
)
_COMPONENT_NAMES = tuple(name for name, _ in _COMPONENTS)
_INDEXES = range(len(_COMPONENTS))


@dataclass(frozen=True, slots=True)
class RateCard:
    """The resolved rates of one model at one tier on one day; USD per unit."""

    model: str
    tier: str  # the tier whose rates apply ("default" when the asked tier had none)
    batch: bool
    unit: dict[str, Decimal]
    long_threshold: int | None  # input tokens above which ``long_unit`` prices the whole call
    long_unit: dict[str, Decimal]  # the full card above the threshold (empty when there is none)
    per_image: dict[tuple[str, str], Decimal]
    sources: dict[str, str]  # rate key -> layer that gave it
    modifiers: frozenset[str]  # layers whose multipliers scaled the card (tiers, uplift, adjustments)
    notes: tuple[str, ...]
    base_layer: str = database.LAYER  # the database layer in force (bundled or updated data)
    # Above ``long_threshold`` prices differ but are not published: such calls are unpriced, not guessed.
    long_unknown: bool = False
    # Rate keys used -> layer_for's answer: calls of one card use the same few combinations.
    _layers: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False, repr=False)
    # Long-context or not -> plan(): the rate each component is billed at, found once per card.
    _plans: dict[bool, tuple[tuple[str, Decimal] | None, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def plan(self, long: bool) -> tuple[tuple[str, Decimal] | None, ...]:
        """For each of ``_COMPONENTS``, the first of its rate keys this card has and its rate, or None."""
        plan = self._plans.get(long)
        if plan is None:
            rates = self.long_unit if long else self.unit
            plan = self._plans[long] = tuple(
                next(((k, rates[k]) for k in keys if rates.get(k) is not None), None)
                for _, keys in _COMPONENTS
            )
        return plan

    def layer_for(self, keys: Iterable[str]) -> str:
        """The highest-precedence layer among those that gave the rates actually used."""
        keys = tuple(keys)
        layer = self._layers.get(keys)
        if layer is None:
            used = {self.sources[k] for k in keys if k in self.sources} | self.modifiers
            layer = min(used, key=lambda name: _RANK.get(name, 2)) if used else self.base_layer
            if len(self._layers) < 64:
                self._layers[keys] = layer
        return layer


@dataclass(frozen=True, slots=True)
class Line:
    """One priced component, for a person to check: ``quantity x rate = amount``."""

    component: str
    quantity: Decimal
    rate: Decimal  # USD per unit
    amount: Decimal


def _utc_day(ts: datetime | None) -> date:
    if ts is None:
        return datetime.now(UTC).date()
    if ts.tzinfo is None or ts.tzinfo is UTC:
        return ts.date()  # naive timestamps are UTC by contract; the hot path's are UTC already
    return ts.astimezone(UTC).date()


def implausible(u: Usage) -> str | None:
    """Why ``u`` cannot be real usage (a negative or absurd count), or None if it is plausible."""
    # Every call's check, settled in C when all is well; the loop below only names the bad count.
    if all_plausible(_counts(u)):
        return None
    for name in _COUNT_FIELDS:
        value = getattr(u, name)
        if value is not None and not 0 <= value <= MAX_PLAUSIBLE_COUNT:
            return f"implausible usage: {name}={value}"
    seconds = u.audio_seconds
    if seconds is not None and not 0 <= seconds <= MAX_PLAUSIBLE_COUNT:  # also false for NaN
        return f"implausible usage: audio_seconds={seconds}"
    return None


def normalize_tier(tier: str | None) -> str:
    """The response's ``service_tier`` as the tier we price: auto/None -> default, fast -> priority."""
    if not tier:
        return "default"
    tier = tier.lower()
    return TIER_SYNONYMS.get(tier, tier)


class _Builder:
    """Accumulates one rate card, layer by layer (lowest precedence first)."""

    def __init__(self) -> None:
        self.unit: dict[str, Decimal] = {}
        self.long_unit: dict[str, Decimal] = {}
        self.threshold: int | None = None
        self.long_unknown = False
        self.per_image: dict[tuple[str, str], Decimal] = {}
        self.sources: dict[str, str] = {}
        self.modifiers: set[str] = set()
        self.notes: list[str] = []

    def overlay(self, rates: RateSet, layer: str) -> None:
        for key, value in rates.unit.items():
            self.unit[key] = value
            self.sources[key] = layer
            # A rate given without its own long-context rate holds at every length.
            self.long_unit.pop(key, None)
        if rates.long_threshold is not None:
            self.threshold = rates.long_threshold
            # "long_context" with no rates: the cliff exists, its rates are not published.
            self.long_unknown = not rates.long_unit
            for key, value in rates.long_unit.items():
                self.long_unit[key] = value
                self.sources[key] = layer
        if rates.per_image:
            self.per_image.update(rates.per_image)
            self.sources["images"] = layer

    def scale_tokens(self, factor: Decimal, layer: str | None) -> None:
        for rates in (self.unit, self.long_unit):
            for key in rates.keys() & _TOKEN_RATE_KEYS:
                rates[key] *= factor
        if layer is not None:
            self.modifiers.add(layer)

    def scale_all(self, factor: Decimal, layer: str) -> None:
        for rates in (self.unit, self.long_unit, self.per_image):
            for key in rates:
                rates[key] *= factor
        self.modifiers.add(layer)


class Pricer:
    """Prices calls from override files, the shipped supplement and genai-prices. Thread-safe."""

    def __init__(
        self,
        price_files: Iterable[str | Path] = (),
        *,
        supplement: bool = True,
        database_layer: bool = True,
        price_cache: str | Path | None = None,
        price_data: datacache.PriceData | None = None,
    ) -> None:
        """Load the layers. Problems are collected, not raised or logged: the caller reports each once
        (``errors``: price files not applied; ``warnings``: cached price data not usable)."""
        self.errors: list[PriceFileError] = []
        self.warnings: list[str] = []
        self._files: list[tuple[str, PriceFile]] = []
        for path in price_files:
            try:
                self._files.append((OVERRIDE, load_price_file(path)))
            except PriceFileError as exc:
                self.errors.append(exc)
        if supplement:
            try:
                self._files.append((SUPPLEMENT, load_supplement()))
            except PriceFileError as exc:
                self.errors.append(exc)
        if price_data is None and price_cache is not None and database_layer:
            try:
                price_data = datacache.load(price_cache)
            except datacache.PriceDataError as exc:
                self.warnings.append(f"updated price data not used, using the bundled data: {exc}")
        self.data = price_data if price_data is not None else datacache.bundled()
        age = self.data.age_days()
        if age is not None and age > datacache.STALE_AFTER_DAYS:
            self.warnings.append(
                f"price data is stale: fetched {age} days ago; run 'otel-openai-billing prices update'"
            )
        self._db_layer = self.data.layer
        self._snapshot = self.data.snapshot
        # Override entries that priced (or were looked up for) at least one call: (path, pointer).
        self._matched: set[tuple[str, str]] = set()
        self.calls_priced = 0
        self._database = database_layer
        self._aliases: dict[str, str] = {}
        for _, pf in reversed(self._files):
            self._aliases.update(pf.aliases)
        # Every cost priced while a file failed says so: its rates would have applied, maybe lower.
        self._failure_note = "; ".join(f"price file not applied: {e}" for e in self.errors) or None
        self._cache: dict[tuple, RateCard | str] = {}
        # A query's fields as the call reports them -> (model name, card): calls of one model, tier and
        # day share an entry, so the alias look-up, the tier's and day's normalisation and the card's
        # key are worked out once for them, not once per call.
        self._resolved: dict[tuple, tuple[str | None, RateCard | str | None]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    # --- public ---------------------------------------------------------------------------------
    def price(self, usage: Usage | None, query: PriceQuery, checked: bool = False) -> Cost:
        """The cost of one call. Never raises: a fault comes back as an unpriced cost.

        ``checked``: the caller found every count of ``usage`` in range already (``usage.implausible``,
        which the hooks run on every call before pricing), so the engine does not check them again.
        """
        try:
            return self._price(usage, query, None, checked)
        except Exception as exc:  # the one fail-open boundary of the hot path
            logger.debug("otel-openai-billing: pricing failed", exc_info=True)
            return Cost(status="unpriced", reason=f"internal pricing error ({type(exc).__name__})")

    def explain(self, usage: Usage | None, query: PriceQuery) -> tuple[Cost, list[Line]]:
        """Like ``price`` but also returns the priced components line by line (for the CLI)."""
        lines: list[Line] = []
        return self._price(usage, query, lines), lines

    def rate_card(self, query: PriceQuery) -> RateCard | str:
        """The rates that would price ``query``, or the reason there are none."""
        name = self.resolve_model(query)
        if name is None:
            return "no model name"
        return self._card(query, name)

    def resolve_model(self, query: PriceQuery) -> str | None:
        """The model name to price: an alias of the request (e.g. an Azure deployment) wins."""
        if query.request_model and query.request_model.lower() in self._aliases:
            return self._aliases[query.request_model.lower()]
        name = query.model or query.request_model
        if name is None:
            return None
        return self._aliases.get(name.lower(), name)

    # --- internals ------------------------------------------------------------------------------
    def _price(
        self, usage: Usage | None, query: PriceQuery, lines: list[Line] | None, checked: bool = False
    ) -> Cost:
        if query.free:
            return Cost(status="free", amount=_ZERO, batch=query.batch)
        if query.training_method == "reinforcement":
            return self._unpriced(
                "reinforcement fine-tuning is billed per hour of training, which the job does not "
                "report (the Costs API has the amount)",
                query,
            )
        if usage is None:
            return self._unpriced("no usage reported", query)
        name, card = self._resolve(query)
        if name is None:
            return self._unpriced("no model name on the call", query)
        self.calls_priced += 1
        if isinstance(card, str):
            self._warn_once(name, card)
            return self._unpriced(card, query)
        return self._compute(card, usage, query, lines, checked)

    def _resolve(self, query: PriceQuery) -> tuple[str | None, RateCard | str | None]:
        """The model name to price ``query`` at and its card (None, None without a name)."""
        key = (
            query.provider,
            query.model,
            query.request_model,
            query.service_tier,
            query.batch,
            query.timestamp,
            query.data_residency,
        )
        found = self._resolved.get(key)
        if found is None:
            name = self.resolve_model(query)
            found = (name, None if name is None else self._card(query, name))
            if query.timestamp is not None:  # None is "now", whose day changes under the key
                self._keep(self._resolved, key, found)
        return found

    def _keep(self, cache: dict[tuple, Any], key: tuple, value: Any) -> None:
        """Store in one of the engine's caches, which are bounded, not LRU: a day rolled over or model
        names are unbounded, and entries are cheap to rebuild."""
        with self._lock:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = value

    def _unpriced(self, reason: str, query: PriceQuery, status: str = "unpriced") -> Cost:
        if self._failure_note:
            reason = f"{reason}; {self._failure_note}"
        return Cost(status=status, reason=reason, batch=query.batch)

    def _warn_once(self, model: str, reason: str) -> None:
        if model in self._warned:
            return
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        logger.warning(
            "otel-openai-billing: calls to %r are unpriced: %s. Price data in force: %s. Fetch newer "
            "data with `otel-openai-billing prices update`, or price the model in an override file "
            "(OTEL_OPENAI_BILLING_PRICE_FILES; see docs/pricing.md).",
            model,
            reason,
            self.data.describe(),
        )

    # --- override bookkeeping -------------------------------------------------------------------
    def override_entries(self) -> list[tuple[str, str, str, bool]]:
        """Every model entry of the override files: (file, JSON pointer, what it matches, matched yet)."""
        return [
            (pf.path, entry.pointer, entry.label, (pf.path, entry.pointer) in self._matched)
            for layer, pf in self._files
            if layer == OVERRIDE
            for entry in pf.models
        ]

    def override_files(self) -> list[PriceFile]:
        """The override files that loaded, highest precedence first."""
        return [pf for layer, pf in self._files if layer == OVERRIDE]

    def unmatched_overrides(self) -> list[str]:
        """Override entries that matched none of the calls priced so far, described for a person."""
        return [f"{path} at {ptr} ({label})" for path, ptr, label, hit in self.override_entries() if not hit]

    def report_unmatched(self) -> None:
        """Log override entries that never matched a call (at exit): a rate that silently never applies."""
        if self.calls_priced == 0:
            return
        for entry in self.unmatched_overrides():
            logger.warning(
                "otel-openai-billing: override entry %s matched none of the %d calls priced; check its "
                "model name against the model the responses report (`otel-openai-billing prices status`)",
                entry,
                self.calls_priced,
            )

    def _card(self, query: PriceQuery, name: str) -> RateCard | str:
        day = _utc_day(query.timestamp)
        tier = normalize_tier(query.service_tier)
        key = (query.provider, name, tier, query.batch, day, bool(query.data_residency))
        card = self._cache.get(key)
        if card is None:
            card = self._build(query.provider, name, tier, query.batch, day, bool(query.data_residency))
            self._keep(self._cache, key, card)
        return card

    def _build(
        self, provider: str, model: str, tier: str, batch: bool, day: date, regional: bool
    ) -> RateCard | str:
        windows: list[tuple[str, PriceWindow]] = []  # highest precedence first
        derive: dict[str, tuple[str, object]] = {}
        # An override written for an alias ("gpt-4o-mini") applies to the dated snapshot the response
        # names ("gpt-4o-mini-2024-07-18"), as the user means it; the exact name is tried first.
        base = _DATE_SUFFIX.sub("", model)
        for layer, pf in self._files:
            for entry in pf.models:
                if not entry.applies(model, provider) and not (
                    layer == OVERRIDE and base != model and entry.applies(base, provider)
                ):
                    continue
                if layer == OVERRIDE:
                    self._matched.add((pf.path, entry.pointer))
                for rate_key, rule in entry.derive.items():
                    derive.setdefault(rate_key, (layer, rule))
                # Every matching entry contributes its window in force, earlier entries first (they win
                # rate by rate), so one entry can add a rate (e.g. training) to a model others price.
                window = next((w for w in entry.windows if w.in_force(day)), None)
                if window is not None:
                    windows.append((layer, window))
        info = database.find_model(model, provider, self._snapshot) if self._database else None
        if not windows and info is None:
            return f"model {model!r} is not in the price data for {day.isoformat()}"

        b = _Builder()
        if info is not None:
            b.overlay(database.standard(info, day), self._db_layer)
        for layer, window in reversed(windows):
            b.overlay(window.standard, layer)

        priced_tier = "default"
        if batch:
            self._apply_batch(b, windows, info, day)
        elif tier != "default":
            if self._apply_tier(b, tier, windows, info, day):
                priced_tier = tier
            elif tier == "scale":
                b.notes.append("scale tier: priced at the standard list-price equivalent of prepaid units")
            else:
                b.notes.append(f"tier {tier} has no published rate for this model; priced at default")

        for rate_key, (layer, rule) in derive.items():
            self._derive(b, rate_key, layer, rule)
        if regional:
            self._apply_residency(b, model)
        for layer, pf in self._files:
            for adj in pf.adjustments:
                if (
                    adj.matches(model)
                    and adj.provider in (None, provider)
                    and adj.tier in (None, "batch" if batch else priced_tier)
                ):
                    b.scale_all(adj.multiplier, layer)
                    b.notes.append(adj.note or f"adjusted x{adj.multiplier} by a price file")
        long_unit = {**b.unit, **b.long_unit} if b.threshold is not None and b.long_unit else {}
        return RateCard(
            model=model,
            tier=priced_tier,
            batch=batch,
            unit=b.unit,
            long_threshold=b.threshold if long_unit or b.long_unknown else None,
            long_unit=long_unit,
            per_image=b.per_image,
            sources=b.sources,
            modifiers=frozenset(b.modifiers),
            notes=tuple(b.notes),
            base_layer=self._db_layer,
            long_unknown=b.long_unknown,
        )

    @staticmethod
    def _apply_rates(b: _Builder, rates: RateSet, layer: str) -> None:
        if rates.multiplier is not None:
            b.scale_tokens(rates.multiplier, layer)
        else:
            b.overlay(rates, layer)

    def _apply_tier(
        self, b: _Builder, tier: str, windows: list[tuple[str, PriceWindow]], info: object, day: date
    ) -> bool:
        for layer, window in windows:
            rates = window.tiers.get(tier)
            if rates is not None:
                self._apply_rates(b, rates, layer)
                return True
        if info is not None:
            names = ("priority", "fast") if tier == "priority" else (tier,)
            for name in names:
                rates = database.variant(info, day, {"service_tier": name})  # type: ignore[arg-type]
                if rates is not None:
                    b.overlay(rates, self._db_layer)
                    return True
        return False

    def _apply_batch(
        self, b: _Builder, windows: list[tuple[str, PriceWindow]], info: object, day: date
    ) -> None:
        for layer, window in windows:
            if window.batch is not None:
                self._apply_rates(b, window.batch, layer)
                return
        if info is not None:
            rates = database.variant(info, day, {"processing": "batch"})  # type: ignore[arg-type]
            if rates is not None:
                b.overlay(rates, self._db_layer)
                return
        # Batch is 50% of standard on every model that offers it; flagged because unpublished.
        b.scale_tokens(Decimal("0.5"), None)
        b.notes.append("no published Batch rate for this model on this date; priced at 50% of standard")

    @staticmethod
    def _derive(b: _Builder, rate_key: str, layer: str, rule: object) -> None:
        source, factor = rule.source, rule.multiplier  # type: ignore[attr-defined]
        if rate_key not in b.unit and source in b.unit:
            b.unit[rate_key] = b.unit[source] * factor
            b.sources[rate_key] = layer
        if rate_key not in b.long_unit and source in b.long_unit:
            b.long_unit[rate_key] = b.long_unit[source] * factor

    def _apply_residency(self, b: _Builder, model: str) -> None:
        for layer, pf in self._files:
            rule = pf.data_residency
            if rule is None:
                continue
            if any(matches(model) for matches in rule.applies_to):
                b.scale_all(rule.multiplier, layer)
                b.notes.append(f"data-residency uplift x{rule.multiplier}")
            return

    def _compute(
        self, card: RateCard, u: Usage, query: PriceQuery, lines: list[Line] | None, checked: bool = False
    ) -> Cost:
        if not checked:
            problem = implausible(u)
            if problem is not None:
                return self._unpriced(problem, query, INCONSISTENT)
        inp = u.input_tokens or 0
        if card.long_unknown and card.long_threshold is not None and inp > card.long_threshold:
            return self._unpriced(
                f"no published rates for {card.model!r} above {card.long_threshold} input tokens", query
            )
        long = card.long_threshold is not None and inp > card.long_threshold
        rates = card.long_unit if long else card.unit
        cached = u.cache_read_tokens or 0
        cached_audio = u.cache_read_audio_tokens or 0
        cached_image = u.cache_read_image_tokens or 0
        writes = u.cache_write_tokens or 0
        writes_long = u.cache_write_long_ttl_tokens or 0
        audio_in = (u.input_audio_tokens or 0) - cached_audio
        image_in = (u.input_image_tokens or 0) - cached_image
        out = u.output_tokens or 0
        audio_out = u.output_audio_tokens or 0
        image_out = u.output_image_tokens or 0
        # In the order of _COMPONENTS: subsets of input and output, each billed once at its own rate
        # (reasoning is plain output).
        quantities = (
            inp - cached - writes - audio_in - image_in,
            cached - cached_audio - cached_image,
            writes - writes_long,
            writes_long,
            audio_in,
            cached_audio,
            image_in,
            cached_image,
            out - audio_out - image_out,
            audio_out,
            image_out,
            u.web_search_calls or 0,
            u.file_search_calls or 0,
            u.input_characters or 0,
        )
        notes = card.notes  # a tuple: most calls add no note of their own, so nothing is copied
        components: dict[str, Decimal] = {}
        used: list[str] = []
        plan = card.plan(long)
        # Only the components with a quantity: compress() skips the zeros (most of the fourteen on a
        # usual call) in C, where a Python loop would test each one.
        for i in compress(_INDEXES, quantities):
            qty, component, found = quantities[i], _COMPONENT_NAMES[i], plan[i]
            if qty < 0:
                return self._unpriced(
                    f"inconsistent usage: {component} comes out negative ({qty})", query, INCONSISTENT
                )
            if found is None:
                return self._unpriced(f"no {component} rate for {card.model!r}", query)
            key, rate = found
            used.append(key)
            components[component] = amount = rate * qty
            if lines is not None:
                lines.append(Line(component, Decimal(qty), rate, amount))
        if u.audio_seconds:
            rate = rates.get("audio_seconds")
            if rate is None:
                return self._unpriced(f"no per-second audio rate for {card.model!r}", query)
            seconds = Decimal(repr(u.audio_seconds))
            components["audio_seconds"] = amount = rate * seconds
            used.append("audio_seconds")
            if lines is not None:
                lines.append(Line("audio_seconds", seconds, rate, amount))
        if u.images and (card.per_image or not components):
            quality = (query.image_quality or _DEFAULT_IMAGE_QUALITY).lower()
            size = query.image_size or _DEFAULT_IMAGE_SIZE
            rate = card.per_image.get((quality, size))
            if rate is None:
                return self._unpriced(f"no per-image rate for {card.model!r} at {quality} {size}", query)
            if query.image_size is None or query.image_quality is None:
                notes += (f"image size/quality not given; priced at the API default {quality} {size}",)
            components["images"] = amount = rate * u.images
            used.append("images")
            if lines is not None:
                lines.append(Line("images", Decimal(u.images), rate, amount))
        if u.trained_tokens:
            # Each method has its own rate key ("training" for supervised, "training_dpo"): a DPO
            # job is never priced at a supervised rate no price file gave for it.
            method = query.training_method or "supervised"
            key = "training" if method == "supervised" else f"training_{method}"
            rate = rates.get(key)
            if rate is None:
                return self._unpriced(f"no {method} training rate for {card.model!r}", query)
            components["training"] = amount = rate * u.trained_tokens
            used.append(key)
            if lines is not None:
                lines.append(Line("training", Decimal(u.trained_tokens), rate, amount))
        if u.tool_image_input_text_tokens or u.tool_image_input_image_tokens or u.tool_image_output_tokens:
            if query.tool_image_model is None:
                return self._unpriced(
                    "image-generation tool tokens: the tool's image model is not reported", query
                )
            tool_card = self._card(query, query.tool_image_model)
            if isinstance(tool_card, str):
                return self._unpriced(f"image-generation tool: {tool_card}", query)
            tool_rates = tool_card.unit
            text_in, image_in = u.tool_image_input_text_tokens or 0, u.tool_image_input_image_tokens or 0
            cached_text, cached_image = (
                u.tool_image_cached_text_tokens or 0,
                u.tool_image_cached_image_tokens or 0,
            )
            out_text = u.tool_image_output_text_tokens or 0
            for component, qty, tool_keys in (
                ("image_tool_input", text_in - cached_text, ("input",)),
                ("image_tool_cached_input", cached_text, ("cached_input", "input")),
                ("image_tool_input_image", image_in - cached_image, ("input_image", "input")),
                ("image_tool_cached_input_image", cached_image, ("cached_input_image", "input_image")),
                # Image output at the image-output rate (image models quote it as their output rate).
                (
                    "image_tool_output",
                    (u.tool_image_output_tokens or 0) - out_text,
                    ("output_image", "output"),
                ),
                ("image_tool_output_text", out_text, ("output",)),
            ):
                if not qty:
                    continue
                if qty < 0:
                    return self._unpriced(
                        f"inconsistent usage: {component} comes out negative ({qty})", query
                    )
                rate = next((tool_rates[k] for k in tool_keys if k in tool_rates), None)
                if rate is None:
                    return self._unpriced(f"no {component} rate for {tool_card.model!r}", query)
                components[component] = amount = rate * qty
                if lines is not None:
                    lines.append(Line(component, Decimal(qty), rate, amount))
        if not components and not (inp or out):
            # Checked last because it walks every field: the hot path has components.
            reason = "no usage reported" if u.is_empty() else "usage has no quantity this engine can price"
            return self._unpriced(reason, query)
        if self._failure_note:
            notes += (self._failure_note,)
        return Cost(
            status="estimated" if u.estimated else "priced",
            amount=sum(components.values(), _ZERO),
            components=components,
            layer=card.layer_for(used),
            tier=card.tier,
            batch=card.batch,
            reason="; ".join(notes) or None,
        )


def load_supplement() -> PriceFile:
    """The price supplement shipped with the package."""
    text = resources.files(__package__).joinpath("supplement.json").read_text(encoding="utf-8")
    return parse_price_text(text, "otel_openai_billing/pricing/supplement.json")
