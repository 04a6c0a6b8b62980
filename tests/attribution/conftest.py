"""Fixtures: the instrumented real SDK over real HTTP, with a tracer for the request spans around calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Tracer

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI


class Traced(Telemetry):
    """Telemetry plus a tracer for the application's own spans (the request roots)."""

    def __init__(self) -> None:
        super().__init__()
        self.tracer: Tracer = self.tracer_provider.get_tracer("tests.attribution")

    def calls(self) -> list[ReadableSpan]:
        """The spans of OpenAI calls (they carry the endpoint attribute; application spans do not)."""
        return [s for s in self.spans() if s.attributes and n.ENDPOINT in s.attributes]

    def span_named(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.name == name]
        return span

    def metric_sum(self, name: str, **attributes: Any) -> float:
        """The sum of a counter over the points whose attributes include ``attributes``."""
        return sum(
            p.value
            for p in self.metric_points(name)
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        )


@pytest.fixture(scope="session")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def instrument_kwargs() -> dict[str, Any]:
    """Extra instrument() options; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def telemetry(instrument_kwargs: dict[str, Any], server: FakeOpenAI) -> Iterator[Traced]:
    server.clear()
    tel = Traced()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(
        tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider, **instrument_kwargs
    )
    try:
        yield tel
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(api_key="sk-test-secret-key", base_url=server.base_url, max_retries=0)
    yield c
    c.close()


@pytest.fixture
async def aclient(server: FakeOpenAI) -> Any:
    c = openai.AsyncOpenAI(api_key="sk-test-secret-key", base_url=server.base_url, max_retries=0)
    yield c
    await c.close()
