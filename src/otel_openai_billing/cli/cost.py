"""``otel-openai-billing cost MODEL --input-tokens N ...``: price a usage, line by line."""

from __future__ import annotations

import argparse
from typing import Any

from ..usage import Usage
from ._common import (
    QUANTITY_UNITS,
    add_pricing_options,
    amount,
    make_pricer,
    make_query,
    money,
    print_json,
    quoted,
    unpriced_advice,
)

# option -> Usage field. Counts follow the API: cached, cache-write, audio and image tokens are parts of
# --input-tokens; reasoning, audio and image output are parts of --output-tokens.
_COUNTS = {
    "input_tokens": "total input tokens (prompt_tokens / input_tokens), cached ones included",
    "output_tokens": "total output tokens, reasoning included",
    "cached_tokens": "of the input, tokens read from the prompt cache",
    "cache_write_tokens": "of the input, tokens written to the prompt cache (all TTLs)",
    "cache_write_12h_tokens": "of the cache writes, those with the 12 h TTL",
    "reasoning_tokens": "of the output, reasoning tokens (billed as output; shown only)",
    "audio_input_tokens": "of the input, audio tokens",
    "cached_audio_tokens": "of the cached input, audio tokens",
    "image_input_tokens": "of the input, image tokens",
    "audio_output_tokens": "of the output, audio tokens",
    "image_output_tokens": "of the output, image tokens",
    "characters": "input characters (tts-1, tts-1-hd)",
    "images": "images generated (dall-e per-image prices)",
    "web_search_calls": "hosted web-search calls",
    "file_search_calls": "hosted file-search calls",
}
_FIELD = {
    "cached_tokens": "cache_read_tokens",
    "cache_write_12h_tokens": "cache_write_long_ttl_tokens",
    "audio_input_tokens": "input_audio_tokens",
    "cached_audio_tokens": "cache_read_audio_tokens",
    "image_input_tokens": "input_image_tokens",
    "audio_output_tokens": "output_audio_tokens",
    "image_output_tokens": "output_image_tokens",
    "characters": "input_characters",
}


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# (part, whole): a count given as part of another may not exceed it, as in the API's usage.
_PARTS = (
    ("cached_tokens", "input_tokens"),
    ("cache_write_tokens", "input_tokens"),
    ("cache_write_12h_tokens", "cache_write_tokens"),
    ("audio_input_tokens", "input_tokens"),
    ("cached_audio_tokens", "cached_tokens"),
    ("image_input_tokens", "input_tokens"),
    ("reasoning_tokens", "output_tokens"),
    ("audio_output_tokens", "output_tokens"),
    ("image_output_tokens", "output_tokens"),
)


def _inconsistency(args: argparse.Namespace) -> str | None:
    for part, whole in _PARTS:
        have, of = getattr(args, part), getattr(args, whole)
        if have and have > (of or 0):
            opt = "--" + part.replace("_", "-")
            return f"{opt} {have} exceeds --{whole.replace('_', '-')} {of or 0}: it is counted as part of it"
    if (args.cached_tokens or 0) + (args.cache_write_tokens or 0) > (args.input_tokens or 0):
        return "--cached-tokens plus --cache-write-tokens exceed --input-tokens"
    return None


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "cost",
        help="price a usage line by line, to check a span's cost by hand",
        description="Price one call's usage and print each component as quantity x rate = amount, "
        "then the total. Counts are given as the API reports them: cached, cache-write, audio and "
        "image tokens are parts of the input tokens, reasoning tokens part of the output tokens.",
    )
    add_pricing_options(parser)
    for option, help_text in _COUNTS.items():
        parser.add_argument(f"--{option.replace('_', '-')}", type=_count, metavar="N", help=help_text)
    parser.add_argument("--audio-seconds", type=amount, metavar="S", help="audio duration (whisper-1)")
    parser.add_argument("--image-size", metavar="WxH", help="request size, e.g. 1024x1024 (dall-e)")
    parser.add_argument("--image-quality", metavar="Q", help="request quality: standard or hd (dall-e)")
    parser.add_argument("--estimated", action="store_true", help="the usage is an estimate")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    problem = _inconsistency(args)
    if problem:
        args.parser.error(problem)
    pricer = make_pricer(args)
    fields = {_FIELD.get(opt, opt): getattr(args, opt) for opt in _COUNTS}
    usage = Usage(**fields, audio_seconds=args.audio_seconds, estimated=args.estimated)
    query = make_query(args, image_size=args.image_size, image_quality=args.image_quality)
    cost, lines = pricer.explain(usage, query)
    rows = []
    for line in lines:
        rate, per = quoted(line.component, line.rate)
        rows.append(
            {
                "component": line.component,
                "quantity": line.quantity,
                "unit": QUANTITY_UNITS.get(line.component, "tokens"),
                "rate_usd": rate,
                "per": per,
                "amount_usd": line.amount,
            }
        )
    day = query.timestamp.date().isoformat() if query.timestamp else None
    if args.json:
        print_json(
            {
                "model": args.model,
                "date": day,
                "status": cost.status,
                "amount_usd": cost.amount,
                "currency": "USD",
                "layer": cost.layer,
                "tier": cost.tier,
                "batch": cost.batch,
                "reason": cost.reason,
                "components": rows,
                "errors": [str(e) for e in pricer.errors],
            }
        )
        return 0 if cost.amount is not None and not pricer.errors else 1
    print(
        f"{args.model} ({query.provider}), tier {cost.tier or '-'}{', Batch' if cost.batch else ''}, "
        f"on {day} (UTC), priced by {cost.layer or '-'}"
    )
    for row in rows:
        left = f"{money(row['quantity'])} {row['unit']} x ${money(row['rate_usd'])} / {row['per']}"
        print(f"  {row['component']:<20}{left:<48} = ${money(row['amount_usd'])}")
    if args.reasoning_tokens:
        print(f"  ({args.reasoning_tokens} reasoning tokens are part of the output, not added again)")
    total = f"${money(cost.amount)} USD" if cost.amount is not None else "no amount"
    print(f"  {'total':<68} = {total}")
    print(f"status: {cost.status}")
    if cost.reason:
        print(f"note: {cost.reason}")
    if cost.amount is None and "not in the price data" in (cost.reason or ""):
        print(f"what to do: {unpriced_advice(pricer)}")
    return 0 if cost.amount is not None and not pricer.errors else 1
