"""Fixtures: the instrumented real SDK against the fake HTTP API and the fake Realtime WebSocket API."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_openai_billing import names as n

# The core suite's fixtures, with telemetry_class overridden below.
from tests.core.conftest import (  # noqa: F401
    Telemetry,
    aclient,
    client,
    instrument_kwargs,
    max_retries,
    server,
    telemetry,
)
from tests.fakes.realtime_server import FakeRealtime


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sdk_feature(*names): needs these SDK features (see _FEATURES)")


def _accepts(path: str, cls: str, method: str, parameter: str) -> bool:
    """Does the installed SDK have ``path.cls.method`` taking ``parameter``?"""
    try:
        module = importlib.import_module(path)
    except ImportError:
        return False
    fn = getattr(getattr(module, cls, None), method, None)
    return fn is not None and parameter in inspect.signature(fn).parameters


def _literal(path: str, name: str) -> tuple[str, ...]:
    """The values of a Literal type of the installed SDK (empty if it has no such type)."""
    try:
        return typing.get_args(getattr(importlib.import_module(path), name))
    except (ImportError, AttributeError):
        return ()


# SDK features some tests need, detected on the installed SDK (they appeared at different versions).
_FEATURES: dict[str, Callable[[], bool]] = {
    "responses": lambda: hasattr(openai.OpenAI, "responses"),
    "realtime": lambda: hasattr(openai.OpenAI, "realtime"),
    "beta_realtime": lambda: _accepts(
        "openai.resources.beta.realtime.realtime", "Realtime", "connect", "model"
    ),
    # openai 3.x realtime connections reconnect by themselves (connect(on_reconnecting=...)).
    "reconnect": lambda: _accepts(
        "openai.resources.realtime.realtime", "Realtime", "connect", "on_reconnecting"
    ),
    "responses_connect": lambda: _accepts(
        "openai.resources.responses.responses", "Responses", "connect", "extra_query"
    ),
    "diarize": lambda: (
        "diarized_json" in _literal("openai.types.audio_response_format", "AudioResponseFormat")
    ),
    "speech_sse": lambda: _accepts("openai.resources.audio.speech", "Speech", "create", "stream_format"),
    "image_edit_quality": lambda: _accepts("openai.resources.images", "Images", "edit", "quality"),
    "fine_tuning_method": lambda: _accepts(
        "openai.resources.fine_tuning.jobs.jobs", "Jobs", "create", "method"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Like the core suite's `sdk` marker: a test of a feature the installed SDK lacks is deselected,
    # not skipped; the newest SDK runs every test.
    keep, drop = [], []
    cache: dict[str, bool] = {}
    for item in items:
        marker = item.get_closest_marker("sdk_feature")
        needed = marker.args if marker else ()
        ok = all(cache.setdefault(f, _FEATURES[f]()) for f in needed)
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class Billed(Telemetry):
    """Telemetry read back as bills: the spans of billed units and the metric sums."""

    def units(self, kind: str) -> list[ReadableSpan]:
        """Spans of billed units of one kind (batch, fine_tuning, realtime)."""
        return [s for s in self.spans() if s.attributes and s.attributes.get(n.KIND) == kind]

    def metric_sum(self, name: str, **attributes: Any) -> float:
        """Sum of a counter or histogram over the points whose attributes include ``attributes``."""
        total = 0.0
        for point in self.metric_points(name):
            if all(point.attributes.get(k) == v for k, v in attributes.items()):
                total += point.sum if hasattr(point, "sum") else point.value
        return total

    def tokens(self, token_type: str) -> float:
        return self.metric_sum(n.METRIC_TOKEN_USAGE, **{n.TOKEN_TYPE: token_type})

    def cost(self, **attributes: Any) -> float:
        return self.metric_sum(n.METRIC_COST, **attributes)


@pytest.fixture
def telemetry_class() -> type[Telemetry]:
    return Billed


@pytest.fixture(scope="session")
def realtime_server() -> Iterator[FakeRealtime]:
    with FakeRealtime() as srv:
        yield srv


@pytest.fixture
def realtime(realtime_server: FakeRealtime) -> FakeRealtime:
    realtime_server.clear()
    return realtime_server


def amount(span: ReadableSpan) -> Decimal:
    """The span's cost as the Decimal it was computed as (floats compared exactly via repr)."""
    value = span.attributes[n.COST_AMOUNT]  # type: ignore[index]
    return Decimal(repr(value))
