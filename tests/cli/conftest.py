"""Fixtures: the core suite's instrumented real SDK against the local OpenAI-compatible server."""

from tests.core.conftest import (  # noqa: F401
    Telemetry,
    client,
    instrument_kwargs,
    max_retries,
    server,
    telemetry,
    telemetry_class,
)
