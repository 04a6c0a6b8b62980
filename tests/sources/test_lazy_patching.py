"""instrument() imports none of the SDK's resource modules: realtime is patched when the SDK imports it.

The resource modules build hundreds of pydantic models on import (about a second for realtime); the
app pays that only if it uses them. Run in a fresh interpreter, since this test process has imported
them already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from otel_openai_billing import OpenAIBillingInstrumentor

before = {m for m in sys.modules if m.startswith("openai.resources.")}
OpenAIBillingInstrumentor().instrument(tracer_provider=TracerProvider())
added = sorted(m for m in sys.modules if m.startswith("openai.resources.") and m not in before)
assert not added, added
client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
client.realtime  # the SDK imports the realtime resource module now
from openai.resources.realtime.realtime import AsyncRealtimeConnection, RealtimeConnection
for cls in (RealtimeConnection, AsyncRealtimeConnection):
    for method in ("parse_event", "close"):
        assert hasattr(getattr(cls, method), "_self_wrapper"), (cls, method)
print("ok")
"""


@pytest.mark.sdk_feature("realtime")
def test_realtime_is_patched_when_the_sdk_imports_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
