"""billing_context: nesting, decorators, and the context following threads, tasks and generators."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

from otel_openai_billing import billing_context
from otel_openai_billing import names as n
from tests.attribution.conftest import Traced
from tests.core.conftest import CHAT
from tests.fakes.openai_server import FakeOpenAI


def _attribution(span: Any) -> dict[str, Any]:
    """The attribution attributes of a span (customer, feature, labels)."""
    return {
        k: v
        for k, v in span.attributes.items()
        if k in (n.CUSTOMER_ID, n.FEATURE) or k.startswith(n.LABEL_PREFIX)
    }


def test_a_call_inside_carries_customer_feature_and_labels(telemetry: Traced, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme", feature="search", plan="pro", region=3):
        client.chat.completions.create(**CHAT)

    assert _attribution(telemetry.only_span()) == {
        n.CUSTOMER_ID: "acme",
        n.FEATURE: "search",
        n.LABEL_PREFIX + "plan": "pro",
        n.LABEL_PREFIX + "region": "3",  # values are strings, whatever was passed
    }


def test_a_call_outside_carries_no_attribution(telemetry: Traced, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme"):
        pass
    client.chat.completions.create(**CHAT)

    assert _attribution(telemetry.only_span()) == {}


def test_nested_contexts_merge_inner_wins_outer_kept(telemetry: Traced, client: openai.OpenAI) -> None:
    with billing_context(customer_id="acme", feature="chat", plan="pro"):
        with billing_context(feature="summarize", step="draft"):
            client.chat.completions.create(**CHAT)
            with billing_context(customer_id=None, step="final"):  # None keeps the outer value
                client.chat.completions.create(**CHAT)
        client.chat.completions.create(**CHAT)

    inner, innermost, outer = telemetry.spans()
    assert _attribution(inner) == {
        n.CUSTOMER_ID: "acme",
        n.FEATURE: "summarize",
        n.LABEL_PREFIX + "plan": "pro",
        n.LABEL_PREFIX + "step": "draft",
    }
    assert _attribution(innermost)[n.CUSTOMER_ID] == "acme"
    assert _attribution(innermost)[n.LABEL_PREFIX + "step"] == "final"
    assert _attribution(outer) == {n.CUSTOMER_ID: "acme", n.FEATURE: "chat", n.LABEL_PREFIX + "plan": "pro"}


def test_decorated_function(telemetry: Traced, client: openai.OpenAI) -> None:
    @billing_context(feature="report")
    def report(customer: str) -> str:
        with billing_context(customer_id=customer):
            return client.chat.completions.create(**CHAT).id

    result = report("acme")
    client.chat.completions.create(**CHAT)

    decorated, after = telemetry.spans()
    assert decorated.attributes[n.RESPONSE_ID] == result  # the return value passes through
    assert _attribution(decorated) == {n.CUSTOMER_ID: "acme", n.FEATURE: "report"}
    assert _attribution(after) == {}
    assert report.__name__ == "report"


async def test_decorated_coroutine_function(telemetry: Traced, aclient: openai.AsyncOpenAI) -> None:
    @billing_context(customer_id="acme", feature="async-report")
    async def report() -> None:
        await aclient.chat.completions.create(**CHAT)

    await report()
    await aclient.chat.completions.create(**CHAT)

    decorated, after = telemetry.spans()
    assert _attribution(decorated) == {n.CUSTOMER_ID: "acme", n.FEATURE: "async-report"}
    assert _attribution(after) == {}


def test_decorated_generator_applies_inside_only(telemetry: Traced, client: openai.OpenAI) -> None:
    @billing_context(customer_id="acme", feature="batch")
    def summaries(count: int) -> Any:
        for _ in range(count):
            yield client.chat.completions.create(**CHAT).id
        return "done"

    gen = summaries(2)
    next(gen)
    # The consumer, between two steps of the generator, is outside the generator's context.
    client.chat.completions.create(**CHAT)
    next(gen)
    try:
        next(gen)
    except StopIteration as stop:
        assert stop.value == "done"

    first, consumer, second = telemetry.spans()
    assert _attribution(first) == _attribution(second) == {n.CUSTOMER_ID: "acme", n.FEATURE: "batch"}
    assert _attribution(consumer) == {}


def test_decorated_generator_passes_send_throw_and_close(telemetry: Traced, client: openai.OpenAI) -> None:
    seen: list[Any] = []

    @billing_context(customer_id="acme")
    def echo() -> Any:
        try:
            while True:
                try:
                    seen.append((yield len(seen)))
                except KeyError as exc:
                    seen.append(f"caught {exc.args[0]}")
        finally:
            client.chat.completions.create(**CHAT)  # cleanup runs in the context too

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError("k")) == 2
    gen.close()

    assert seen == ["a", "caught k"]
    assert _attribution(telemetry.only_span()) == {n.CUSTOMER_ID: "acme"}


async def test_decorated_async_generator(telemetry: Traced, aclient: openai.AsyncOpenAI) -> None:
    @billing_context(customer_id="acme", feature="stream-ui")
    async def pages() -> Any:
        for _ in range(2):
            yield (await aclient.chat.completions.create(**CHAT)).id

    ids = []
    async for page in pages():
        ids.append(page)
        await aclient.chat.completions.create(**CHAT)  # the consumer's call, between steps

    spans = telemetry.spans()
    assert len(ids) == 2
    assert [_attribution(s).get(n.CUSTOMER_ID) for s in spans] == ["acme", None, "acme", None]


def test_follows_threads_that_copy_the_context(telemetry: Traced, client: openai.OpenAI) -> None:
    def call() -> None:
        client.chat.completions.create(**CHAT)

    with billing_context(customer_id="acme"):
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(call,))
        thread.start()
        thread.join()
        # A thread started without the context does not inherit it.
        bare = threading.Thread(target=call)
        bare.start()
        bare.join()

    copied, not_copied = telemetry.spans()
    assert _attribution(copied) == {n.CUSTOMER_ID: "acme"}
    assert _attribution(not_copied) == {}


async def test_follows_asyncio_tasks(telemetry: Traced, aclient: openai.AsyncOpenAI) -> None:
    async def call() -> None:
        await aclient.chat.completions.create(**CHAT)

    with billing_context(customer_id="acme"):
        task = asyncio.create_task(call())  # a task copies the context when it is created
    with billing_context(customer_id="globex"):
        await task  # awaited elsewhere: the task keeps the context it was created in

    assert _attribution(telemetry.only_span()) == {n.CUSTOMER_ID: "acme"}


def test_one_instance_entered_concurrently(
    telemetry: Traced, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    # A module-level context reused by many requests at once: each entry is independent.
    search = billing_context(feature="search")

    def request(customer: str) -> None:
        with search, billing_context(customer_id=customer):
            client.chat.completions.create(**CHAT, metadata={"c": customer})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(request, [f"c{i}" for i in range(16)]))

    # Each span is matched to the request it sent through the client request id header.
    sent = {r.headers["X-Client-Request-Id"]: r.json["metadata"]["c"] for r in server.requests}
    spans = telemetry.spans()
    assert len(spans) == 16
    for span in spans:
        customer = sent[span.attributes[n.OPENAI_CLIENT_REQUEST_ID]]
        assert _attribution(span) == {n.CUSTOMER_ID: customer, n.FEATURE: "search"}
