"""Options and formatting shared by the commands."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..pricing import PriceQuery, Pricer

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
    parser.add_argument(
        "--price-file",
        action="append",
        default=[],
        metavar="F",
        help="override price file (JSON, see docs/pricing.md); repeat for several",
    )
    parser.add_argument(
        "--no-supplement", action="store_true", help="leave out the supplement shipped with the package"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def make_pricer(args: argparse.Namespace) -> Pricer:
    """The pricer for the options; price-file problems are reported on stderr."""
    pricer = Pricer(args.price_file, supplement=not args.no_supplement)
    for error in pricer.errors:
        print(f"error: price file not applied: {error}", file=sys.stderr)
    return pricer


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
