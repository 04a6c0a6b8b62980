"""Fixtures: the instrumented real SDK over real HTTP, writing a ledger into a temporary directory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context
from otel_openai_billing.ledger.readers import read_records

# The core suite's fixtures: the local OpenAI-compatible server and the SDK clients.
from tests.core.conftest import Telemetry, aclient, client, max_retries, server  # noqa: F401


class Ledgered(Telemetry):
    """Telemetry plus the ledger the same calls were written to."""

    def __init__(self, directory: Path, instrumentor: OpenAIBillingInstrumentor) -> None:
        super().__init__()
        self.directory = directory
        self.instrumentor = instrumentor

    @property
    def writer(self) -> Any:
        return self.instrumentor._ledger

    def records(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Everything written so far (the queue is flushed first)."""
        self.writer.flush()
        return list(read_records(str(self.directory), **kwargs))


@pytest.fixture
def ledger_kwargs() -> dict[str, Any]:
    """Extra instrument() options; a test overrides this fixture to change them."""
    return {}


@pytest.fixture
def ledger(tmp_path: Path, server: Any, ledger_kwargs: dict[str, Any]) -> Iterator[Ledgered]:  # noqa: F811
    server.clear()
    instrumentor = OpenAIBillingInstrumentor()
    tel = Ledgered(tmp_path / "ledger", instrumentor)
    instrumentor.instrument(
        tracer_provider=tel.tracer_provider,
        meter_provider=tel.meter_provider,
        ledger=str(tel.directory),
        **ledger_kwargs,
    )
    try:
        yield tel
    finally:
        instrumentor.uninstrument()


@pytest.fixture(scope="module")
def calls(
    tmp_path_factory: pytest.TempPathFactory,
    server: Any,  # noqa: F811
) -> tuple[list[dict], list[ReadableSpan]]:
    """A mix of real calls: the ledger's records and the spans of the same calls."""
    directory = tmp_path_factory.mktemp("ledger")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=provider, ledger=str(directory), metrics=False)
    server.clear()
    try:
        with openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=1) as c:
            chat = {"messages": [{"role": "user", "content": "hi"}]}
            with billing_context(customer_id="acme", feature="search", plan="pro"):
                c.chat.completions.create(model="gpt-4o-mini", **chat)
                for _ in c.chat.completions.create(model="gpt-4o", stream=True, **chat):
                    pass
            with billing_context(customer_id="globex"):
                c.embeddings.create(model="text-embedding-3-small", input="x")
                c.chat.completions.create(model="gpt-4o-mini", service_tier="flex", **chat)
            server.fail_next(1, status=500)  # retried once, then answered
            c.chat.completions.create(model="gpt-4o-mini", **chat)
            server.fail_next(2, status=429)  # failed after its retry: not billed
            with contextlib.suppress(openai.RateLimitError):
                c.chat.completions.create(model="gpt-4o", **chat)
            c.chat.completions.create(model="gpt-9-preview", **chat)  # unpriced
            c.audio.speech.create(model="tts-1", voice="alloy", input="Hello there")  # estimated
            c.models.list()  # not a billed unit: in neither source
            with openai.OpenAI(api_key="sk-test", base_url=server.base_url, project="proj_other") as other:
                other.embeddings.create(model="text-embedding-3-small", input="y")
    finally:
        instrumentor.uninstrument()
    return list(read_records(str(directory))), list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def ledger_dir(calls: tuple[list[dict], list[ReadableSpan]], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ledger of ``calls`` (written anew from its records, so tests may not alter the original)."""
    directory = tmp_path_factory.mktemp("ledger-copy")
    records, _ = calls
    (directory / "billing-copy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(directory)
