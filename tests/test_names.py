"""names.py survives a semantic-conventions release that drops the deprecated gen_ai.*/openai.* constants."""

from __future__ import annotations

import importlib

import pytest

from otel_openai_billing import names as n


@pytest.mark.parametrize("name", sorted(n.SEMCONV))
def test_fallback_is_the_package_string(name: str) -> None:
    module, constant, published = n.SEMCONV[name]
    installed = getattr(importlib.import_module(module), constant, None)
    # While the installed package has the constant, the fallback must be exactly its string.
    if installed is not None:
        assert installed == published, (
            f"{constant}: package says {installed!r}, names.py falls back to {published!r}"
        )
    assert getattr(n, name) == published


def test_a_release_without_the_constant_uses_the_published_string(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

    monkeypatch.delattr(gen_ai_attributes, "GEN_AI_PROVIDER_NAME")
    assert n._semconv("PROVIDER_NAME") == "gen_ai.provider.name"
    monkeypatch.setitem(
        n.SEMCONV, "PROVIDER_NAME", ("opentelemetry.semconv.gone", "X", "gen_ai.provider.name")
    )
    assert n._semconv("PROVIDER_NAME") == "gen_ai.provider.name"


def test_cache_write_naming() -> None:
    # We emit the drafts' cache_write name; the package's cache_creation spelling is kept for queries.
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

    assert n.USAGE_CACHE_WRITE_INPUT_TOKENS == "gen_ai.usage.cache_write.input_tokens"
    package = getattr(gen_ai_attributes, "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS", None)
    if package is not None:
        assert package == n.USAGE_CACHE_CREATION_INPUT_TOKENS
