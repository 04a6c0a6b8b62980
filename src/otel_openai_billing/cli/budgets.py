"""``otel-openai-billing budgets status``: each budget's spend, reservations and room, from its store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..budgets.policy import KEY_PREFIX, BudgetConfigError
from ..budgets.stores import StoreError
from ._common import money, print_json


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "budgets",
        help="show budgets: spend, reservations and remaining amount per budget",
        description="Budgets enforced by the instrumentation (see docs/budgets.md).",
    )
    sub = parser.add_subparsers(dest="budgets_command", metavar="SUBCOMMAND", required=True)
    status = sub.add_parser(
        "status",
        help="spend, reservations and remaining amount of each budget in its current window",
        description="Read each budget instance of the current windows from the shared store (Redis) the "
        "app uses. Budgets and store come from the options or, like the app, from "
        "OTEL_OPENAI_BILLING_BUDGETS, OTEL_OPENAI_BILLING_BUDGETS_FILE and OTEL_OPENAI_BILLING_BUDGET_STORE.",
    )
    status.add_argument(
        "--budgets-file", help="JSON budgets file (default: $OTEL_OPENAI_BILLING_BUDGETS_FILE)"
    )
    status.add_argument("--store", help="redis:// URL (default: $OTEL_OPENAI_BILLING_BUDGET_STORE)")
    status.add_argument("--timeout-ms", type=int, default=2000, help="store timeout (default 2000)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    from ..budgets.guard import status
    from ..budgets.setup import fixed_budgets
    from ..budgets.source import load_file
    from ..budgets.stores import RedisStore
    from ..config import resolve

    try:
        config = resolve({"budgets_file": args.budgets_file, "budget_store": args.store})
        budgets = fixed_budgets(config.budgets)
        if config.budgets_file:
            budgets += load_file(config.budgets_file)
    except (BudgetConfigError, ValueError) as exc:
        print(f"otel-openai-billing budgets status: {exc}", file=sys.stderr)
        return 2
    if not budgets:
        print("no budgets configured (--budgets-file or OTEL_OPENAI_BILLING_BUDGETS[_FILE])", file=sys.stderr)
        return 2
    if config.budget_store == "memory":
        print(
            "the in-memory budget store lives inside each app process; give the Redis URL the app uses "
            "(--store or OTEL_OPENAI_BILLING_BUDGET_STORE)",
            file=sys.stderr,
        )
        return 2
    try:
        rows = status(RedisStore(config.budget_store, args.timeout_ms / 1000), budgets, KEY_PREFIX)
    except StoreError as exc:
        print(f"otel-openai-billing budgets status: the store did not answer: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(
            [
                {
                    "budget": r.budget.name,
                    "scope": r.instance,
                    "window": r.window,
                    "window_kind": r.budget.window.spec,
                    "action": r.budget.action,
                    "limit_usd": r.budget.limit_usd,
                    "spent_usd": r.spent,
                    "reserved_usd": r.reserved,
                    "reservations": r.reservations,
                    "remaining_usd": r.remaining,
                }
                for r in rows
            ]
        )
        return 0
    header = ("budget", "scope", "window", "action", "limit", "spent", "reserved", "remaining")
    table = [header] + [
        (
            r.budget.name,
            r.instance or "(every call)",
            f"{r.budget.window.spec} {r.window}"
            if r.budget.window.kind != "rolling"
            else r.budget.window.spec,
            r.budget.action,
            "$" + money(r.budget.limit_usd),
            "$" + money(r.spent),
            f"${money(r.reserved)} ({r.reservations})",
            "$" + money(r.remaining),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no spend recorded in the current windows)")
    return 0
