"""``otel-openai-billing prices MODEL``: the rate card for a model, tier and day, and its layers."""

from __future__ import annotations

import argparse
from typing import Any

from ..pricing import RateCard
from ._common import add_pricing_options, make_pricer, make_query, money, print_json, quoted


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "prices",
        help="show the rates of a model and which layer each came from",
        description="Show the rate card that prices MODEL at a tier on a day, and the layer each rate "
        "came from (override file, shipped supplement, or genai-prices).",
    )
    add_pricing_options(parser)
    parser.set_defaults(run=run)


def _rates(card: RateCard, rates: dict) -> dict[str, dict[str, Any]]:
    out = {}
    for key, per_unit in rates.items():
        value, label = quoted(key, per_unit)
        out[key] = {"usd": value, "per": label, "layer": card.sources.get(key)}
    return out


def _quote(rate: dict[str, Any]) -> str:
    return f"{'$' + money(rate['usd']) + ' / ' + rate['per']:<24}{rate['layer'] or ''}"


def run(args: argparse.Namespace) -> int:
    pricer = make_pricer(args)
    query = make_query(args)
    card = pricer.rate_card(query)
    day = query.timestamp.date().isoformat() if query.timestamp else None
    if isinstance(card, str):
        if args.json:
            print_json(
                {
                    "model": args.model,
                    "date": day,
                    "priced": False,
                    "reason": card,
                    "errors": [str(e) for e in pricer.errors],
                }
            )
        else:
            print(f"{args.model}: no price: {card}")
        return 1
    long_rates = {k: v for k, v in card.long_unit.items() if card.unit.get(k) != v}
    payload = {
        "model": card.model,
        "provider": query.provider,
        "date": day,
        "tier": card.tier,
        "batch": card.batch,
        "rates": _rates(card, card.unit),
        "long_context": (
            {"above_input_tokens": card.long_threshold, "rates": _rates(card, long_rates)}
            if card.long_threshold is not None
            else None
        ),
        "per_image": {f"{q} {s}": v for (q, s), v in sorted(card.per_image.items())},
        "modifiers": sorted(card.modifiers),
        "notes": list(card.notes),
        "errors": [str(e) for e in pricer.errors],
    }
    if args.json:
        print_json(payload)
        return 1 if pricer.errors else 0
    batch = ", Batch" if card.batch else ""
    print(f"{card.model} ({query.provider}), tier {card.tier}{batch}, on {day} (UTC)")
    width = max((len(k) for k in payload["rates"]), default=10) + 2
    for key, rate in payload["rates"].items():
        print(f"  {key:<{width}}{_quote(rate)}")
    if payload["long_context"]:
        print(f"  above {card.long_threshold} input tokens, the whole call at:")
        for key, rate in payload["long_context"]["rates"].items():
            print(f"    {key:<{width - 2}}{_quote(rate)}")
    for (quality, size), usd in sorted(card.per_image.items()):
        print(f"  image {quality} {size}: ${money(usd)} / image   {card.sources.get('images', '')}")
    if card.modifiers:
        print(f"  multipliers from: {', '.join(sorted(card.modifiers))}")
    for note in card.notes:
        print(f"  note: {note}")
    return 1 if pricer.errors else 0
