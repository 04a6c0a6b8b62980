"""The ``otel-openai-billing`` console script: one module per command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import budgets, cost, customers, explain, export, forecast, prices, reconcile, report, usage


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the console script."""
    parser = argparse.ArgumentParser(
        prog="otel-openai-billing",
        description="Inspect the prices otel-openai-billing puts on OpenAI calls, turn its billing "
        "records into usage reports, a reconciliation with OpenAI's own numbers, unit economics "
        "(margins, forecasts, an HTML report) and usage-based billing through Stripe, and see its budgets.",
        epilog="Run 'otel-openai-billing COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    prices.add_parser(commands)
    cost.add_parser(commands)
    explain.add_parser(commands)
    usage.add_parser(commands)
    reconcile.add_parser(commands)
    budgets.add_parser(commands)
    customers.add_parser(commands)
    forecast.add_parser(commands)
    report.add_parser(commands)
    export.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the exit status (0 ok, 1 unpriced or a price file failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # 'prices MODEL' (before 'prices show MODEL' existed) keeps working.
    if len(argv) > 1 and argv[0] == "prices" and argv[1] not in prices.SUBCOMMANDS and argv[1][:1] != "-":
        argv.insert(1, "show")
    # The commands print every problem themselves, once; the library's log lines would repeat them.
    logging.getLogger("otel_openai_billing").addHandler(logging.NullHandler())
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as exc:  # a bad OTEL_OPENAI_BILLING_* variable
        print(f"error: {exc}", file=sys.stderr)
        return 2
