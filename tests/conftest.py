"""Every suite: the instrumentation and the CLI never read or write the developer's own price cache."""

from __future__ import annotations

import os
import tempfile


def pytest_configure() -> None:
    # Price data fetched by `otel-openai-billing prices update` lives under $XDG_CACHE_HOME; a run of
    # the tests must price with the data the tests expect, whatever the machine has cached.
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="otel-openai-billing-tests-")
