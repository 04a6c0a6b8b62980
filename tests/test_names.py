"""names.py spells the semantic-convention names exactly as the semantic-conventions package does,
without importing it at run time."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from otel_openai_billing import names as n


@pytest.mark.parametrize("name", sorted(n.SEMCONV))
def test_name_is_the_package_string(name: str) -> None:
    module, constant = n.SEMCONV[name]
    installed = getattr(importlib.import_module(module), constant, None)
    if installed is None:
        # Since 0.66b2 the package marks these constants deprecated; a release may drop one. The name
        # stays ours, as published; only a rename is a failure.
        pytest.skip(f"the installed opentelemetry-semantic-conventions has no {constant}")
    assert getattr(n, name) == installed, (
        f"{constant}: package says {installed!r}, names.py {getattr(n, name)!r}"
    )


def test_every_semconv_name_is_checked() -> None:
    # Each gen_ai.*/http.*/openai.*/server.*/error.*/exception.* constant names.py writes out must be in the
    # table the test above walks; a name added without its entry would go unchecked.
    standard = (
        "gen_ai.",
        "http.",
        "openai.api.",
        "openai.request.service_tier",
        "openai.response.",
        "server.",
        "error.",
        "exception.",
    )
    drafts = {  # not (yet) in the package: written here, with where they come from, in names.py
        n.USAGE_CACHE_WRITE_INPUT_TOKENS,
        n.USAGE_CACHE_CREATION_INPUT_TOKENS,
        n.USAGE_AUDIO_INPUT_TOKENS,
        n.USAGE_AUDIO_OUTPUT_TOKENS,
        n.USAGE_IMAGE_INPUT_TOKENS,
        n.USAGE_IMAGE_OUTPUT_TOKENS,
        n.COST_AMOUNT,
        n.COST_CURRENCY,
        n.COST_SOURCE,
        n.METRIC_COST,
    }
    written = {k for k, v in vars(n).items() if k.isupper() and isinstance(v, str) and v.startswith(standard)}
    unchecked = {k for k in written - set(n.SEMCONV) if getattr(n, k) not in drafts}
    assert not unchecked, f"names.py writes out {sorted(unchecked)} without a SEMCONV entry"


def test_instrumenting_imports_no_semconv_module() -> None:
    # The OpenTelemetry SDK imports some semconv modules of its own; ours must add none.
    code = (
        "import sys\n"
        "import opentelemetry.sdk.metrics, opentelemetry.sdk.trace\n"
        "before = set(sys.modules)\n"
        "from otel_openai_billing import OpenAIBillingInstrumentor\n"
        "OpenAIBillingInstrumentor().instrument()\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('opentelemetry.semconv')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_cache_write_naming() -> None:
    # We emit the drafts' cache_write name; the package's cache_creation spelling is kept for queries.
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

    assert n.USAGE_CACHE_WRITE_INPUT_TOKENS == "gen_ai.usage.cache_write.input_tokens"
    package = getattr(gen_ai_attributes, "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS", None)
    if package is not None:
        assert package == n.USAGE_CACHE_CREATION_INPUT_TOKENS
