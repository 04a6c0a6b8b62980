"""``otel-openai-billing prices show|update|status``: rate cards, fresh price data, what is in force."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from ..pricing import RateCard, datacache
from ._common import (
    add_pricing_options,
    add_source_options,
    cache_dir,
    make_pricer,
    make_query,
    money,
    print_json,
    quoted,
    unpriced_advice,
)

SUBCOMMANDS = ("show", "update", "status", "-h", "--help")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "prices",
        help="rate cards, newer price data, and which data is in force",
        description="Show a model's rates ('prices show MODEL', or 'prices MODEL'), fetch newer price "
        "data ('prices update'), or show which data and override files are in force ('prices status').",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = sub.add_parser(
        "show",
        help="the rates of a model and which layer each came from",
        description="Show the rate card that prices MODEL at a tier on a day, and the layer each rate "
        "came from (override file, shipped supplement, or genai-prices data).",
    )
    add_pricing_options(show)
    show.set_defaults(run=run_show)

    update = sub.add_parser(
        "update",
        help="fetch genai-prices' newest data into the local cache",
        description="Fetch the newest genai-prices data (the file its own updater reads), validate it, "
        "and cache it where the instrumentation and this CLI read it. A failed or offline update keeps "
        "the last good data.",
    )
    update.add_argument(
        "--url", default=datacache.DEFAULT_URL, help="where to fetch from (default: %(default)s)"
    )
    update.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds (default: 30)")
    update.add_argument(
        "--price-cache",
        metavar="DIR",
        help="cache directory (default: OTEL_OPENAI_BILLING_PRICE_CACHE, else ~/.cache/otel-openai-billing)",
    )
    update.set_defaults(run=run_update)

    status = sub.add_parser(
        "status",
        help="which price data is in force, its age and source, and the override entries",
        description="Show the price data in force (bundled or updated, its date and source), the last "
        "failed update, and each override entry with the models it matches. Exit 1 when something "
        "needs attention (stale data, a failed update, a price file not applied, an override entry "
        "that matches no known model).",
    )
    add_source_options(status)
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(run=run_status)


def _rates(card: RateCard, rates: dict) -> dict[str, dict[str, Any]]:
    out = {}
    for key, per_unit in rates.items():
        value, label = quoted(key, per_unit)
        out[key] = {"usd": value, "per": label, "layer": card.sources.get(key)}
    return out


def _quote(rate: dict[str, Any]) -> str:
    return f"{'$' + money(rate['usd']) + ' / ' + rate['per']:<24}{rate['layer'] or ''}"


def run_show(args: argparse.Namespace) -> int:
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
                    "price_data": pricer.data.describe(),
                    "errors": [str(e) for e in pricer.errors],
                }
            )
        else:
            print(f"{args.model}: no price: {card}")
            print(unpriced_advice(pricer))
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
            {
                "above_input_tokens": card.long_threshold,
                "rates": None if card.long_unknown else _rates(card, long_rates),
            }
            if card.long_threshold is not None
            else None
        ),
        "per_image": {f"{q} {s}": v for (q, s), v in sorted(card.per_image.items())},
        "modifiers": sorted(card.modifiers),
        "notes": list(card.notes),
        "price_data": pricer.data.describe(),
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
    if card.long_unknown:
        print(f"  above {card.long_threshold} input tokens: rates not published; such calls are unpriced")
    elif payload["long_context"]:
        print(f"  above {card.long_threshold} input tokens, the whole call at:")
        for key, rate in payload["long_context"]["rates"].items():
            print(f"    {key:<{width}}{_quote(rate)}")
    for (quality, size), usd in sorted(card.per_image.items()):
        print(f"  image {quality} {size}: ${money(usd)} / image   {card.sources.get('images', '')}")
    if card.modifiers:
        print(f"  multipliers from: {', '.join(sorted(card.modifiers))}")
    for note in card.notes:
        print(f"  note: {note}")
    return 1 if pricer.errors else 0


def run_update(args: argparse.Namespace) -> int:
    directory = cache_dir(args)
    if directory is None:
        print("error: the price cache is turned off (OTEL_OPENAI_BILLING_PRICE_CACHE=off)", file=sys.stderr)
        return 2
    try:
        before = datacache.load(directory) or datacache.bundled()
    except datacache.PriceDataError:
        before = datacache.bundled()
    try:
        after = datacache.update(directory, args.url, args.timeout)
    except datacache.PriceDataError as exc:
        print(f"error: price data not updated: {exc}", file=sys.stderr)
        print(f"keeping the last good data: {before.describe()}", file=sys.stderr)
        return 1
    old = {m.id for p in before.snapshot.providers for m in p.models}
    new = sorted(
        m.id for p in after.snapshot.providers if p.id == "openai" for m in p.models if m.id not in old
    )
    print(f"updated: {after.describe()}")
    print(f"  {after.models} models (was {before.models}); spans will name the layer {after.layer!r}")
    if new:
        print(f"  new OpenAI models: {', '.join(new)}")
    return 0


def _override_report(pricer: Any) -> list[dict[str, Any]]:
    """Each override entry, and whether any model known to the price data matches it."""
    known = sorted(
        {m.id for p in pricer.data.snapshot.providers if p.id in ("openai", "azure") for m in p.models}
    )
    rows = []
    for pf in pricer.override_files():
        for entry in pf.models:
            hits = [name for name in known if entry.matches(name)]
            rows.append(
                {"file": pf.path, "at": entry.pointer, "match": entry.label, "known_models": hits[:10]}
            )
    return rows


def run_status(args: argparse.Namespace) -> int:
    pricer = make_pricer(args, report=False)  # its problems are listed below, once
    directory = cache_dir(args)
    data = pricer.data
    failure = datacache.last_failure(directory) if directory is not None else None
    age = data.age_days(datetime.now(UTC))
    attention: list[str] = [str(e) for e in pricer.errors] + list(pricer.warnings)
    if data.fetched_at is None:
        attention.append(
            "no updated price data: using the data bundled with genai-prices; run "
            "'otel-openai-billing prices update' to price models released since"
        )
    if failure:
        attention.append(f"the last update failed at {failure.get('at')}: {failure.get('error')}")
    overrides = _override_report(pricer)
    for row in overrides:
        if not row["known_models"]:
            attention.append(
                f"override entry {row['file']} at {row['at']} ({row['match']}) matches no model in the price "
                "data; if it is meant for a known model, check the name"
            )
    payload = {
        "price_data": {
            "in_force": data.describe(),
            "layer": data.layer,
            "source": data.source,
            "fetched_at": data.fetched_at.isoformat() if data.fetched_at else None,
            "age_days": age,
            "newest_dated_price": data.newest_price_date.isoformat() if data.newest_price_date else None,
            "models": data.models,
            "cache_dir": str(directory) if directory is not None else None,
            "last_failed_update": failure,
        },
        "overrides": overrides,
        "attention": attention,
    }
    if args.json:
        print_json(payload)
        return 1 if attention else 0
    print(f"price data in force: {data.describe()}")
    print(f"  layer on spans: {data.layer}; {data.models} models")
    print(f"  cache: {directory if directory is not None else 'off'}")
    for row in overrides:
        matched = ", ".join(row["known_models"]) or "no known model"
        print(f"override {row['file']} at {row['at']}: {row['match']} -> {matched}")
    for line in attention:
        print(f"attention: {line}")
    return 1 if attention else 0
