"""The local Stripe-compatible server answers the real `stripe` package as Stripe documents it.

The exporter never sends what these requests send; they show the fake would catch it if it did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from otel_openai_billing.export.stripe import make_client
from tests.fakes.stripe_server import FakeStripe


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as srv:
        yield srv


def create(srv: FakeStripe, key: str | None = None, **params: Any) -> Any:
    body = {"event_name": "m", "payload": {"stripe_customer_id": "cus_A", "value": "1"}, **params}
    options = {"idempotency_key": key} if key else None
    return make_client("sk_test_1", srv.api_base).v1.billing.meter_events.create(body, options=options)


def test_accepts_an_event_and_returns_the_meter_event(fake: FakeStripe) -> None:
    event = create(fake, identifier="id-1", timestamp=int(time.time()))
    assert (event.object, event.identifier, event.payload["value"]) == ("billing.meter_event", "id-1", "1")
    assert fake.events["id-1"]["payload"] == {"stripe_customer_id": "cus_A", "value": "1"}


def test_refuses_a_second_event_with_an_identifier(fake: FakeStripe) -> None:
    create(fake, identifier="id-2")
    with pytest.raises(stripe.InvalidRequestError, match="An event already exists with identifier id-2"):
        create(fake, identifier="id-2")


def test_replays_an_idempotent_request_and_refuses_other_parameters(fake: FakeStripe) -> None:
    first = create(fake, key="k-1", identifier="id-3")
    again = create(fake, key="k-1", identifier="id-3")
    assert (
        again.last_response.headers.get("Idempotent-Replayed") == "true"
        and again.identifier == first.identifier
    )
    with pytest.raises(stripe.IdempotencyError):
        create(fake, key="k-1", identifier="id-other")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"timestamp": int(time.time()) - 36 * 86400}, "timestamp_out_of_range"),
        ({"timestamp": int(time.time()) + 600}, "timestamp_out_of_range"),
        (
            {"payload": {"stripe_customer_id": "cus_A", "value": "1234567890.123456"}},
            "meter_event_value_too_many_digits",
        ),
        ({"payload": {"value": "1"}}, "parameter_missing"),
    ],
)
def test_refuses_what_stripe_refuses(fake: FakeStripe, params: dict[str, Any], code: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        create(fake, **params)
    assert info.value.code == code


def test_bad_key_and_injected_failures(fake: FakeStripe) -> None:
    with pytest.raises(stripe.AuthenticationError):
        make_client("sk_live_x", fake.api_base).v1.billing.meter_events.create(
            {"event_name": "m", "payload": {"stripe_customer_id": "cus_A", "value": "1"}}
        )
    fake.fail_next(1, 429)
    with pytest.raises(stripe.RateLimitError):
        create(fake)
    fake.fail_next(1, 503)
    with pytest.raises(stripe.APIError) as info:
        create(fake)
    assert info.value.http_status == 503
