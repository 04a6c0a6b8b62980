"""Options and formatting shared by the commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..config import resolve
from ..pricing import PriceQuery, Pricer, datacache
from ..pricing.pricefile import TIER_SYNONYMS

# Service tiers a response can name (``fast`` is ``priority``'s new name).
TIERS = ("default", "auto", "standard", "flex", "priority", "fast", "ultrafast", "scale")

# How each rate key is quoted to a person: (multiplier from USD per unit, unit label).
RATE_UNITS: dict[str, tuple[int, str]] = {
    "characters": (1_000_000, "1M characters"),
    "audio_seconds": (60, "minute"),
    "web_search": (1000, "1k calls"),
    "file_search": (1000, "1k calls"),
    "images": (1, "image"),
}
QUANTITY_UNITS = {
    "characters": "characters",
    "audio_seconds": "seconds",
    "web_search": "calls",
    "file_search": "calls",
    "images": "images",
}


def quoted(key: str, per_unit: Decimal) -> tuple[Decimal, str]:
    """A per-unit rate as it is published: per 1M tokens, per minute, per image..."""
    factor, label = RATE_UNITS.get(key, (1_000_000, "1M tokens"))
    return per_unit * factor, label


def money(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


def tier(text: str) -> str:
    """A ``--tier`` value: one of the tiers the API names; anything else is a usage error."""
    value = text.strip().lower()
    if value not in TIERS:
        raise argparse.ArgumentTypeError(f"unknown tier {text!r}; expected one of {', '.join(TIERS)}")
    return TIER_SYNONYMS.get(value, value)


def amount(text: str) -> float:
    """A finite, non-negative number (seconds of audio, say)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def add_pricing_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose which rates apply."""
    parser.add_argument("model", help="model as the response reports it, e.g. gpt-4o-2024-08-06")
    parser.add_argument(
        "--tier",
        metavar="T",
        type=tier,
        help="service tier from the response: default, flex, priority/fast, ultrafast, scale",
    )
    parser.add_argument("--batch", action="store_true", help="price at Batch API rates")
    parser.add_argument(
        "--date", type=_day, metavar="YYYY-MM-DD", help="price in force on this UTC day (default: today)"
    )
    parser.add_argument("--provider", default="openai", metavar="P", help="openai (default) or azure")
    parser.add_argument(
        "--data-residency",
        metavar="REGION",
        help="the call went to a regional endpoint (eu, us, ...): apply the uplift",
    )
    add_source_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """Where prices come from: the instrumentation's configuration, plus these options."""
    parser.add_argument(
        "--price-file",
        action="append",
        default=[],
        metavar="F",
        help="override price file (JSON, see docs/pricing.md), ahead of those in "
        "OTEL_OPENAI_BILLING_PRICE_FILES; repeat for several",
    )
    parser.add_argument(
        "--price-cache",
        metavar="DIR",
        help="price data cache (default: OTEL_OPENAI_BILLING_PRICE_CACHE, else ~/.cache/otel-openai-billing; "
        "'off' for the bundled data only)",
    )
    parser.add_argument(
        "--no-supplement", action="store_true", help="leave out the supplement shipped with the package"
    )


def cache_dir(args: argparse.Namespace) -> Path | None:
    """The price data cache the instrumentation would use, unless ``--price-cache`` says otherwise."""
    setting = args.price_cache if args.price_cache is not None else resolve({}).price_cache
    return datacache.resolve_dir(setting)


def make_pricer(args: argparse.Namespace, report: bool = True) -> Pricer:
    """The pricer the instrumentation would build from the environment, with the options on top.

    With ``report``, each problem is printed once on stderr (the pricer collects them; nothing else
    logs them); without, the caller shows them.
    """
    config = resolve({})
    files = [*args.price_file, *config.price_files]
    pricer = Pricer(files, supplement=not args.no_supplement, price_cache=cache_dir(args))
    if not report:
        return pricer
    for error in pricer.errors:
        print(f"error: price file not applied: {error}", file=sys.stderr)
    for warning in pricer.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return pricer


def unpriced_advice(pricer: Pricer) -> str:
    """What to do about a model no layer prices, and how old the data is."""
    return (
        f"price data in force: {pricer.data.describe()}. Fetch newer data with "
        "'otel-openai-billing prices update', or price the model in an override file (--price-file, "
        "OTEL_OPENAI_BILLING_PRICE_FILES)."
    )


def make_query(args: argparse.Namespace, **extra: Any) -> PriceQuery:
    """The query for the options."""
    day = args.date or datetime.now(UTC).date()
    return PriceQuery(
        model=args.model,
        provider=args.provider,
        service_tier=args.tier,
        batch=args.batch,
        data_residency=args.data_residency,
        timestamp=datetime(day.year, day.month, day.day, tzinfo=UTC),
        **extra,
    )


def print_json(payload: dict[str, Any] | list[Any]) -> None:
    """JSON on stdout, Decimals as strings so no digit is lost."""
    json.dump(payload, sys.stdout, indent=2, default=lambda v: money(v) if isinstance(v, Decimal) else str(v))
    sys.stdout.write("\n")
