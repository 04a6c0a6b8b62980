"""A Stripe-compatible Billing Meter Events API on 127.0.0.1, for driving the real `stripe` package.

It speaks `POST /v1/billing/meter_events` as Stripe's API reference documents it: form-encoded
`event_name`, `payload[stripe_customer_id]`, `payload[value]`, `identifier`, `timestamp`; a
`billing.meter_event` object back; errors as `{"error": {"type", "code", "message", "param"}}`.
What it enforces, as Stripe does:

- `Authorization: Bearer sk_test_...` (401 otherwise);
- an identifier is unique: a second event with it is refused with 400 "An event already exists with
  identifier ..." (the wording Stripe returns, quoted in langfuse/langfuse#16292);
- `Idempotency-Key`: the same key with the same parameters replays the first response
  (`Idempotent-Replayed: true`); with other parameters it is a 400 `idempotency_error`;
- the timestamp is within the past 35 days and at most 5 minutes ahead; the value is a number of at
  most 15 significant digits (API 2026-04-22.dahlia and later);
- one concurrent call per customer per meter: an overlapping call gets a 429 `rate_limit`, and is
  counted in `overlaps` so a test can prove the exporter never does it.

Tests inject trouble with `fail_next` (429/5xx), `hang_after_accepting` (accept an event, then never
answer: a crash window), `reject_customers` and `delay`, and read `events` (what was accepted).
`reject_customers` refuses a customer at once with a 400, to exercise the rejection path; real Stripe
reports an unknown customer later, as an error report, after accepting the event.
There is no official Stripe mock installable here (stripe-mock is not on PyPI, Debian or npm).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from werkzeug.wrappers import Request, Response

from . import BackgroundServer

MAX_AGE_S = 35 * 24 * 3600
MAX_AHEAD_S = 5 * 60


def _error(
    status: int, type_: str, message: str, code: str | None = None, param: str | None = None
) -> Response:
    body = {"error": {"type": type_, "message": message, "code": code, "param": param}}
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["Request-Id"] = "req_" + secrets.token_hex(7)
    # Stripe tells its clients whether a retry can help.
    response.headers["Stripe-Should-Retry"] = "true" if status == 429 or status >= 500 else "false"
    return response


def _error_(*args: Any, **kwargs: Any) -> tuple[Response, bool]:
    """An error, never withheld."""
    return _error(*args, **kwargs), False


class FakeStripe(BackgroundServer):
    """Billing Meter Events on 127.0.0.1; pass `api_base` to `StripeClient(base_addresses={"api": ...})`."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, dict[str, Any]] = {}  # identifier -> accepted meter event
        self.requests = 0
        self.overlaps = 0
        self.delay = 0.0
        self.reject_customers: set[str] = set()
        self.now: float | None = None  # the server's clock; None means real time
        self._failures: deque[int] = deque()
        self._hang_after: int | None = None
        self._in_flight: set[tuple[str, str]] = set()
        self._idempotency: dict[str, tuple[dict[str, Any], Response]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, n: int = 1, status: int = 429) -> None:
        """Answer the next `n` requests with `status` before looking at them."""
        with self._lock:
            self._failures.extend([status] * n)

    def hang_after_accepting(self, count: int) -> None:
        """Once `count` events are accepted, accept the next one and never answer it."""
        self._hang_after = count

    def stop(self) -> None:
        self._release.set()  # wake hung handlers so the server can shut down
        super().stop()

    def start(self) -> Self:
        self._release.clear()
        return super().start()

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with Request(environ) as request:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            failure = self._failures.popleft() if self._failures else None
        if request.path != "/v1/billing/meter_events" or request.method != "POST":
            return _error(
                404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path})"
            )
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_test_"):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if failure is not None:
            kind = "rate_limit" if failure == 429 else "api_error"
            return _error(
                failure, "invalid_request_error" if failure == 429 else kind, "Injected failure", kind
            )
        form = request.form.to_dict()
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            with self._lock:
                seen = self._idempotency.get(key)
            if seen is not None:
                params, response = seen
                if params != form:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        "first used with.",
                    )
                replay = Response(
                    response.get_data(), status=response.status_code, content_type="application/json"
                )
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
        customer = form.get("payload[stripe_customer_id]", "")
        slot = (customer, form.get("event_name", ""))
        with self._lock:
            if slot in self._in_flight:
                self.overlaps += 1
                return _error(
                    429,
                    "invalid_request_error",
                    "Too many concurrent requests for this customer and meter.",
                    "rate_limit",
                )
            self._in_flight.add(slot)
        try:
            if self.delay:
                time.sleep(self.delay)
            response, hang = self._create(form)
        finally:
            with self._lock:
                self._in_flight.discard(slot)
        if key is not None and response.status_code == 200:
            with self._lock:
                self._idempotency[key] = (form, response)
        if hang:
            # Accepted and processed, but the answer never reaches the client: the window in which a
            # crash loses it.
            self._release.wait(60)
        return response

    def _create(self, form: dict[str, str]) -> tuple[Response, bool]:
        """The response, and whether to withhold it (see `hang_after_accepting`)."""
        return self._validate(form) or self._accept(form)

    def _validate(self, form: dict[str, str]) -> tuple[Response, bool] | None:
        for name in ("event_name", "payload[stripe_customer_id]", "payload[value]"):
            if not form.get(name):
                return _error_(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    "parameter_missing",
                    name,
                )
        customer = form["payload[stripe_customer_id]"]
        if customer in self.reject_customers:
            return _error_(
                400, "invalid_request_error", f"No such customer: '{customer}'", "resource_missing", "payload"
            )
        try:
            value = Decimal(form["payload[value]"])
        except InvalidOperation:
            return _error_(
                400, "invalid_request_error", "Value must be a number.", "parameter_invalid", "payload"
            )
        if not value.is_finite() or len(value.normalize().as_tuple().digits) > 15:
            return _error_(
                400,
                "invalid_request_error",
                "Meter event values can have at most 15 significant digits.",
                "meter_event_value_too_many_digits",
                "payload",
            )
        now = self._clock()
        timestamp = int(form.get("timestamp") or now)
        if timestamp < now - MAX_AGE_S or timestamp > now + MAX_AHEAD_S:
            return _error_(
                400,
                "invalid_request_error",
                "Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.",
                "timestamp_out_of_range",
                "timestamp",
            )
        return None

    def _clock(self) -> int:
        return int(self.now if self.now is not None else time.time())

    def _accept(self, form: dict[str, str]) -> tuple[Response, bool]:
        now = self._clock()
        customer = form["payload[stripe_customer_id]"]
        timestamp = int(form.get("timestamp") or now)
        identifier = form.get("identifier") or "gen_" + secrets.token_hex(12)
        event = {
            "object": "billing.meter_event",
            "created": now,
            "event_name": form["event_name"],
            "identifier": identifier,
            "livemode": False,
            "payload": {"stripe_customer_id": customer, "value": form["payload[value]"]},
            "timestamp": timestamp,
        }
        with self._lock:
            if identifier in self.events:
                return _error_(
                    400, "invalid_request_error", f"An event already exists with identifier {identifier}."
                )
            self.events[identifier] = event
            hang = self._hang_after is not None and len(self.events) > self._hang_after
        return Response(json.dumps(event), status=200, content_type="application/json"), hang
