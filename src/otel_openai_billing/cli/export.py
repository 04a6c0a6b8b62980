"""``otel-openai-billing export stripe``: usage-based billing through Stripe Billing Meter Events."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..export import stripe as stripe_export
from ..render.table import Column, csv_text, json_text, text_table
from ..reports.customers import parse_decimal
from . import _econ

EXAMPLE = """examples:
  export STRIPE_API_KEY=sk_live_...
  otel-openai-billing export stripe --from ./ledger --event-name ai_tokens --mapping customers.csv \\
      --checkpoint stripe.checkpoint --dry-run
  otel-openai-billing export stripe --from ./ledger --event-name ai_cost --value cost --markup 1.4 \\
      --cost-unit cents --customer-label stripe_customer_id --checkpoint stripe.checkpoint

  customers.csv:
    customer,stripe_customer_id
    acme,cus_NciAYcXfLnqBoz
"""

EVENT_COLUMNS = [
    Column("customer_id", "customer"),
    Column("stripe_customer_id", "stripe customer"),
    Column("time", "timestamp (UTC)"),
    Column("value", "value"),
    Column("records", "records", "int"),
    Column("identifier", "identifier"),
    Column("outcome", "outcome"),
]


def _positive(text: str) -> Decimal:
    value = parse_decimal(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _whole(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _at_least_one(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("export", help="send usage to a billing system (Stripe)")
    destinations = parser.add_subparsers(dest="destination", metavar="DESTINATION", required=True)
    sp = destinations.add_parser(
        "stripe",
        help="Stripe Billing Meter Events, exactly once per billed unit",
        description="Send each customer's usage to a Stripe meter: one event per customer per UTC hour "
        "(--per call: per billed unit), valued in tokens, calls or cost (x --markup). Identifiers derive "
        "from the billing records and a checkpoint journals every event, so a re-run or a crash "
        "mid-way sends nothing twice. Events Stripe would refuse (older than 35 days, in the "
        "future, over 15 significant digits) are never sent and are reported. The API key comes "
        "from $STRIPE_API_KEY. Exit status 1 when an event was rejected or not delivered.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _econ.add_source_option(sp)
    sp.add_argument("--event-name", required=True, metavar="NAME", help="the meter's event_name")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--mapping", metavar="FILE", help="CSV: customer,stripe_customer_id")
    who.add_argument(
        "--customer-label", metavar="LABEL", help="read the Stripe customer id from this record label"
    )
    sp.add_argument(
        "--value",
        choices=stripe_export.VALUES,
        default="tokens",
        help="what the event counts (default tokens)",
    )
    sp.add_argument(
        "--markup",
        type=_positive,
        default=Decimal(1),
        metavar="M",
        help="--value cost: charge M per $1 of AI cost",
    )
    sp.add_argument(
        "--cost-unit",
        choices=tuple(stripe_export.COST_UNITS),
        default="usd",
        help="--value cost: unit of the value",
    )
    sp.add_argument(
        "--decimals",
        type=_whole,
        default=6,
        metavar="N",
        help="--value cost: decimal places kept (default 6)",
    )
    sp.add_argument(
        "--per",
        choices=stripe_export.GRANULARITIES,
        default="hour",
        help="one event per customer-hour (default) or per call",
    )
    sp.add_argument(
        "--checkpoint",
        required=True,
        metavar="FILE",
        help="journal of sent events; the next run resumes from it",
    )
    sp.add_argument(
        "--dry-run", action="store_true", help="print the events that would be sent; send nothing"
    )
    sp.add_argument(
        "--resend-in-doubt",
        action="store_true",
        help="also resend events journaled more than 23 h ago whose answer never came (check in Stripe "
        "first: past 24 h Stripe may no longer refuse a duplicate)",
    )
    sp.add_argument(
        "--rate",
        type=lambda t: float(_positive(t)),
        default=25.0,
        metavar="N",
        help="account-wide calls per second (default 25, the sandbox limit)",
    )
    sp.add_argument(
        "--concurrency",
        type=_at_least_one,
        default=4,
        metavar="N",
        help="customers sent to at once (default 4)",
    )
    sp.add_argument(
        "--stripe-api-base",
        default=os.environ.get("STRIPE_API_BASE"),
        metavar="URL",
        help="Stripe API base URL (default https://api.stripe.com; $STRIPE_API_BASE)",
    )
    _econ.add_range_options(sp)
    _econ.add_output_options(sp)
    sp.set_defaults(run=_econ.guarded(run))


def _row(event: stripe_export.Event, outcome: str) -> dict[str, Any]:
    return {
        "customer_id": event.customer_id,
        "stripe_customer_id": event.stripe_customer_id,
        "time": datetime.fromtimestamp(event.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timestamp": event.timestamp,
        "value": event.value,
        "records": len(event.record_ids),
        "identifier": event.identifier,
        "outcome": outcome,
    }


def run(args: argparse.Namespace) -> int:
    options = stripe_export.Options(
        event_name=args.event_name,
        value=args.value,
        per=args.per,
        markup=args.markup,
        cost_unit=args.cost_unit,
        decimals=args.decimals,
        customer_label=args.customer_label,
    )
    mapping = (
        stripe_export.parse_mapping(_econ.read_text(args.mapping, "mapping"), args.mapping)
        if args.mapping
        else {}
    )
    checkpoint = stripe_export.Checkpoint(args.checkpoint)
    others = checkpoint.event_names - {options.event_name}
    if others:
        # Its records count as exported: sharing it between meters would skip them on this one.
        raise _econ.UserError(
            f"{args.checkpoint} is the checkpoint of meter {', '.join(sorted(others))}: use one per meter"
        )
    now = datetime.now(UTC)
    resend, expired, doubtful = [], [], []
    for ident, event in checkpoint.pending.items():
        moment = datetime.fromtimestamp(event.timestamp, UTC)
        since = datetime.fromtimestamp(checkpoint.pending_since[ident], UTC)
        if moment < now - stripe_export.MAX_AGE + stripe_export.SAFETY:
            expired.append(event)
        elif since < now - stripe_export.IN_DOUBT_AFTER and not args.resend_in_doubt:
            doubtful.append((event, since))
        else:
            resend.append(event)
    planned = stripe_export.plan(
        _econ.records(args, args.since, args.until), mapping, options, done=checkpoint.done_records, now=now
    )
    events = resend + planned.events
    rows: list[dict[str, Any]] = []
    status, retries = 0, 0
    in_doubt = [
        _row(
            e,
            f"in doubt since {t:%Y-%m-%d %H:%M}Z: not resent (Stripe may have it: check, then "
            "--resend-in-doubt)",
        )
        for e, t in doubtful
    ]
    if args.dry_run:
        rows = [_row(e, "would resend" if e in resend else "would send") for e in events]
    else:
        if not os.environ.get("STRIPE_API_KEY"):
            raise _econ.UserError("set STRIPE_API_KEY to the Stripe secret key (or use --dry-run)")
        for event in expired:
            checkpoint.settled(event, "expired before delivery: older than Stripe's 35 days")
        client = stripe_export.make_client(os.environ["STRIPE_API_KEY"], args.stripe_api_base)
        progress = _econ.Progress("events sent", args.progress)
        try:
            outcome = stripe_export.send(
                events,
                client,
                checkpoint,
                rate=args.rate,
                concurrency=args.concurrency,
                on_event=lambda _e, _k: progress.step(),
            )
        except stripe_export.AbortExport as exc:
            raise _econ.UserError(str(exc)) from None
        progress.done()
        rows = [_row(e, "sent") for e in outcome.sent]
        rows += [_row(e, "already delivered") for e in outcome.duplicates]
        rows += [_row(e, f"rejected: {why}") for e, why in outcome.rejected]
        rows += [_row(e, f"not delivered (resent next run): {why}") for e, why in outcome.undelivered]
        status = 1 if outcome.rejected or outcome.undelivered else 0
        retries = outcome.retries
    rows += in_doubt
    status = 1 if in_doubt else status
    # Workers finish in any order; a person (and a diff) reads them by customer and time.
    rows.sort(key=lambda r: (r["customer_id"], r["timestamp"], r["identifier"]))
    journal = {
        "delivered": len(checkpoint.sent),
        "rejected": len(checkpoint.rejected),
        "pending": len(checkpoint.pending),
    }
    if args.format == "json":
        text = json_text(
            {
                "events": rows,
                "skipped": dict(planned.skipped),
                "unmapped": sorted(planned.unmapped),
                "retries": retries,
                "checkpoint": journal,
            }
        )
    elif args.format == "csv":
        text = csv_text([*EVENT_COLUMNS[:3], Column("timestamp", "timestamp"), *EVENT_COLUMNS[3:]], rows)
    else:
        text = text_table(EVENT_COLUMNS, rows)
        for reason, count in sorted(planned.skipped.items()):
            text += f"not sent: {count:,} record(s): {reason}\n"
        if planned.unmapped:
            text += f"customers with no Stripe customer: {', '.join(sorted(planned.unmapped))}\n"
        if retries:
            text += f"retried {retries} time(s) after 429, 5xx or connection errors\n"
        if not args.dry_run:
            text += (
                f"checkpoint {args.checkpoint}: {journal['delivered']} event(s) delivered, "
                f"{journal['rejected']} rejected, {journal['pending']} pending\n"
            )
    _econ.emit(text, args.out)
    if planned.unmapped or any(r.startswith(("older", "in the future", "value")) for r in planned.skipped):
        print("warning: some billed units were not exported (see 'not sent' above)", file=sys.stderr)
    return status
