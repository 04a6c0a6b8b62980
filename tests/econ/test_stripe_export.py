"""Stripe Billing Meter Events: the rules, exactly-once delivery, crash and resume.

Driven through the official `stripe` package against tests/fakes/stripe_server.py, a local server
speaking POST /v1/billing/meter_events as Stripe's API reference documents it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from otel_openai_billing.export import stripe as sx
from otel_openai_billing.reports.customers import InputFileError
from tests.fakes.stripe_server import FakeStripe

from .conftest import EconLedger
from .records import record

NOW = datetime.now(UTC).replace(microsecond=0)
MAPPING = {"acme": "cus_Acme1", "beta": "cus_Beta1", "gamma": "cus_Gamma1"}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as srv:
        yield srv


def client(srv: FakeStripe) -> Any:
    return sx.make_client("sk_test_123", srv.api_base)


def hourly(n_customers: int = 3, per_customer: int = 4) -> list[dict]:
    """Calls 30 minutes apart from 3 hours ago, for each customer, 100 + 50 tokens each."""
    out = []
    names = list(MAPPING)[:n_customers]
    for c in names:
        for i in range(per_customer):
            when = NOW - timedelta(hours=3) + timedelta(minutes=30 * i)
            out.append(
                record(customer_id=c, time=iso(when), input_tokens=100, output_tokens=50, cost="0.00075")
            )
    return out


def test_plan_applies_stripes_rules() -> None:
    recs = [
        record(customer_id="acme", time=iso(NOW - timedelta(days=36)), input_tokens=10, output_tokens=1),
        record(customer_id="acme", time=iso(NOW + timedelta(hours=1)), input_tokens=10, output_tokens=1),
        record(customer_id=None, time=iso(NOW), input_tokens=10, output_tokens=1),
        record(customer_id="zed", time=iso(NOW), input_tokens=10, output_tokens=1),
        record(customer_id="acme", time=iso(NOW), cost=None, cost_status=None, http_status=500),
        record(customer_id="acme", time=iso(NOW), input_tokens=7, output_tokens=3),
    ]
    plan = sx.plan(recs, MAPPING, sx.Options("tokens"), now=NOW)
    assert dict(plan.skipped) == {
        "older than Stripe's 35 days": 1,
        "in the future": 1,
        "no customer": 1,
        "no Stripe customer mapped": 1,
        "not billed (failed call)": 1,
    }
    assert plan.unmapped == {"zed"}
    (event,) = plan.events
    assert (event.value, event.stripe_customer_id, event.record_ids) == (
        "10",
        "cus_Acme1",
        (recs[-1]["record_id"],),
    )
    # Unpriced calls have no cost to bill; the cost value is cost x markup, in the unit asked.
    unpriced = record(customer_id="acme", time=iso(NOW), cost=None, cost_status="unpriced")
    priced = record(customer_id="acme", time=iso(NOW), cost="0.00123456789")
    opts = sx.Options("cost", value="cost", markup=Decimal("1.5"), cost_unit="cents", decimals=4)
    plan = sx.plan([unpriced, priced], MAPPING, opts, now=NOW)
    assert plan.skipped == {"unpriced (no cost to bill)": 1}
    # 0.00123456789 x 1.5 x 100 = 0.185185183... cents -> 0.1852 (4 places, half up)
    assert [e.value for e in plan.events] == ["0.1852"]
    # More than 15 significant digits is never sent.
    opts = sx.Options("cost", value="cost", decimals=20)
    big = record(customer_id="acme", time=iso(NOW), cost="123456.1234567890123")
    assert sx.plan([big], MAPPING, opts, now=NOW).skipped == {"value has more than 15 significant digits": 1}


def test_a_record_read_twice_is_billed_once() -> None:
    recs = hourly(1, 2)
    plan = sx.plan(recs + [dict(r) for r in recs], MAPPING, sx.Options("tokens", per="call"), now=NOW)
    assert sorted(rid for e in plan.events for rid in e.record_ids) == sorted(r["record_id"] for r in recs)


def test_hourly_events_and_stable_identifiers() -> None:
    recs = hourly(1)
    a = sx.plan(recs, MAPPING, sx.Options("tokens"), now=NOW)
    b = sx.plan(list(reversed(recs)), MAPPING, sx.Options("tokens"), now=NOW)
    assert [e.identifier for e in a.events] == [e.identifier for e in b.events]
    # Minutes 0, 30, 60, 90 after NOW-3h land in 2 or 3 clock hours; every record in exactly one event.
    covered = [rid for e in a.events for rid in e.record_ids]
    assert sorted(covered) == sorted(r["record_id"] for r in recs)
    assert sum(int(e.value) for e in a.events) == 4 * 150
    per_call = sx.plan(recs, MAPPING, sx.Options("tokens", per="call"), now=NOW)
    assert len(per_call.events) == 4 and {e.value for e in per_call.events} == {"150"}
    # Another meter, other identifiers.
    other = sx.plan(recs, MAPPING, sx.Options("other"), now=NOW)
    assert not {e.identifier for e in other.events} & {e.identifier for e in a.events}
    assert all(len(e.identifier) <= 100 for e in a.events)  # Stripe's maximum


def test_send_retries_429_and_5xx_one_call_per_customer(stripe_server: FakeStripe, tmp_path: Path) -> None:
    recs = hourly(3, 6)
    plan = sx.plan(recs, MAPPING, sx.Options("tokens", per="call"), now=NOW)
    stripe_server.delay = 0.02  # long enough for overlapping calls to be seen
    stripe_server.fail_next(2, 429)
    stripe_server.fail_next(1, 500)
    stripe_server.fail_next(1, 503)
    cp = sx.Checkpoint(tmp_path / "cp")
    out = sx.send(plan.events, client(stripe_server), cp, rate=200, concurrency=3, backoff=0.01)
    assert len(out.sent) == 18 and not out.rejected and not out.undelivered
    assert out.retries == 4
    assert stripe_server.overlaps == 0  # never two calls at once for one customer and meter
    assert len(stripe_server.events) == 18
    assert sum(int(e["payload"]["value"]) for e in stripe_server.events.values()) == 18 * 150
    # Sent again: nothing new is planned from the checkpoint.
    again = sx.plan(
        recs, MAPPING, sx.Options("tokens", per="call"), done=sx.Checkpoint(tmp_path / "cp").done_records
    )
    assert again.events == [] and again.skipped == {"already exported": 18}


def test_rejected_events_are_reported_and_journaled(stripe_server: FakeStripe, tmp_path: Path) -> None:
    stripe_server.reject_customers.add("cus_Beta1")
    plan = sx.plan(hourly(2, 1), MAPPING, sx.Options("tokens"), now=NOW)
    cp = sx.Checkpoint(tmp_path / "cp")
    out = sx.send(plan.events, client(stripe_server), cp, rate=200)
    assert [e.customer_id for e in out.sent] == ["acme"]
    ((event, why),) = out.rejected
    assert event.customer_id == "beta" and "No such customer" in why and "resource_missing" in why
    assert sx.Checkpoint(tmp_path / "cp").rejected == {event.identifier: why}


def test_retries_run_out_and_the_event_is_resent_next_time(stripe_server: FakeStripe, tmp_path: Path) -> None:
    plan = sx.plan(hourly(1, 1), MAPPING, sx.Options("tokens"), now=NOW)
    stripe_server.fail_next(3, 503)
    cp = sx.Checkpoint(tmp_path / "cp")
    out = sx.send(plan.events, client(stripe_server), cp, max_attempts=3, backoff=0.01)
    assert len(out.undelivered) == 1 and not stripe_server.events
    resumed = sx.Checkpoint(tmp_path / "cp")
    assert list(resumed.pending) == [plan.events[0].identifier]
    out = sx.send(list(resumed.pending.values()), client(stripe_server), resumed)
    assert len(out.sent) == 1 and len(stripe_server.events) == 1


def test_bad_api_key_stops_the_export(stripe_server: FakeStripe, tmp_path: Path) -> None:
    plan = sx.plan(hourly(1, 1), MAPPING, sx.Options("tokens"), now=NOW)
    with pytest.raises(sx.AbortExport, match="API key"):
        sx.send(
            plan.events,
            sx.make_client("sk_live_wrong", stripe_server.api_base),
            sx.Checkpoint(tmp_path / "c"),
        )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("customer\nacme\n", "m.csv:1: missing column 'stripe_customer_id'"),
        ("customer,stripe_customer_id\nacme,cus_1\nacme,cus_2\n", "m.csv:3:1: 'acme' is mapped twice"),
        ("customer,stripe_customer_id\nacme,acme@example.com\n", "m.csv:2:2: 'acme@example.com' is not"),
        ("customer,stripe_customer_id\nacme\n", "m.csv:2:2: expected 2 fields"),
    ],
)
def test_mapping_errors(text: str, where: str) -> None:
    with pytest.raises(InputFileError) as info:
        sx.parse_mapping(text, "m.csv")
    assert str(info.value).startswith(where)


# --- the command, across a crash ----------------------------------------------------------------------


def cli(ledger: EconLedger, tmp: Path, srv: FakeStripe, *extra: str) -> list[str]:
    mapping = tmp / "map.csv"
    mapping.write_text("customer,stripe_customer_id\n" + "".join(f"{k},{v}\n" for k, v in MAPPING.items()))
    return [
        sys.executable, "-m", "otel_openai_billing.cli", "export", "stripe", "--from", str(ledger.directory),
        "--event-name", "ai_tokens", "--mapping", str(mapping), "--per", "call", "--checkpoint",
        str(tmp / "stripe.checkpoint"), "--stripe-api-base", srv.api_base, "--concurrency", "1", *extra,
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "STRIPE_API_KEY": "sk_test_123"}


def test_dry_run_sends_nothing(econ_ledger: EconLedger, tmp_path: Path, stripe_server: FakeStripe) -> None:
    result = subprocess.run(
        [*cli(econ_ledger, tmp_path, stripe_server), "--dry-run", "--format", "json"],
        capture_output=True, text=True, env=env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # 7 customer calls with a cost; the no-customer call and gamma's failed call are not sent.
    assert [e["outcome"] for e in out["events"]] == ["would send"] * 7
    assert out["skipped"] == {"no customer": 1, "not billed (failed call)": 1}
    assert stripe_server.requests == 0 and not (tmp_path / "stripe.checkpoint").exists()


def test_crash_and_resume_deliver_every_billed_unit_once(
    econ_ledger: EconLedger, tmp_path: Path, stripe_server: FakeStripe
) -> None:
    # Stripe takes the 3rd event and never answers: the exporter is killed while waiting for it.
    stripe_server.hang_after_accepting(2)
    argv = cli(econ_ledger, tmp_path, stripe_server)
    proc = subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(stripe_server.events) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(stripe_server.events) == 3
    journal = (tmp_path / "stripe.checkpoint").read_text().splitlines()
    states = [json.loads(line)["state"] for line in journal]
    assert states == ["pending", "sent", "pending", "sent", "pending"]  # the 3rd: sent, but not known
    stripe_server.hang_after_accepting(10**6)

    result = subprocess.run(
        [*argv, "--format", "json"], capture_output=True, text=True, env=env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    resumed = json.loads(result.stdout)
    assert resumed["checkpoint"] == {"delivered": 7, "rejected": 0, "pending": 0}
    outcomes = sorted(e["outcome"] for e in resumed["events"])
    # The in-doubt event is resent verbatim; Stripe already has it (its idempotency key replays it).
    assert outcomes == ["already delivered"] + ["sent"] * 4
    # Every billed unit exactly once: 7 events, one per priced customer call, tokens as recorded.
    records = [r for r in econ_ledger.records() if r["customer_id"] and r["cost"] is not None]
    assert len(stripe_server.events) == len(records) == 7
    sent_tokens = sorted(int(e["payload"]["value"]) for e in stripe_server.events.values())
    assert sent_tokens == sorted(r["input_tokens"] + r["output_tokens"] for r in records)
    # A third run sends nothing.
    result = subprocess.run(
        [*argv, "--format", "json"], capture_output=True, text=True, env=env(), timeout=60
    )
    assert json.loads(result.stdout)["events"] == [] and stripe_server.requests == 3 + 5


def test_stripe_customer_from_a_record_label() -> None:
    recs = [
        record(
            customer_id="acme", time=iso(NOW), input_tokens=5, output_tokens=5, labels={"stripe": "cus_L1"}
        )
    ]
    plan = sx.plan(recs, {}, sx.Options("tokens", customer_label="stripe"), now=NOW)
    assert [(e.stripe_customer_id, e.value) for e in plan.events] == [("cus_L1", "10")]


def test_checkpoint_survives_a_torn_last_line_and_refuses_garbage(tmp_path: Path) -> None:
    event = sx.plan(hourly(1, 1), MAPPING, sx.Options("m"), now=NOW).events[0]
    cp = sx.Checkpoint(tmp_path / "cp")
    cp.will_send(event)
    with (tmp_path / "cp").open("a") as f:
        f.write('{"identifier": "oob_x", "sta')  # a crash mid-write
    again = sx.Checkpoint(tmp_path / "cp")
    assert list(again.pending) == [event.identifier] and again.done_records == set(event.record_ids)
    (tmp_path / "bad").write_text('{"identifier": "x"}\n')
    with pytest.raises(InputFileError, match="bad:1: not a checkpoint line"):
        sx.Checkpoint(tmp_path / "bad")


def test_one_checkpoint_per_meter(econ_ledger: EconLedger, tmp_path: Path, stripe_server: FakeStripe) -> None:
    argv = cli(econ_ledger, tmp_path, stripe_server)
    assert subprocess.run(argv, capture_output=True, env=env(), timeout=60).returncode == 0
    other = [a if a != "ai_tokens" else "ai_cost" for a in argv]
    result = subprocess.run(other, capture_output=True, text=True, env=env(), timeout=60)
    assert result.returncode == 2
    assert "is the checkpoint of meter ai_tokens: use one per meter" in result.stderr


def test_a_pending_event_past_35_days_is_never_sent(tmp_path: Path, stripe_server: FakeStripe) -> None:
    ledger = tmp_path / "empty-ledger"
    ledger.mkdir()
    old = sx.Event(
        "oob_old", "ai_tokens", "acme", "cus_Acme1", "5", int((NOW - timedelta(days=40)).timestamp()), ("r",)
    )
    sx.Checkpoint(tmp_path / "stripe.checkpoint").will_send(old)
    fake = EconLedger(ledger)
    result = subprocess.run(
        cli(fake, tmp_path, stripe_server), capture_output=True, text=True, env=env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert stripe_server.requests == 0
    assert sx.Checkpoint(tmp_path / "stripe.checkpoint").rejected == {
        "oob_old": "expired before delivery: older than Stripe's 35 days"
    }


def test_an_event_in_doubt_for_a_day_waits_for_a_person(tmp_path: Path, stripe_server: FakeStripe) -> None:
    ledger = tmp_path / "empty-ledger"
    ledger.mkdir()
    event = sx.plan(hourly(1, 1), MAPPING, sx.Options("ai_tokens"), now=NOW).events[0]
    # Journaled as pending a day ago; its answer never came. Stripe's memory of identifiers may be gone.
    line = {"identifier": event.identifier, "state": "pending", "at": time.time() - 25 * 3600}
    line["event"] = dataclasses.asdict(event)
    (tmp_path / "stripe.checkpoint").write_text(json.dumps(line) + "\n")
    argv = cli(EconLedger(ledger), tmp_path, stripe_server)
    result = subprocess.run(
        [*argv, "--format", "json"], capture_output=True, text=True, env=env(), timeout=60
    )
    assert result.returncode == 1
    (row,) = json.loads(result.stdout)["events"]
    assert row["outcome"].startswith("in doubt since") and stripe_server.requests == 0
    result = subprocess.run(
        [*argv, "--resend-in-doubt"], capture_output=True, text=True, env=env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert list(stripe_server.events) == [event.identifier]
