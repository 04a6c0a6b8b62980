"""``otel-openai-billing reconcile``: our billing records against OpenAI's Usage and Costs APIs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..reports.reconcile import EXTRA_DIMENSIONS, Cell, reconcile
from ..reports.usage import UsageRow, aggregate
from ._common import money
from ._render import (
    Progress,
    add_output_options,
    add_range_options,
    emit,
    parse_moment,
    table,
    to_csv,
    to_json,
)
from .usage import add_source_option

TABLE_COLUMNS = (
    "status",
    "local_requests",
    "openai_requests",
    "local_input",
    "openai_input",
    "local_output",
    "openai_output",
    "local_cost",
    "openai_cost",
    "unpriced",
    "failed",
    "cause",
)


def _extra(text: str) -> list[str]:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    if not dims or any(d not in EXTRA_DIMENSIONS for d in dims):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(EXTRA_DIMENSIONS)}")
    return dims


def _fraction(text: str) -> Decimal:
    try:
        value = Decimal(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"expected a fraction (0.01) or a percentage (1%), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "reconcile",
        help="compare the ledger with OpenAI's Usage and Costs APIs (or a dashboard export)",
        description="Compare our billing records with OpenAI's numbers per UTC day x model (and project, "
        "batch, service tier with --by), classify every difference with its likely cause, and exit 1 "
        "when any cell is outside the tolerance (days whose OpenAI data is not final yet excepted). "
        "OpenAI's side comes from the organization Usage and Costs APIs with an admin key "
        "($OPENAI_ADMIN_KEY), or from CSV files exported from the usage dashboard (--openai-csv).",
    )
    add_source_option(parser)
    add_range_options(parser)
    parser.add_argument(
        "--by", type=_extra, default=[], metavar="DIMS", help="also by any of: project, batch, tier"
    )
    parser.add_argument(
        "--openai-csv",
        action="append",
        metavar="FILE",
        help="OpenAI's side from dashboard exports (activity and/or cost CSV) instead of the API; repeat",
    )
    parser.add_argument(
        "--openai-base-url",
        metavar="URL",
        help="the API's base URL (default: $OPENAI_ADMIN_BASE_URL or https://api.openai.com/v1)",
    )
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        default=Decimal("0.01"),
        metavar="T",
        help="relative difference allowed per number: 0.01 or 1%% (default 1%%)",
    )
    parser.add_argument(
        "--settle-hours",
        type=float,
        default=24.0,
        metavar="H",
        help="a day's OpenAI data counts as final this many hours after the day ends (default 24)",
    )
    parser.add_argument(
        "--as-of",
        type=parse_moment,
        metavar="TIME",
        help="judge which days are final as of this time (default: now)",
    )
    parser.add_argument("--problems", action="store_true", help="show only cells outside the tolerance")
    parser.add_argument("--no-sdk", action="store_true", help="call the API over plain HTTP, not the SDK")
    add_output_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    until = args.until or now
    since = args.since or datetime(until.year, until.month, until.day, tzinfo=UTC) - timedelta(days=30)
    if args.source is None:
        print("error: no source: pass --from or set OTEL_OPENAI_BILLING_LEDGER", file=sys.stderr)
        return 2
    progress = Progress("reading billing records", force=args.progress)
    try:
        local = _local_rows(args, since, until, progress)
        progress.done()
        openai_usage, openai_costs = _openai_side(args, since, until)
    except Exception as exc:  # shown as one line; the exit status says it did not run
        from ..openai_usage.api import UsageAPIError
        from ..openai_usage.dashboard_csv import CSVFormatError

        if not isinstance(exc, UsageAPIError | CSVFormatError | FileNotFoundError | ValueError):
            raise
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    cells = reconcile(
        local,
        openai_usage,
        openai_costs,
        args.by,
        tolerance=args.tolerance,
        as_of=args.as_of or now,
        settle_hours=args.settle_hours,
    )
    shown = [c for c in cells if not c.ok] if args.problems else cells
    dims = ["day", "model", *args.by]
    rows = [c.as_dict(dims) for c in shown]
    if args.format == "json":
        text = to_json({"since": since, "until": until, "summary": summary(cells), "cells": rows})
    elif args.format == "csv":
        text = to_csv(rows, list(rows[0]) if rows else [*dims, *TABLE_COLUMNS])
    else:
        text = table(rows, [*dims, *TABLE_COLUMNS]) + "\n" + _summary_text(summary(cells))
    emit(text, args.out)
    return 0 if all(c.ok for c in cells) else 1


def _local_rows(
    args: argparse.Namespace, since: datetime, until: datetime, progress: Progress
) -> list[UsageRow]:
    by = ["day", "model", *args.by]
    if args.source.startswith("clickhouse://"):
        from ..ledger.clickhouse import usage_rows

        progress.step(0, "querying ClickHouse")
        return usage_rows(args.source, by, since, until, provider="openai")
    from ..ledger.readers import read_records

    def openai_records() -> Iterator[dict[str, Any]]:
        for record in read_records(args.source, since, until, on_problem=_problem):
            progress.step()
            if record.get("provider", "openai") == "openai":
                yield record

    return aggregate(openai_records(), by)


def _openai_side(args: argparse.Namespace, since: datetime, until: datetime) -> tuple[list, list | None]:
    if args.openai_csv:
        from ..openai_usage.dashboard_csv import read

        usage, costs = read(args.openai_csv)
        # Keep the range; an export covers what the dashboard was set to.
        lo, hi = since.strftime("%Y-%m-%d"), (until - timedelta(microseconds=1)).strftime("%Y-%m-%d")
        usage = [r for r in usage if lo <= r.day <= hi]
        costs = [r for r in costs if lo <= r.day <= hi]
        return usage, (costs or None)
    from ..openai_usage.api import UsageAPI

    pages = Progress("fetching OpenAI usage pages", force=args.progress)
    api = UsageAPI(
        base_url=args.openai_base_url, use_sdk=False if args.no_sdk else None, on_page=lambda _e: pages.step()
    )
    group_by = [
        "model",
        *("project_id" if d == "project" else "service_tier" if d == "tier" else d for d in args.by),
    ]
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)  # buckets are whole UTC days
    usage = api.usage(start, until, group_by)
    costs = api.costs(start, until, by_project="project" in args.by)
    pages.done()
    return usage, costs


def _problem(message: str) -> None:
    print(f"\nwarning: {message}", file=sys.stderr)


def summary(cells: list[Cell]) -> dict[str, Any]:
    """Totals over all cells and the count of cells per status."""
    statuses: dict[str, int] = {}
    for c in cells:
        statuses[c.status] = statuses.get(c.status, 0) + 1
    only_openai = [c for c in cells if c.status == "only_openai"]
    return {
        "cells": len(cells),
        "outside_tolerance": sum(1 for c in cells if not c.ok),
        "statuses": statuses,
        "local_requests": sum(c.local.requests for c in cells),
        "openai_requests": sum(c.openai.requests for c in cells),
        "local_cost": sum((c.local.cost or Decimal(0) for c in cells), Decimal(0)),
        "openai_cost": sum((c.openai.cost or Decimal(0) for c in cells if c.cost_compared), Decimal(0)),
        "unpriced_calls": sum(c.unpriced for c in cells),
        "estimated_calls": sum(c.estimated for c in cells),
        "failed_calls": sum(c.failed for c in cells),
        "only_openai_requests": sum(c.openai.requests for c in only_openai),
        "only_openai_cost": sum((c.openai.cost or Decimal(0) for c in only_openai), Decimal(0)),
        "provisional_days": sorted({c.key[0] for c in cells if c.provisional}),
    }


def _summary_text(s: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()))
    lines = [
        f"{s['cells']} cells, {s['outside_tolerance']} outside tolerance ({statuses})",
        f"requests: ours {s['local_requests']:,}, OpenAI {s['openai_requests']:,}",
        f"cost: ours ${money(s['local_cost'])} (+{s['unpriced_calls']} unpriced calls, "
        f"{s['estimated_calls']} estimated), OpenAI ${money(s['openai_cost'])}",
    ]
    if s["only_openai_requests"] or s["only_openai_cost"]:
        lines.append(
            f"only at OpenAI: {s['only_openai_requests']:,} requests, ${money(s['only_openai_cost'])} "
            "(uninstrumented traffic or lost telemetry)"
        )
    if s["failed_calls"]:
        lines.append(f"failed calls (not billed, not counted): {s['failed_calls']:,}")
    if s["provisional_days"]:
        lines.append(f"not final yet (OpenAI's data lags): {', '.join(s['provisional_days'])}")
    return "\n".join(lines) + "\n"
