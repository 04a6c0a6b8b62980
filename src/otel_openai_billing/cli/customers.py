"""``otel-openai-billing customers``: AI cost per customer and feature, and the margin against revenue."""

from __future__ import annotations

import argparse
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..render.table import Column, csv_text, json_text, text_table, usd
from ..reports.customers import (
    GROUPS,
    PERIODS,
    customer_report_from_usage,
    dimensions,
    parse_decimal,
    parse_revenue,
    summary,
)
from ..reports.usage import aggregate
from . import _econ

EXAMPLE = """example:
  otel-openai-billing customers --from ./ledger --revenue revenue.csv --min-margin 30

  revenue.csv (one row per customer and calendar month, USD):
    customer,period,revenue
    acme,2026-11,99.00
"""


def _percent(text: str) -> Decimal:
    value = parse_decimal(text.rstrip("%"))
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 30 or 30%, got {text!r}")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "customers",
        help="AI cost per customer and feature; with --revenue, margins (losses on top)",
        description="Calls, tokens and AI cost per customer, feature, or customer x feature, per calendar "
        "month (UTC). With --revenue, each customer's revenue, gross margin and margin %, sorted so "
        "the unprofitable are on top and flagged under --min-margin. Calls with no customer are a row "
        "of their own. Unpriced calls are counted and flagged, never taken as $0.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _econ.add_source_option(parser)
    parser.add_argument(
        "--by", choices=tuple(GROUPS), default="customer", help="grouping (default: customer)"
    )
    parser.add_argument(
        "--period", choices=PERIODS, default="month", help="calendar months (default) or all in one"
    )
    parser.add_argument(
        "--revenue", metavar="FILE", help="revenue CSV: customer,period,revenue (docs/economics.md)"
    )
    parser.add_argument(
        "--min-margin",
        type=_percent,
        default=Decimal(0),
        metavar="PCT",
        help="flag customers whose margin %% is under this (default 0: flag losses)",
    )
    _econ.add_range_options(parser)
    _econ.add_output_options(parser)
    parser.set_defaults(run=_econ.guarded(run))


def columns(by: str, with_revenue: bool) -> list[Column]:
    """The table's columns for a grouping."""
    cols = [Column("period", "period")]
    if by in ("customer", "customer-feature"):
        cols.append(Column("customer_id", "customer"))
    if by in ("feature", "customer-feature"):
        cols.append(Column("feature", "feature"))
    cols += [
        Column("calls", "calls", "int"),
        Column("input_tokens", "input tok", "int"),
        Column("output_tokens", "output tok", "int"),
        Column("cost", "AI cost", "usd"),
        Column("cost_per_call", "per call", "usd"),
        Column("share", "share", "share"),
    ]
    if with_revenue:
        cols += [
            Column("revenue", "revenue", "usd"),
            Column("margin", "margin", "usd"),
            Column("margin_pct", "margin %", "pct"),
        ]
    cols += [Column("unpriced_calls", "unpriced", "int"), Column("flags", "flags", "list")]
    return cols


def _months(args: argparse.Namespace) -> list[str] | None:
    if args.since is None or args.until is None:
        return None
    months, moment = [], args.since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while moment < args.until:
        months.append(moment.strftime("%Y-%m"))
        moment = (moment.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def run(args: argparse.Namespace) -> int:
    revenue = parse_revenue(_econ.read_text(args.revenue, "revenue"), args.revenue) if args.revenue else None
    dims = dimensions(args.by)
    if args.source and args.source.startswith("clickhouse://"):
        from ..ledger.clickhouse import usage_rows

        # Aggregated by the engine (one row per day and customer/feature), not span by span here.
        usage = usage_rows(args.source, dims, args.since, args.until)
    else:
        usage = aggregate(_econ.records(args, args.since, args.until), dims)
    rows = customer_report_from_usage(
        usage,
        by=args.by,
        period=args.period,
        revenue=revenue,
        months=_months(args),
        min_margin=args.min_margin,
    )
    cols = columns(args.by, revenue is not None and args.by == "customer")
    if args.format == "json":
        text = json_text(rows)
    elif args.format == "csv":
        text = csv_text(cols, rows)
    else:
        for row in rows:
            if row.get("customer_id", "") is None:
                row["customer_id"] = "(no customer)"
            if row.get("feature", "") is None:
                row["feature"] = "(no feature)"
        text = text_table(cols, rows)
        total = summary(rows)
        text += f"\n{total['calls']:,} calls, AI cost {usd(total['cost'])}"
        if "revenue" in total:
            text += f", revenue {usd(total['revenue'])}, margin {usd(total['margin'])}"
            text += f"; {total['flagged']} row(s) under the {args.min_margin}% minimum margin"
        text += "\n"
    _econ.emit(text, args.out)
    return 0
