"""Fixtures: the instrumented real SDK over real HTTP, writing a ledger into a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_openai_billing import OpenAIBillingInstrumentor
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
