"""Fixtures: the instrumented real SDK over real HTTP, with a tracer for the request spans around calls."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Tracer

from otel_openai_billing import names as n

# The core suite's fixtures, with telemetry_class and max_retries overridden below.
from tests.core.conftest import (  # noqa: F401
    Telemetry,
    aclient,
    client,
    instrument_kwargs,
    server,
    telemetry,
)


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


@pytest.fixture
def telemetry_class() -> type[Traced]:
    return Traced


@pytest.fixture
def max_retries() -> int:
    # The concurrency tests count calls exactly; a retried call would be a second request.
    return 0
