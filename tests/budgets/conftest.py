"""Fixtures: the real SDK against the local OpenAI-compatible server, and a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

# The core suite's fixtures (the fake server, instrumented telemetry, the SDK clients).
from tests.attribution.conftest import Traced
from tests.budgets.redis_server import RedisServer
from tests.core.conftest import (  # noqa: F401
    Telemetry,
    aclient,
    client,
    instrument_kwargs,
    server,
    telemetry,
)


@pytest.fixture
def telemetry_class() -> type[Traced]:
    return Traced


@pytest.fixture
def max_retries() -> int:
    # Budgets count calls exactly; a retried attempt would be a second request to the server.
    return 0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean Redis for one test."""
    if redis_server.process is None:
        redis_server.start()  # a fault test stopped it
    redis_server.flush()
    return redis_server.url


# The fake server's default chat usage (tests/fakes/openai_server.py CHAT_USAGE): 19 input tokens,
# 10 output tokens, priced for gpt-4o-mini at $0.15 / 1M input and $0.60 / 1M output:
#   19 x 0.15e-6 + 10 x 0.60e-6 = 0.00000285 + 0.000006 = 0.00000885 USD
CHAT_ACTUAL = Decimal("0.00000885")


def hi_request(max_tokens: int = 10) -> dict:
    """The chat request the budget tests make (its worst case is worked out in WORST_HI)."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}


# The worst case of hi_request() as the SDK sends it ({"messages": [...], "model": ..., "max_tokens": 10}):
# input bound = 4 (body framing) + len("messages")=8 + [4 (message framing) + "role" 4 + "user" 4
# + "content" 7 + "hi" 2 = 21] + "model" 5 + "gpt-4o-mini" 11 + "max_tokens" 10 + 1 (the number)
# = 60 tokens; output = max_tokens = 10.
#   60 x 0.15e-6 + 10 x 0.60e-6 = 0.000009 + 0.000006 = 0.000015 USD
WORST_HI = Decimal("0.000015")


@pytest.fixture
def budget_file(tmp_path: Path) -> Path:
    return tmp_path / "budgets.json"


@pytest.fixture(autouse=True)
def byte_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worst cases above are worked out on the byte bound. With the tokenizer on, reservations switch
    # to token counts once the encoding has loaded in the background, at a moment no test controls;
    # tests/budgets/test_tokenizer.py covers that mode. Worker processes inherit the variable.
    monkeypatch.setenv("OTEL_OPENAI_BILLING_BUDGET_TOKENIZER", "false")
