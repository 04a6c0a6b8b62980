"""``otel-openai-billing forecast``: the cost of planned growth and what-ifs, from observed traffic."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..pricing import Pricer
from ..render.table import Column, csv_text, json_text, text_table, usd
from ..reports.customers import parse_decimal
from ..reports.forecast import Forecast, Growth, Scenario, Swap, forecast
from . import _econ

EXAMPLE = """examples:
  otel-openai-billing forecast --from ./ledger --days 30 --growth 3x
  otel-openai-billing forecast --from ./ledger --swap gpt-4o=gpt-4o-mini:50% --batch 30% --cache-hit-rate 60%
  otel-openai-billing forecast --from ./ledger --growth customer:acme=2x --growth feature:search=150%
"""


def share(text: str) -> Decimal:
    """``30%`` or ``0.3`` -> Decimal("0.3"), between 0 and 1."""
    value = parse_decimal(text.rstrip("%"))
    if value is not None and text.endswith("%"):
        value /= 100
    if value is None or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share such as 30% or 0.3, got {text!r}")
    return value


def factor(text: str) -> Decimal:
    """``3x``, ``3`` or ``300%`` -> Decimal(3)."""
    value = parse_decimal(text.rstrip("x%"))
    if value is not None and text.endswith("%"):
        value /= 100
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"expected a factor such as 3x or 150%, got {text!r}")
    return value


def growth(text: str) -> Growth:
    """``3x`` overall, ``customer:ID=2x`` or ``feature:NAME=1.5x``."""
    match = re.fullmatch(r"(?:(customer|feature):(.+)=)?([^=]+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected 3x, customer:ID=3x or feature:NAME=3x, got {text!r}")
    kind, who, amount = match.groups()
    return Growth(
        factor(amount),
        customer=who if kind == "customer" else None,
        feature=who if kind == "feature" else None,
    )


def swap(text: str) -> Swap:
    """``gpt-4o=gpt-4o-mini`` or ``gpt-4o=gpt-4o-mini:50%``."""
    match = re.fullmatch(r"([^=:]+)=([^=:]+)(?::(.+))?", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected FROM=TO or FROM=TO:SHARE (gpt-4o=gpt-4o-mini:50%), got {text!r}"
        )
    source, target, part = match.groups()
    return Swap(source, target, share(part) if part else Decimal(1))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "forecast",
        help="the cost of planned growth, a model swap, Batch/flex, a higher cache hit rate",
        description="Take the last --days full UTC days of billing records, price every call again at the "
        "rates in force (the pricing engine, not a flat per-token guess), then as the scenario changes "
        "it, and project both over --horizon days. Shows its basis: days observed, calls, the daily "
        "cost, its trend and spread. A run-rate, not a promise.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _econ.add_source_option(parser)
    parser.add_argument(
        "--days", type=int, default=30, metavar="N", help="days of history to use (default 30)"
    )
    parser.add_argument(
        "--until",
        type=lambda t: _econ.parse_moment(t, end=True),
        metavar="DAY",
        help="last UTC day of the history, inclusive (default: yesterday, the last full day)",
    )
    parser.add_argument(
        "--horizon", type=int, default=30, metavar="DAYS", help="days to project (default 30)"
    )
    parser.add_argument(
        "--growth",
        type=growth,
        action="append",
        default=[],
        metavar="G",
        help="traffic growth: 3x overall, customer:ID=2x, feature:NAME=150%%; matching ones multiply",
    )
    parser.add_argument(
        "--swap",
        type=swap,
        action="append",
        default=[],
        metavar="FROM=TO[:SHARE]",
        help="send SHARE (default all) of FROM's calls to TO, same tokens, at TO's rates",
    )
    parser.add_argument(
        "--batch",
        type=share,
        default=Decimal(0),
        metavar="SHARE",
        help="move SHARE of eligible calls to the Batch API",
    )
    parser.add_argument(
        "--flex", type=share, default=Decimal(0), metavar="SHARE", help="move SHARE of calls to the flex tier"
    )
    parser.add_argument(
        "--cache-hit-rate",
        type=share,
        metavar="RATE",
        help="at least RATE of each prompt's cacheable input read from the cache (prompts of 1,024+ tokens)",
    )
    parser.add_argument(
        "--as-of",
        type=_econ.parse_moment,
        metavar="DAY",
        help="price at the rates in force on this UTC day (default: now)",
    )
    parser.add_argument(
        "--price-file", action="append", default=[], metavar="F", help="override price file (repeatable)"
    )
    _econ.add_output_options(parser)
    parser.set_defaults(run=_econ.guarded(run))


def compute(args: argparse.Namespace, records: Any = None) -> Forecast:
    """The forecast the options ask for (``records`` defaults to reading --from)."""
    if args.batch + args.flex > 1:
        raise _econ.UserError("--batch and --flex together move more than all of the traffic")
    if args.days < 1 or args.horizon < 1:
        raise _econ.UserError("--days and --horizon must be at least 1")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = args.until or today
    start = end - timedelta(days=args.days)
    pricer = Pricer(args.price_file)
    if pricer.errors:
        raise _econ.UserError("; ".join(str(e) for e in pricer.errors))
    scenario = Scenario(
        growth=tuple(args.growth),
        swaps=tuple(args.swap),
        batch_share=args.batch,
        flex_share=args.flex,
        cache_hit_rate=args.cache_hit_rate,
    )
    if records is None:
        records = _econ.records(args, start, end)
    try:
        return forecast(
            records,
            pricer,
            start=start.date(),
            end=end.date(),
            scenario=scenario,
            horizon_days=args.horizon,
            as_of=args.as_of,
        )
    except ValueError as exc:
        raise _econ.UserError(str(exc)) from None


MODEL_COLUMNS = [
    Column("model", "model"),
    Column("baseline_calls_per_day", "calls/day now", "num"),
    Column("scenario_calls_per_day", "calls/day after", "num"),
    Column("baseline_cost", "cost now", "usd"),
    Column("scenario_cost", "cost after", "usd"),
    Column("change", "change", "usd"),
]


def describe(fc: Forecast) -> str:
    """The basis and the projection in a few lines a person can read."""
    s = fc.summary()
    end = fc.end - timedelta(days=1)
    if not fc.days:
        return f"basis: no calls from {fc.start} to {end} (UTC): nothing to forecast from\n"
    trend, days = s["trend_per_day"], s["days_observed"]
    pct = f" ({s['trend_pct_per_day']:+.1f}%/day)" if s["trend_pct_per_day"] is not None else ""
    change = f"{s['change_pct']:+.1f}%" if s["change_pct"] is not None else "n/a"
    lines = [
        f"basis: {fc.end - timedelta(days=fc.days)} .. {end} (UTC), {days} day{'' if days == 1 else 's'}, "
        f"{s['calls']:,} calls",
        f"  cost then {usd(s['recorded_cost'])}; at the rates in force {usd(s['baseline_cost'])}",
        f"  per day: mean {usd(s['mean_daily_cost'])}, min {usd(s['daily_min'])}, max {usd(s['daily_max'])}, "
        f"sd {usd(s['daily_stdev'])}; trend {'+' if trend >= 0 else '-'}{usd(abs(trend))}/day{pct}",
        "scenario: " + "; ".join(s["scenario"]),
        f"over {s['horizon_days']} days: now {usd(s['baseline_projection'])} -> after "
        f"{usd(s['scenario_projection'])} ({change}); range {usd(s['scenario_low'])} .. "
        f"{usd(s['scenario_high'])} (one sd of daily cost)",
    ]
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    fc = compute(args)
    rows = fc.model_rows()
    if args.format == "json":
        text = json_text(
            {
                "summary": fc.summary(),
                "models": rows,
                "daily": [{"day": d.isoformat(), "cost": c, "calls": n} for d, c, n in fc.series()],
            }
        )
    elif args.format == "csv":
        text = csv_text(MODEL_COLUMNS, rows)
    else:
        text = describe(fc) + "\n" + text_table(MODEL_COLUMNS, rows)
    _econ.emit(text, args.out)
    return 0
