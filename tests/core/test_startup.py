"""Start-up: what importing and instrument() load, and the BaseInstrumentor contract kept without it.

The instrumentor does not inherit from OpenTelemetry's ``BaseInstrumentor`` (importing it costs a third
of our start-up), so the contract is tested here: isinstance, one instance, the warnings, the
dependency check. What only some configurations need must not load at start-up; each check runs in a
fresh interpreter, where nothing else has imported it first.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.core.conftest import CHAT, Telemetry
from tests.fakes.openai_server import FakeOpenAI

SRC = str(Path(__file__).resolve().parents[2] / "src")

# Modules that only some configurations or endpoints need: budgets, the Redis client, the tokenizer, the
# ledger, the usage sources of stored objects, audio and Batch files, OpenTelemetry's baggage (read only
# once something else has imported it) and its instrumentor base with packaging (the dependency check
# reads openai.__version__).
NOT_AT_START_UP = (
    "otel_openai_billing.budgets.guard",
    "otel_openai_billing.budgets.stores",
    "otel_openai_billing.budgets.policy",
    "otel_openai_billing.budgets.source",
    "otel_openai_billing.budgets.telemetry",
    "otel_openai_billing.ledger.writer",
    "otel_openai_billing.sources.audio",
    "otel_openai_billing.sources.batch",
    "otel_openai_billing.sources.fine_tuning",
    "otel_openai_billing.sources.responses",
    "opentelemetry.baggage",
    "redis",
    "tiktoken",
    "packaging.requirements",
    "opentelemetry.instrumentation.instrumentor",
    "opentelemetry.instrumentation.dependencies",
)
# Loaded by the price thread instrument() starts, never by importing the package.
PRICING = ("genai_prices", "otel_openai_billing.pricing.engine")


def run_python(code: str, *path: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with this checkout's package first on the path (after ``path``)."""
    pythonpath = os.pathsep.join([*path, SRC, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath}
    for key in [k for k in env if k.startswith("OTEL_OPENAI_BILLING_")]:
        del env[key]  # the default configuration
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_import_and_instrument_load_nothing_a_default_configuration_does_not_need() -> None:
    code = f"""
import json, sys
import otel_openai_billing
after_import = sorted(m for m in {PRICING!r} if m in sys.modules)
from otel_openai_billing import OpenAIBillingInstrumentor
OpenAIBillingInstrumentor().instrument()
after_instrument = sorted(m for m in {NOT_AT_START_UP!r} if m in sys.modules)
print(json.dumps([after_import, after_instrument]))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    after_import, after_instrument = json.loads(proc.stdout.splitlines()[-1])
    assert after_import == []
    assert after_instrument == []


@pytest.mark.parametrize("base_first", [False, True], ids=["ours-first", "base-first"])
def test_is_an_opentelemetry_instrumentor_whichever_is_imported_first(base_first: bool) -> None:
    base = "from opentelemetry.instrumentation.instrumentor import BaseInstrumentor"
    ours = "from otel_openai_billing import OpenAIBillingInstrumentor"
    first, second = (base, ours) if base_first else (ours, base)
    code = f"""
{first}
{second}
print(isinstance(OpenAIBillingInstrumentor(), BaseInstrumentor),
      issubclass(OpenAIBillingInstrumentor, BaseInstrumentor))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_one_instance_and_a_warning_for_each_repeated_call(
    server: FakeOpenAI, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    assert OpenAIBillingInstrumentor() is OpenAIBillingInstrumentor()
    tel = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    with caplog.at_level(logging.WARNING):
        instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
        assert instrumentor.is_instrumented_by_opentelemetry
        OpenAIBillingInstrumentor().instrument(tracer_provider=tel.tracer_provider)
        client.chat.completions.create(**CHAT)
        instrumentor.uninstrument()
        assert not instrumentor.is_instrumented_by_opentelemetry
        instrumentor.uninstrument()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("Attempting to instrument while already instrumented") == 1
    assert messages.count("Attempting to uninstrument while already uninstrumented") == 1
    assert len(tel.spans()) == 1


def test_dependency_check_agrees_with_opentelemetrys_on_the_installed_sdk() -> None:
    instrumentor = OpenAIBillingInstrumentor()
    expected = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    assert expected is None  # the test environment's openai is one we support
    assert instrumentor._check_dependency_conflicts() is None


_FAKE_SDK_CHECK = """
import json
from opentelemetry.instrumentation.dependencies import DependencyConflictError
from otel_openai_billing import OpenAIBillingInstrumentor
instrumentor = OpenAIBillingInstrumentor()
conflict = instrumentor._check_dependency_conflicts()
out = {"conflict": str(conflict) if conflict else None}
if conflict:
    try:
        instrumentor.instrument(raise_exception_on_conflict=True)
    except DependencyConflictError as exc:
        out["raised"] = str(exc)
    out["returned"] = instrumentor.instrument()
    out["instrumented"] = instrumentor.is_instrumented_by_opentelemetry
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("version", "conflict"),
    [("0.28.1", True), ("1.29.9", True), ("1.30.0", False), ("3.99.2", False), ("4.0.0", True)],
)
def test_an_sdk_outside_the_range_is_a_dependency_conflict(
    tmp_path: Path, version: str, conflict: bool
) -> None:
    # An installed openai at `version`, found before the real one: its package and its metadata.
    (tmp_path / "openai").mkdir()
    (tmp_path / "openai" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    dist = tmp_path / f"openai-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: openai\nVersion: {version}\n")
    proc = run_python(_FAKE_SDK_CHECK, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    if not conflict:
        assert out == {"conflict": None}
        return
    message = (
        'only instruments "openai >= 1.30.0, < 4", but currently installed version '
        f'("openai {version}") falls outside of that range'
    )
    assert message in out["conflict"] and message in out["raised"]
    assert (out["returned"], out["instrumented"]) == (None, False)
    assert f"OpenAIBillingInstrumentor {message}" in proc.stderr  # logged when not raised


def test_a_call_right_after_instrument_is_priced(server: FakeOpenAI, client: openai.OpenAI) -> None:
    # The price data loads on a thread that instrument() starts; a call that ends before it is done
    # waits for it rather than going unpriced.
    tel = Telemetry()
    instrumentor = OpenAIBillingInstrumentor()
    server.next_usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        client.chat.completions.create(**CHAT)
    finally:
        instrumentor.uninstrument()
    attrs = tel.only_span().attributes
    # gpt-4o-mini-2024-07-18 at $0.15 in / $0.60 out per 1M: 1000 x 0.15/1M + 500 x 0.60/1M = 0.00045.
    assert attrs[n.COST_STATUS] == "priced"
    assert Decimal(repr(attrs[n.COST_AMOUNT])) == Decimal("0.00045")
