"""Usage-based billing: billing records -> Stripe Billing Meter Events (``POST /v1/billing/meter_events``).

One event per customer per UTC hour (or per billed unit with ``per="call"``), sent with the official
``stripe`` package (imported lazily: the ``stripe`` extra). Delivery is exactly once per billed unit:

- an event's ``identifier`` is a hash of the meter and the ``record_id`` of every billing record in it,
  so the same records always make the same identifier, and Stripe refuses a second event with it;
- the checkpoint file (JSON Lines) gets an event *before* it is sent (``pending``) and its outcome
  after (``sent`` / ``rejected``). A run resumes by re-sending pending events verbatim (a duplicate
  identifier counts as delivered), and never puts a record that is in the checkpoint into a new event;
- events that would break Stripe's rules (older than 35 days, in the future, more than 15 significant
  digits) are never sent, and are reported.

Sending respects the rate limits: one call at a time per customer (each customer's events are sent in
order by one worker; one run sends to one meter), an account-wide rate, and exponential backoff with
jitter on 429, 5xx and connection errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ..reports.customers import InputFileError, unique

# Stripe's rules for a meter event (docs.stripe.com/api/billing/meter-event/create).
MAX_AGE = timedelta(days=35)
MAX_AHEAD = timedelta(minutes=5)
# Taken off the 35 days: the event must still be valid when Stripe receives it, after retries.
SAFETY = timedelta(minutes=10)
# Taken off the 5 minutes ahead: room for our clock running ahead of Stripe's.
SKEW = timedelta(minutes=1)
# Stripe remembers an identifier (and an idempotency key) for at least 24 hours. An event whose answer
# was lost longer ago than this may be counted twice if resent: it needs a person's look first.
IN_DOUBT_AFTER = timedelta(hours=23)
MAX_SIGNIFICANT_DIGITS = 15
DUPLICATE_MESSAGE = "An event already exists with identifier"

VALUES = ("tokens", "input_tokens", "output_tokens", "calls", "cost")
GRANULARITIES = ("hour", "call")
COST_UNITS = {"usd": Decimal(1), "cents": Decimal(100), "micro-usd": Decimal(1_000_000)}
_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]+\Z")


@dataclass(frozen=True, slots=True)
class Options:
    """What to send: the meter's event name, the value, how records are grouped into events."""

    event_name: str
    value: str = "tokens"
    per: str = "hour"
    markup: Decimal = Decimal(1)  # cost only: what you charge per dollar of OpenAI cost
    cost_unit: str = "usd"
    decimals: int = 6  # cost only: places kept, rounded half up, in cost_unit
    customer_label: str | None = None  # read the Stripe customer id from this label of the record


@dataclass(frozen=True, slots=True)
class Event:
    """One meter event, with the billing records it covers."""

    identifier: str
    event_name: str
    customer_id: str  # ours
    stripe_customer_id: str
    value: str
    timestamp: int  # Unix seconds
    record_ids: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        """The request as the stripe package takes it."""
        return {
            "event_name": self.event_name,
            "payload": {"stripe_customer_id": self.stripe_customer_id, "value": self.value},
            "identifier": self.identifier,
            "timestamp": self.timestamp,
        }


@dataclass(slots=True)
class Plan:
    """Events to send, and the records left out, with why (reason -> count)."""

    events: list[Event] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unmapped: set[str] = field(default_factory=set)  # our customer ids with no Stripe customer


def parse_mapping(text: str, source: str) -> dict[str, str]:
    """Mapping CSV (columns ``customer``, ``stripe_customer_id``) -> {our id: Stripe customer id}."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise InputFileError(source, 1, None, "empty file; expected a header: customer,stripe_customer_id")
    names = [h.strip().lower() for h in header]
    for needed in ("customer", "stripe_customer_id"):
        if needed not in names:
            raise InputFileError(
                source, 1, None, f"missing column {needed!r} (found {', '.join(repr(h) for h in header)})"
            )
    ours, theirs = names.index("customer"), names.index("stripe_customer_id")
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputFileError(
                source,
                line,
                min(len(row), len(header)) + 1,
                f"expected {len(header)} fields, found {len(row)}",
            )
        customer, stripe_id = row[ours].strip(), row[theirs].strip()
        if not customer:
            raise InputFileError(source, line, ours + 1, "customer is empty")
        if not _CUSTOMER_ID.match(stripe_id):
            raise InputFileError(
                source, line, theirs + 1, f"{stripe_id!r} is not a Stripe customer id (cus_...)"
            )
        if customer in mapping:
            raise InputFileError(
                source, line, ours + 1, f"{customer!r} is mapped twice (first on line {lines[customer]})"
            )
        mapping[customer], lines[customer] = stripe_id, line
    return mapping


def significant_digits(value: Decimal) -> int:
    """Significant digits of a decimal as written without trailing zeros (0.00120 -> 2, 1200 -> 2)."""
    digits = value.normalize().as_tuple().digits
    return len(digits) if value else 1


def identifier(event_name: str, record_ids: Iterable[str]) -> str:
    """A stable identifier for an event covering these records on this meter (52 characters; Stripe
    takes up to 100)."""
    h = hashlib.sha256(event_name.encode())
    for rid in sorted(record_ids):
        h.update(b"\0" + rid.encode())
    return "oob_" + h.hexdigest()[:48]


def _time(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00"))


def _quantity(record: Mapping[str, Any], value: str) -> Decimal | None:
    if value == "cost":
        cost = record.get("cost")
        return Decimal(cost) if cost is not None else None
    if value == "calls":
        return Decimal(1)
    inp, out = record.get("input_tokens") or 0, record.get("output_tokens") or 0
    return Decimal({"tokens": inp + out, "input_tokens": inp, "output_tokens": out}[value])


def plan(
    records: Iterable[Mapping[str, Any]],
    mapping: Mapping[str, str],
    options: Options,
    *,
    done: Collection[str] = frozenset(),
    now: datetime | None = None,
) -> Plan:
    """The events for ``records`` not already in ``done`` (record ids in the checkpoint). Pure."""
    now = now or datetime.now(UTC)
    oldest, newest = now - MAX_AGE + SAFETY, now + MAX_AHEAD - SKEW
    out = Plan()
    groups: dict[tuple[str, str, str], list[tuple[Mapping[str, Any], Decimal, datetime]]] = defaultdict(list)
    for record in unique(records):
        rid = record["record_id"]
        if rid in done:
            out.skipped["already exported"] += 1
            continue
        if record.get("cost") is None and record.get("cost_status") is None:
            out.skipped["not billed (failed call)"] += 1
            continue
        customer = record.get("customer_id")
        if customer is None:
            out.skipped["no customer"] += 1
            continue
        label = (record.get("labels") or {}).get(options.customer_label) if options.customer_label else None
        stripe_id = label or mapping.get(customer)
        if stripe_id is None:
            out.skipped["no Stripe customer mapped"] += 1
            out.unmapped.add(customer)
            continue
        quantity = _quantity(record, options.value)
        if quantity is None:
            out.skipped["unpriced (no cost to bill)"] += 1
            continue
        when = _time(record)
        if when < oldest:
            out.skipped["older than Stripe's 35 days"] += 1
            continue
        if when > newest:
            out.skipped["in the future"] += 1
            continue
        bucket = when.strftime("%Y-%m-%dT%H") if options.per == "hour" else rid
        groups[(stripe_id, customer, bucket)].append((record, quantity, when))

    scale = options.markup * COST_UNITS[options.cost_unit] if options.value == "cost" else Decimal(1)
    places = Decimal(1).scaleb(-options.decimals) if options.value == "cost" else Decimal(1)
    for (stripe_id, customer, _), members in sorted(groups.items()):
        total = sum((q for _, q, _ in members), Decimal(0)) * scale
        value = total.quantize(places, rounding=ROUND_HALF_UP)
        rids = tuple(sorted(r["record_id"] for r, _, _ in members))
        if significant_digits(value) > MAX_SIGNIFICANT_DIGITS:
            out.skipped["value has more than 15 significant digits"] += len(members)
            continue
        if not value:
            out.skipped["zero value (nothing to bill)"] += len(members)
            continue
        out.events.append(
            Event(
                identifier=identifier(options.event_name, rids),
                event_name=options.event_name,
                customer_id=customer,
                stripe_customer_id=stripe_id,
                value=f"{value.normalize():f}",
                # The earliest call of the group: inside the hour, and inside Stripe's window.
                timestamp=int(min(w for _, _, w in members).timestamp()),
                record_ids=rids,
            )
        )
    return out


class Checkpoint:
    """An append-only JSON Lines journal of events: pending before a send, then sent or rejected."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.pending: dict[str, Event] = {}
        self.pending_since: dict[str, float] = {}  # identifier -> Unix time first journaled
        self.sent: set[str] = set()
        self.rejected: dict[str, str] = {}
        self.done_records: set[str] = set()
        self.event_names: set[str] = set()  # the meters this journal has events for
        self._lock = threading.Lock()
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    # Only a crash mid-write leaves a torn line, and only as the last one.
                    if line.endswith("\n"):
                        raise InputFileError(str(self.path), number, None, "not a checkpoint line") from None
                    continue
                if not isinstance(entry, dict) or entry.get("state") not in ("pending", "sent", "rejected"):
                    raise InputFileError(str(self.path), number, None, "not a checkpoint line")
                ident = entry["identifier"]
                if entry["state"] == "pending":
                    event = Event(**{**entry["event"], "record_ids": tuple(entry["event"]["record_ids"])})
                    self.pending[ident] = event
                    self.pending_since.setdefault(ident, entry.get("at", 0.0))
                    self.done_records.update(event.record_ids)
                    self.event_names.add(event.event_name)
                elif entry["state"] == "sent":
                    self.pending.pop(ident, None)
                    self.sent.add(ident)
                else:
                    self.pending.pop(ident, None)
                    self.rejected[ident] = entry.get("error", "")

    def _append(self, entry: dict[str, Any]) -> None:
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def will_send(self, event: Event) -> None:
        """Journal the event before it goes out: a crash after Stripe took it re-sends the same one."""
        at = time.time()
        self._append({"identifier": event.identifier, "state": "pending", "at": at, "event": asdict(event)})
        self.pending[event.identifier] = event
        self.pending_since[event.identifier] = at
        self.done_records.update(event.record_ids)
        self.event_names.add(event.event_name)

    def settled(self, event: Event, error: str | None) -> None:
        """Journal the outcome."""
        entry: dict[str, Any] = {"identifier": event.identifier, "state": "rejected" if error else "sent"}
        if error:
            entry["error"] = error
        self._append(entry)
        with self._lock:
            self.pending.pop(event.identifier, None)
            if error:
                self.rejected[event.identifier] = error
            else:
                self.sent.add(event.identifier)


class RateLimiter:
    """At most ``rate`` calls per second across all workers (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


@dataclass(slots=True)
class Outcome:
    """What a send did, event by event."""

    sent: list[Event] = field(default_factory=list)
    duplicates: list[Event] = field(default_factory=list)  # Stripe had it already: delivered before
    rejected: list[tuple[Event, str]] = field(default_factory=list)
    undelivered: list[tuple[Event, str]] = field(default_factory=list)  # retries ran out; resent next run
    retries: int = 0


class AbortExport(RuntimeError):
    """A failure no retry fixes (a bad API key): stop everything."""


def make_client(api_key: str, api_base: str | None = None) -> Any:
    """A StripeClient; retries are ours (``max_network_retries=0``) so every one is counted and paced."""
    try:
        import stripe
    except ImportError as exc:
        raise AbortExport(
            "the Stripe export needs the stripe package: pip install 'otel-openai-billing[stripe]'"
        ) from exc
    bases = {"api": api_base} if api_base else None
    return stripe.StripeClient(api_key, base_addresses=bases, max_network_retries=0)  # type: ignore[arg-type]


def _replayed(created: Any) -> bool:
    headers = getattr(getattr(created, "last_response", None), "headers", None) or {}
    return any(k.lower() == "idempotent-replayed" and v == "true" for k, v in headers.items())


def send(
    events: list[Event],
    client: Any,
    checkpoint: Checkpoint,
    *,
    rate: float = 25.0,
    concurrency: int = 4,
    max_attempts: int = 6,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    on_event: Callable[[Event, str], None] | None = None,
) -> Outcome:
    """Send events: customers in parallel, each customer's events one at a time, in order."""
    import stripe

    outcome = Outcome()
    lock = threading.Lock()
    limiter = RateLimiter(rate)
    abort = threading.Event()
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_customer[event.stripe_customer_id].append(event)

    def record(kind: str, event: Event, error: str | None = None) -> None:
        with lock:
            if kind == "sent":
                outcome.sent.append(event)
            elif kind == "duplicate":
                outcome.duplicates.append(event)
            elif kind == "rejected":
                outcome.rejected.append((event, error or ""))
            else:
                outcome.undelivered.append((event, error or ""))
        if on_event is not None:
            on_event(event, kind)

    def deliver(event: Event) -> None:
        if event.identifier not in checkpoint.pending:
            checkpoint.will_send(event)
        last = ""
        for attempt in range(max_attempts):
            if abort.is_set():
                record("undelivered", event, "export stopped")
                return
            if attempt:
                with lock:
                    outcome.retries += 1
                # Exponential backoff with full jitter, so many workers do not retry in step.
                time.sleep(random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1))))
            limiter.wait()
            try:
                created = client.v1.billing.meter_events.create(
                    event.params(), options={"idempotency_key": event.identifier}
                )
            except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
                last = f"{type(exc).__name__}: {exc.user_message or exc}"
                continue
            except stripe.AuthenticationError as exc:
                abort.set()
                raise AbortExport(f"Stripe refused the API key: {exc.user_message or exc}") from exc
            except stripe.StripeError as exc:
                status = exc.http_status or 0
                message = exc.user_message or str(exc)
                if status >= 500 or status == 429:
                    last = f"HTTP {status}: {message}"
                    continue
                if DUPLICATE_MESSAGE in message:
                    # The identifier derives from the records: Stripe holding it means they were delivered.
                    checkpoint.settled(event, None)
                    record("duplicate", event)
                    return
                error = f"HTTP {status} {exc.code or ''}: {message}".replace("  ", " ")
                checkpoint.settled(event, error)
                record("rejected", event, error)
                return
            checkpoint.settled(event, None)
            # A replayed idempotent request: an earlier run's send got through, its answer was lost.
            record("duplicate" if _replayed(created) else "sent", event)
            return
        record("undelivered", event, last)

    def deliver_all(queue: list[Event]) -> None:
        for event in queue:
            deliver(event)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="stripe-export") as pool:
        futures = [pool.submit(deliver_all, queue) for queue in by_customer.values()]
        for future in futures:
            future.result()
    return outcome
