"""The price-file format (user overrides and the shipped supplement): load, validate, represent.

A file is JSON with prices as strings, turned into ``Decimal``. Validation is strict because a typo in
a negotiated rate must not silently mis-bill: any problem makes the whole file a ``PriceFileError``
that names the file and the place (JSON pointer, or line:column for a syntax error). See
docs/pricing.md for the schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

# Token rates a price file may give, per 1M tokens. "cache_write" is the default (30 min) TTL.
TOKEN_KEYS = (
    "input",
    "cached_input",
    "cache_write",
    "cache_write_12h",
    "input_audio",
    "cached_input_audio",
    "input_image",
    "cached_input_image",
    "output",
    "output_audio",
    "output_image",
    # Fine-tuning training, per 1M trained tokens: supervised, and DPO where its rate differs.
    "training",
    "training_dpo",
)
CALL_KEYS = ("web_search", "file_search")
# "priority" and "fast" are one tier (OpenAI renamed priority to Fast mode on 2026-07-30).
TIER_SYNONYMS = {"fast": "priority", "standard": "default", "auto": "default"}
_TIERS = ("flex", "priority", "fast", "ultrafast", "scale")


class PriceFileError(Exception):
    """A price file that cannot be used; ``str()`` names the file and the location in it."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        pointer: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.message = message
        self.pointer = pointer
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}:{self.column}")
        if self.pointer is not None:
            where.append(f"at {self.pointer or '/'}")
        return f"{self.path}: {', '.join(where) + ': ' if where else ''}{self.message}"


@dataclass(frozen=True, slots=True)
class RateSet:
    """Partial rates: USD per unit (per token, per character, per second, per call, per image)."""

    unit: dict[str, Decimal] = field(default_factory=dict)
    long_threshold: int | None = None  # input tokens above which ``long_unit`` applies to the whole call
    long_unit: dict[str, Decimal] = field(default_factory=dict)
    per_image: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (quality, size) -> USD
    multiplier: Decimal | None = None  # tiers/batch given as a factor of the standard token rates


@dataclass(frozen=True, slots=True)
class PriceWindow:
    """A model's prices in force from ``effective_from`` (inclusive) to ``effective_to`` (exclusive)."""

    effective_from: date | None
    effective_to: date | None
    standard: RateSet
    tiers: dict[str, RateSet]
    batch: RateSet | None

    def in_force(self, day: date) -> bool:
        return (self.effective_from is None or day >= self.effective_from) and (
            self.effective_to is None or day < self.effective_to
        )


@dataclass(frozen=True, slots=True)
class Derivation:
    """A rate computed from another rate of the same card, e.g. 12 h cache writes at 2x 30 min writes."""

    source: str
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One ``models[]`` item: which model names it covers and their prices over time."""

    matches: Callable[[str], bool]
    provider: str | None  # None: any provider
    windows: tuple[PriceWindow, ...]
    derive: dict[str, Derivation]
    pointer: str
    label: str = ""  # what it matches, for messages: 'exact "gpt-4o-mini"'

    def applies(self, model: str, provider: str) -> bool:
        return (self.provider is None or self.provider == provider) and self.matches(model)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A multiplier on every component of matching calls (a negotiated discount, say)."""

    matches: Callable[[str], bool]
    provider: str | None
    tier: str | None
    multiplier: Decimal
    note: str | None


@dataclass(frozen=True, slots=True)
class DataResidency:
    """The uplift on regional endpoints for the models it applies to."""

    multiplier: Decimal
    applies_to: tuple[Callable[[str], bool], ...]


@dataclass(frozen=True, slots=True)
class PriceFile:
    """A validated price file."""

    path: str
    models: tuple[ModelEntry, ...]
    aliases: dict[str, str]
    adjustments: tuple[Adjustment, ...]
    data_residency: DataResidency | None


class _Float:
    """A JSON number with a fraction, kept so validation can reject it by position."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Invalid(Exception):
    def __init__(self, pointer: str, message: str) -> None:
        self.pointer = pointer
        self.message = message


def _ptr(parent: str, key: str | int) -> str:
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{parent}/{token}"


def _obj(value: Any, pointer: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(pointer, f"expected an object, got {_kind(value)}")
    for key in value:
        if key not in allowed:
            raise _Invalid(_ptr(pointer, key), f"unknown key {key!r} (allowed: {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise _Invalid(pointer, f"missing required key {key!r}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, _Float):
        return f"the number {value.text}"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the number {value}"
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _price(value: Any, pointer: str) -> Decimal:
    if not isinstance(value, str):
        hint = f' (write "{value.text}")' if isinstance(value, _Float) else ""
        if isinstance(value, int) and not isinstance(value, bool):
            hint = f' (write "{value}")'
        raise _Invalid(pointer, f"a price must be a string, got {_kind(value)}{hint}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise _Invalid(pointer, f"not a decimal number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise _Invalid(pointer, f"a price must be a finite, non-negative number: {value!r}")
    return price


def _date(value: Any, pointer: str) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _Invalid(pointer, f'expected a date as "YYYY-MM-DD", got {_kind(value)} {value!r}')
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _Invalid(pointer, f"invalid date {value!r}: {exc}") from None


def _string(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(pointer, f"expected a non-empty string, got {_kind(value)}")
    return value


def _matcher(value: Any, pointer: str) -> Callable[[str], bool]:
    spec = _obj(value, pointer, ("exact", "prefix", "regex"))
    if len(spec) != 1:
        raise _Invalid(pointer, "give exactly one of 'exact', 'prefix', 'regex'")
    kind, arg = next(iter(spec.items()))
    at = _ptr(pointer, kind)
    if kind == "exact":
        names = [arg] if isinstance(arg, str) else arg
        if not isinstance(names, list) or not names:
            raise _Invalid(at, "expected a model name or a non-empty array of names")
        exact = frozenset(_string(n, _ptr(at, i)).lower() for i, n in enumerate(names))
        return lambda model: model.lower() in exact
    if kind == "prefix":
        prefix = _string(arg, at).lower()
        return lambda model: model.lower().startswith(prefix)
    try:
        pattern = re.compile(_string(arg, at), re.IGNORECASE)
    except re.error as exc:
        raise _Invalid(at, f"invalid regular expression: {exc}") from None
    return lambda model: pattern.search(model) is not None


def _token_rates(value: Any, pointer: str) -> dict[str, Decimal]:
    rates = _obj(value, pointer, TOKEN_KEYS)
    return {key: _price(v, _ptr(pointer, key)).scaleb(-6) for key, v in rates.items()}


def _rate_set(value: Any, pointer: str, *, standard: bool) -> RateSet:
    keys = ["per_1m_tokens", "long_context"]
    if standard:
        keys += ["per_1m_characters", "per_minute", "per_1k_calls", "per_image"]
    else:
        keys += ["multiplier"]
    spec = _obj(value, pointer, tuple(keys))
    unit: dict[str, Decimal] = {}
    if "per_1m_tokens" in spec:
        unit.update(_token_rates(spec["per_1m_tokens"], _ptr(pointer, "per_1m_tokens")))
    if "per_1m_characters" in spec:
        unit["characters"] = _price(spec["per_1m_characters"], _ptr(pointer, "per_1m_characters")).scaleb(-6)
    if "per_minute" in spec:
        # Billed per second: OpenAI rounds audio duration to the second and prices by the minute.
        unit["audio_seconds"] = _price(spec["per_minute"], _ptr(pointer, "per_minute")) / 60
    if "per_1k_calls" in spec:
        at = _ptr(pointer, "per_1k_calls")
        calls = _obj(spec["per_1k_calls"], at, CALL_KEYS)
        unit.update({k: _price(v, _ptr(at, k)).scaleb(-3) for k, v in calls.items()})
    per_image: dict[tuple[str, str], Decimal] = {}
    if "per_image" in spec:
        at = _ptr(pointer, "per_image")
        qualities = spec["per_image"]
        if not isinstance(qualities, dict) or not qualities:
            raise _Invalid(at, "expected an object {quality: {size: price}}")
        for quality, sizes in qualities.items():
            q_at = _ptr(at, quality)
            if not isinstance(sizes, dict) or not sizes:
                raise _Invalid(q_at, "expected an object {size: price}")
            for size, price in sizes.items():
                if not re.fullmatch(r"\d+x\d+", size):
                    raise _Invalid(_ptr(q_at, size), f'a size looks like "1024x1024", got {size!r}')
                per_image[(quality.lower(), size)] = _price(price, _ptr(q_at, size))
    long_threshold = None
    long_unit: dict[str, Decimal] = {}
    if "long_context" in spec:
        at = _ptr(pointer, "long_context")
        lc = _obj(
            spec["long_context"],
            at,
            ("above_input_tokens", "per_1m_tokens"),
            required=tuple(("above_input_tokens", "per_1m_tokens")),
        )
        threshold = lc["above_input_tokens"]
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
            raise _Invalid(
                _ptr(at, "above_input_tokens"), f"expected a positive integer, got {_kind(threshold)}"
            )
        long_threshold = threshold
        long_unit = _token_rates(lc["per_1m_tokens"], _ptr(at, "per_1m_tokens"))
    multiplier = None
    if "multiplier" in spec:
        multiplier = _price(spec["multiplier"], _ptr(pointer, "multiplier"))
        if len(spec) > 1:
            raise _Invalid(pointer, "give either 'multiplier' or rates, not both")
    return RateSet(unit, long_threshold, long_unit, per_image, multiplier)


def _window(value: Any, pointer: str) -> PriceWindow:
    keys = (
        "effective_from",
        "effective_to",
        "per_1m_tokens",
        "per_1m_characters",
        "per_minute",
        "per_1k_calls",
        "per_image",
        "long_context",
        "tiers",
        "batch",
    )
    spec = _obj(value, pointer, keys)
    start = (
        _date(spec["effective_from"], _ptr(pointer, "effective_from")) if "effective_from" in spec else None
    )
    end = _date(spec["effective_to"], _ptr(pointer, "effective_to")) if "effective_to" in spec else None
    if start and end and end <= start:
        raise _Invalid(_ptr(pointer, "effective_to"), "effective_to must be after effective_from")
    rate_keys = {
        k: v for k, v in spec.items() if k not in ("effective_from", "effective_to", "tiers", "batch")
    }
    standard = _rate_set(rate_keys, pointer, standard=True)
    tiers: dict[str, RateSet] = {}
    if "tiers" in spec:
        at = _ptr(pointer, "tiers")
        for name, tier in _obj(spec["tiers"], at, _TIERS).items():
            tiers[TIER_SYNONYMS.get(name, name)] = _rate_set(tier, _ptr(at, name), standard=False)
    batch = _rate_set(spec["batch"], _ptr(pointer, "batch"), standard=False) if "batch" in spec else None
    return PriceWindow(start, end, standard, tiers, batch)


def _model(value: Any, pointer: str) -> ModelEntry:
    spec = _obj(value, pointer, ("match", "provider", "note", "prices", "derive"), required=("match",))
    matches = _matcher(spec["match"], _ptr(pointer, "match"))
    provider = _string(spec["provider"], _ptr(pointer, "provider")) if "provider" in spec else None
    if "note" in spec:
        _string(spec["note"], _ptr(pointer, "note"))
    windows: list[PriceWindow] = []
    if "prices" in spec:
        at = _ptr(pointer, "prices")
        if not isinstance(spec["prices"], list):
            raise _Invalid(at, f"expected an array, got {_kind(spec['prices'])}")
        windows = [_window(w, _ptr(at, i)) for i, w in enumerate(spec["prices"])]
    derive: dict[str, Derivation] = {}
    if "derive" in spec:
        at = _ptr(pointer, "derive")
        for key, rule in _obj(spec["derive"], at, TOKEN_KEYS).items():
            r_at = _ptr(at, key)
            r = _obj(rule, r_at, ("from", "multiplier"), required=("from", "multiplier"))
            source = r["from"]
            if source not in TOKEN_KEYS:
                raise _Invalid(
                    _ptr(r_at, "from"), f"unknown rate {source!r} (allowed: {', '.join(TOKEN_KEYS)})"
                )
            derive[key] = Derivation(source, _price(r["multiplier"], _ptr(r_at, "multiplier")))
    if not windows and not derive:
        raise _Invalid(pointer, "a model entry needs 'prices' or 'derive'")
    kind, arg = next(iter(spec["match"].items()))
    label = f"{kind} {json.dumps(arg)}" + (f", provider {provider}" if provider else "")
    return ModelEntry(matches, provider, tuple(windows), derive, pointer, label)


def _adjustment(value: Any, pointer: str) -> Adjustment:
    spec = _obj(value, pointer, ("match", "provider", "tier", "multiplier", "note"), required=("multiplier",))
    matches = _matcher(spec["match"], _ptr(pointer, "match")) if "match" in spec else (lambda _m: True)
    provider = _string(spec["provider"], _ptr(pointer, "provider")) if "provider" in spec else None
    tier = _string(spec["tier"], _ptr(pointer, "tier")) if "tier" in spec else None
    note = _string(spec["note"], _ptr(pointer, "note")) if "note" in spec else None
    multiplier = _price(spec["multiplier"], _ptr(pointer, "multiplier"))
    return Adjustment(matches, provider, TIER_SYNONYMS.get(tier, tier) if tier else None, multiplier, note)


def parse_price_data(data: Any, path: str) -> PriceFile:
    """Validate decoded JSON (floats as ``_Float``); raises ``PriceFileError``."""
    try:
        top = _obj(
            data,
            "",
            ("schema", "currency", "note", "aliases", "models", "adjustments", "data_residency"),
            required=("schema",),
        )
        if top["schema"] != SCHEMA_VERSION:
            raise _Invalid("/schema", f"unsupported schema {_kind(top['schema'])}; this version reads 1")
        if top.get("currency", "USD") != "USD":
            raise _Invalid("/currency", f'only "USD" is supported, got {top["currency"]!r}')
        aliases: dict[str, str] = {}
        if "aliases" in top:
            if not isinstance(top["aliases"], dict):
                raise _Invalid("/aliases", f"expected an object, got {_kind(top['aliases'])}")
            for name, target in top["aliases"].items():
                aliases[name.lower()] = _string(target, _ptr("/aliases", name))
        models: list[ModelEntry] = []
        if "models" in top:
            if not isinstance(top["models"], list):
                raise _Invalid("/models", f"expected an array, got {_kind(top['models'])}")
            models = [_model(m, _ptr("/models", i)) for i, m in enumerate(top["models"])]
        adjustments: list[Adjustment] = []
        if "adjustments" in top:
            if not isinstance(top["adjustments"], list):
                raise _Invalid("/adjustments", f"expected an array, got {_kind(top['adjustments'])}")
            adjustments = [_adjustment(a, _ptr("/adjustments", i)) for i, a in enumerate(top["adjustments"])]
        residency = None
        if "data_residency" in top:
            dr = _obj(
                top["data_residency"],
                "/data_residency",
                ("multiplier", "applies_to", "note"),
                required=("multiplier", "applies_to"),
            )
            targets = dr["applies_to"]
            if not isinstance(targets, list) or not targets:
                raise _Invalid("/data_residency/applies_to", "expected a non-empty array of match objects")
            residency = DataResidency(
                _price(dr["multiplier"], "/data_residency/multiplier"),
                tuple(_matcher(t, _ptr("/data_residency/applies_to", i)) for i, t in enumerate(targets)),
            )
    except _Invalid as exc:
        raise PriceFileError(path, exc.message, pointer=exc.pointer) from None
    return PriceFile(path, tuple(models), aliases, tuple(adjustments), residency)


def parse_price_text(text: str, path: str) -> PriceFile:
    """Parse and validate the text of a price file; raises ``PriceFileError``."""
    try:
        data = json.loads(text, parse_float=_Float, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise PriceFileError(path, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except _Duplicate as exc:
        raise PriceFileError(path, f"duplicate key {exc.key!r}") from None
    return parse_price_data(data, path)


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A duplicated key in JSON keeps the last value silently; in a price file that hides a typo.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Duplicate(key)
        result[key] = value
    return result


def load_price_file(path: str | Path) -> PriceFile:
    """Read and validate a price file; raises ``PriceFileError`` naming the file and the location."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError(name, f"cannot read: {exc}") from None
    return parse_price_text(text, name)
