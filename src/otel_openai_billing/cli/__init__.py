"""The ``otel-openai-billing`` console script: one module per command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import cost, customers, export, forecast, prices, reconcile, report, usage


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the console script."""
    parser = argparse.ArgumentParser(
        prog="otel-openai-billing",
        description="Inspect the prices otel-openai-billing puts on OpenAI calls, and turn its billing "
        "records into usage reports, a reconciliation with OpenAI's own numbers, unit economics "
        "(margins, forecasts, an HTML report) and usage-based billing through Stripe.",
        epilog="Run 'otel-openai-billing COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    prices.add_parser(commands)
    cost.add_parser(commands)
    usage.add_parser(commands)
    reconcile.add_parser(commands)
    customers.add_parser(commands)
    forecast.add_parser(commands)
    report.add_parser(commands)
    export.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script; returns the exit status (0 ok, 1 unpriced or a price file failed)."""
    args = build_parser().parse_args(argv)
    return args.run(args)
