"""1,000 concurrent calls across threads and asyncio tasks: nothing misattributed, no total shared."""

from __future__ import annotations

import asyncio
import contextvars
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from otel_openai_billing import billing_context
from otel_openai_billing import names as n
from tests.attribution.conftest import Traced
from tests.core.conftest import CHAT
from tests.fakes.openai_server import FakeOpenAI

REQUESTS = 100  # half on threads, half as asyncio tasks
CALLS_PER_REQUEST = 10  # 1,000 calls in all
# Three prices, mixed differently in each request, so a call counted on the wrong root shows in its sum.
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-nano")
CUSTOMER = "test.customer"  # what each request span says it is for: the expected attribution
THREADED_REQUESTS = range(REQUESTS // 2)
ASYNC_REQUESTS = range(REQUESTS // 2, REQUESTS)


def _customer(i: int) -> str:
    return f"customer-{i:03d}"


def _names(requests: range) -> set[str]:
    return {f"request {i}" for i in requests}


def _model(i: int, j: int) -> str:
    return MODELS[(i * j + j // 3) % len(MODELS)]


@pytest.mark.parametrize(
    "instrument_kwargs",
    [{"metric_attribution_keys": ["customer_id", "feature"], "metric_attribution_limit": REQUESTS}],
)
def test_concurrent_calls_are_attributed_and_rolled_up_to_their_own_request(
    telemetry: Traced, server: FakeOpenAI
) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)

    def request_span(i: int) -> Any:
        return telemetry.tracer.start_as_current_span(f"request {i}", attributes={CUSTOMER: _customer(i)})

    def thread_request(i: int, helpers: ThreadPoolExecutor) -> None:
        with request_span(i), billing_context(customer_id=_customer(i)):
            # Half the calls here, half on helper threads that copy the request's context.
            helped = [
                helpers.submit(contextvars.copy_context().run, call_sync, i, j)
                for j in range(CALLS_PER_REQUEST // 2)
            ]
            for j in range(CALLS_PER_REQUEST // 2, CALLS_PER_REQUEST):
                call_sync(i, j)
            for future in helped:
                future.result()

    @billing_context(feature="threaded")
    def call_sync(i: int, j: int) -> None:
        client.chat.completions.create(**{**CHAT, "model": _model(i, j)})

    async def task_request(i: int, aclient: openai.AsyncOpenAI, in_flight: asyncio.Semaphore) -> None:
        @billing_context(feature="async")
        async def call(j: int) -> None:
            async with in_flight:
                await aclient.chat.completions.create(**{**CHAT, "model": _model(i, j)})

        with request_span(i), billing_context(customer_id=_customer(i)):
            # Each call a task of its own, interleaved with every other request's tasks.
            await asyncio.gather(*(call(j) for j in range(CALLS_PER_REQUEST)))

    async def async_requests() -> None:
        # The fake server's listen backlog is 128 connections: the threads use up to 75 of them.
        in_flight = asyncio.Semaphore(40)
        async with openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as aclient:
            await asyncio.gather(*(task_request(i, aclient, in_flight) for i in ASYNC_REQUESTS))

    with ThreadPoolExecutor(max_workers=25) as requests, ThreadPoolExecutor(max_workers=50) as helpers:
        threaded = [requests.submit(thread_request, i, helpers) for i in THREADED_REQUESTS]
        asyncio.run(async_requests())  # on this thread, while the threaded requests run
        for future in threaded:
            future.result()
    client.close()

    spans = telemetry.spans()
    by_id = {s.context.span_id: s for s in spans}
    roots = {s.context.span_id: s for s in spans if CUSTOMER in s.attributes}
    calls = telemetry.calls()
    assert (len(roots), len(calls)) == (REQUESTS, REQUESTS * CALLS_PER_REQUEST)

    # Each call belongs to the request span it descends from (by parent links, not by attributes).
    calls_of: dict[int, list[Any]] = defaultdict(list)
    misattributed = []
    async_names = _names(ASYNC_REQUESTS)
    for call in calls:
        root = call
        while root.context.span_id not in roots:
            root = by_id[root.parent.span_id]
        calls_of[root.context.span_id].append(call)
        expected = (root.attributes[CUSTOMER], "async" if root.name in async_names else "threaded")
        if (call.attributes[n.CUSTOMER_ID], call.attributes[n.FEATURE]) != expected:
            misattributed.append(call)
    assert misattributed == []

    # Each request's roll-up is the sum of its own calls' costs: no total shared or mixed.
    mixed = []
    for root_id, root in roots.items():
        own = calls_of[root_id]
        own_cost = sum(c.attributes[n.COST_AMOUNT] for c in own)
        attrs = root.attributes
        if (
            len(own) != CALLS_PER_REQUEST
            or abs(attrs[n.ROLLUP_COST] - own_cost) > 1e-12
            or (attrs[n.ROLLUP_CALLS], attrs[n.ROLLUP_UNPRICED_CALLS]) != (len(own), 0)
        ):
            mixed.append((root.name, attrs[n.ROLLUP_COST], own_cost))
    assert mixed == []

    # The cost counter, read back, sums per customer to that customer's span costs.
    span_cost: dict[str, float] = defaultdict(float)
    for call in calls:
        span_cost[call.attributes[n.CUSTOMER_ID]] += call.attributes[n.COST_AMOUNT]
    counter_cost: dict[str, float] = defaultdict(float)
    for point in telemetry.metric_points(n.METRIC_COST):
        counter_cost[point.attributes[n.CUSTOMER_ID]] += point.value
    assert counter_cost.keys() == span_cost.keys() == {_customer(i) for i in range(REQUESTS)}
    assert [c for c in span_cost if abs(counter_cost[c] - span_cost[c]) > 1e-12] == []
    assert telemetry.metric_points(n.METRIC_ATTRIBUTION_OVERFLOW) == []  # the limit was exactly enough
