"""``otel-openai-billing report --html FILE``: one self-contained HTML file with the charts."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..render.html import ReportInput, render_report
from ..reports.customers import cost_by_day, customer_report, parse_revenue
from . import _econ
from . import forecast as forecast_cli
from .customers import _percent

EXAMPLE = """example:
  otel-openai-billing report --from ./ledger --html report.html --revenue revenue.csv \\
      --days 30 --growth 2x --swap gpt-4o=gpt-4o-mini:50%
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write one self-contained HTML report with charts (opens offline)",
        description="Write an HTML file with charts: cost by day and model, top customers and features, "
        "margin per customer (with --revenue), the forecast (same options as 'forecast'), and the "
        "reconciliation summary (with --reconcile). Everything is inline and a Content-Security-"
        "Policy forbids any connection, so it opens with no network.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _econ.add_source_option(parser)
    parser.add_argument("--html", required=True, metavar="FILE", help="where to write the report")
    parser.add_argument("--title", default="OpenAI unit economics", help="the report's title")
    parser.add_argument("--revenue", metavar="FILE", help="revenue CSV: customer,period,revenue")
    parser.add_argument(
        "--min-margin", type=_percent, default=Decimal(0), metavar="PCT", help="flag margins under PCT"
    )
    parser.add_argument(
        "--reconcile",
        metavar="FILE",
        help="the JSON output of 'otel-openai-billing reconcile --format json', to summarize",
    )
    parser.add_argument("--since", type=_econ.parse_moment, metavar="DAY", help="records from this UTC day")
    parser.add_argument(
        "--days", type=int, default=30, metavar="N", help="forecast: days of history (default 30)"
    )
    parser.add_argument(
        "--until",
        type=lambda t: _econ.parse_moment(t, end=True),
        metavar="DAY",
        help="last UTC day of the report and of the forecast's history, inclusive (default: yesterday)",
    )
    parser.add_argument("--horizon", type=int, default=30, metavar="DAYS", help="forecast: days to project")
    parser.add_argument("--growth", type=forecast_cli.growth, action="append", default=[], metavar="G")
    parser.add_argument(
        "--swap", type=forecast_cli.swap, action="append", default=[], metavar="FROM=TO[:SHARE]"
    )
    parser.add_argument("--batch", type=forecast_cli.share, default=Decimal(0), metavar="SHARE")
    parser.add_argument("--flex", type=forecast_cli.share, default=Decimal(0), metavar="SHARE")
    parser.add_argument("--cache-hit-rate", type=forecast_cli.share, metavar="RATE")
    parser.add_argument(
        "--as-of", type=_econ.parse_moment, metavar="DAY", help="forecast: rates in force on this day"
    )
    parser.add_argument("--price-file", action="append", default=[], metavar="F")
    parser.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when not a terminal"
    )
    parser.set_defaults(run=_econ.guarded(run))


def _reconcile(path: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(_econ.read_text(path, "reconciliation"))
    except json.JSONDecodeError as exc:
        raise _econ.UserError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    cells = data.get("cells", data.get("rows")) if isinstance(data, dict) else data
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise _econ.UserError(f"{path}: expected a list of cells (or an object with 'cells')")
    return cells


def run(args: argparse.Namespace) -> int:
    revenue = parse_revenue(_econ.read_text(args.revenue, "revenue"), args.revenue) if args.revenue else None
    reconcile = _reconcile(args.reconcile) if args.reconcile else None
    records = list(_econ.records(args, args.since, args.until))
    months = sorted({r["time"][:7] for r in records})
    customers = customer_report(
        records, by="customer", period="all", revenue=revenue, months=months, min_margin=args.min_margin
    )
    features = customer_report(records, by="feature", period="all")
    fc = forecast_cli.compute(args, records)
    summary = fc.summary()
    summary["history"] = [(d.isoformat(), c) for d, c, _ in fc.series()]
    days = sorted({r["time"][:10] for r in records})
    span = f"{days[0]} .. {days[-1]} (UTC)" if days else "no calls"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = render_report(
        ReportInput(
            title=args.title,
            subtitle=f"{len(records):,} billing records, {span}; generated {generated}",
            daily=cost_by_day(records),
            customers=customers,
            features=features,
            forecast=summary if fc.days else None,
            reconcile=reconcile,
        )
    )
    _econ.emit(page, args.html)
    print(f"wrote {args.html}")
    return 0
