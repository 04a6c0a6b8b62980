"""Fixtures: the real openai SDK, over real HTTP, against a local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.fakes.openai_server import FakeOpenAI

SDK_VERSION = tuple(int(p) for p in openai.VERSION.split(".")[:3])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sdk(min): needs an openai SDK at least this version")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test of an API the installed SDK does not have is not run at all (deselected, not skipped):
    # the newest SDK in the matrix runs every test.
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("sdk")
        needed = tuple(int(p) for p in marker.args[0].split(".")) if marker else ()
        (drop if needed and needed > SDK_VERSION else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


class Telemetry:
    """What the instrumentation exported, read back."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def instrument_kwargs() -> dict[str, Any]:
    """Extra instrument() options; a test overrides this fixture to change them."""
    return {}


@pytest.fixture
def telemetry_class() -> type[Telemetry]:
    """What reads the exported telemetry back; another suite overrides this to extend it."""
    return Telemetry


@pytest.fixture
def max_retries() -> int:
    """The SDK clients' retries; another suite overrides this."""
    return 2


@pytest.fixture
def telemetry(
    instrument_kwargs: dict[str, Any], server: FakeOpenAI, telemetry_class: type[Telemetry]
) -> Iterator[Telemetry]:
    server.clear()
    tel = telemetry_class()
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(
        tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider, **instrument_kwargs
    )
    try:
        yield tel
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def client(server: FakeOpenAI, max_retries: int) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(api_key="sk-test-secret-key", base_url=server.base_url, max_retries=max_retries)
    yield c
    c.close()


@pytest.fixture
async def aclient(server: FakeOpenAI, max_retries: int) -> Any:
    c = openai.AsyncOpenAI(api_key="sk-test-secret-key", base_url=server.base_url, max_retries=max_retries)
    yield c
    await c.close()


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
