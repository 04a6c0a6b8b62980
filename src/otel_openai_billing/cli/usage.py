"""``otel-openai-billing usage``: usage and cost by day, model, project, customer, feature, tier, batch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from ..reports.usage import COLUMNS, DIMENSIONS, UsageRow, aggregate, total
from ._render import (
    Progress,
    add_output_options,
    add_range_options,
    default_source,
    emit,
    table,
    to_csv,
    to_json,
)


def _dimensions(text: str) -> list[str]:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or not dims:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(DIMENSIONS)}")
    return dims


def add_source_option(parser: argparse.ArgumentParser) -> None:
    """--from: where the billing records are."""
    parser.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        default=default_source(),
        help="a ledger directory or file, a Collector file exporter's OTLP JSON, or clickhouse://user:"
        "password@host:8123/database (default: $OTEL_OPENAI_BILLING_LEDGER)",
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "usage",
        help="usage and cost from the ledger, by day, model, project, customer, ...",
        description="Aggregate billing records by the dimensions you choose. requests counts billed "
        "(2xx) calls; cost sums priced calls and never counts an unpriced call as $0: unpriced and "
        "estimated calls are counted in their own columns; failed calls (not billed by OpenAI) and "
        "retries too.",
    )
    add_source_option(parser)
    parser.add_argument(
        "--by",
        type=_dimensions,
        default=["day", "model"],
        metavar="DIMS",
        help=f"comma-separated, any of: {', '.join(DIMENSIONS)} (default: day,model)",
    )
    add_range_options(parser)
    add_output_options(parser)
    parser.set_defaults(run=run)


def usage_rows(args: argparse.Namespace, progress: Progress) -> list[UsageRow]:
    """The aggregated rows of the command's source, range and dimensions."""
    if args.source is None:
        raise SystemExit("error: no source: pass --from or set OTEL_OPENAI_BILLING_LEDGER")
    if args.source.startswith("clickhouse://"):
        from ..ledger.clickhouse import usage_rows as from_clickhouse

        progress.step(0, "querying ClickHouse")
        return from_clickhouse(args.source, args.by, args.since, args.until)
    from ..ledger.readers import read_records

    def counted() -> Iterator[dict[str, Any]]:
        for record in read_records(args.source, args.since, args.until, on_problem=_problem):
            progress.step()
            yield record

    return aggregate(counted(), args.by)


def _problem(message: str) -> None:
    print(f"\nwarning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    progress = Progress("reading billing records", force=args.progress)
    try:
        rows = usage_rows(args, progress)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress.done()
    dicts = [row.as_dict(args.by) for row in rows]
    columns = [*args.by, *COLUMNS]
    if args.format == "json":
        text = to_json({"by": args.by, "rows": dicts, "total": total(rows).as_dict([])})
    elif args.format == "csv":
        text = to_csv(dicts, columns)
    else:
        sums = total(rows).as_dict([])
        sums[args.by[0]] = "total"
        text = table([*dicts, sums], columns)
    emit(text, args.out)
    return 0
