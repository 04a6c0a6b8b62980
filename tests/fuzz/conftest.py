"""Fixtures: the core suite's local OpenAI-compatible server (one per session)."""

from __future__ import annotations

from tests.core.conftest import Telemetry, server  # noqa: F401
