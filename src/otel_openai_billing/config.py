"""Configuration: ``instrument()`` keyword arguments, each with an ``OTEL_OPENAI_BILLING_*`` variable.

A keyword argument wins over its environment variable, which wins over the default. The table in the
README is generated from ``OPTIONS`` (see ``tests/test_config.py``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its keyword, its environment variable, its default and what it does."""

    name: str
    env: str
    default: Any
    kind: type
    doc: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "inject_stream_usage",
        "OTEL_OPENAI_BILLING_INJECT_STREAM_USAGE",
        True,
        bool,
        "Ask for usage on chat and legacy completion streams (`stream_options.include_usage`) when the "
        "caller did not, and hide the extra usage chunk from the caller. Turn off for servers that "
        "reject the option.",
    ),
    Option(
        "client_request_id",
        "OTEL_OPENAI_BILLING_CLIENT_REQUEST_ID",
        True,
        bool,
        "Send an `X-Client-Request-Id` header (unless the caller set one), the same on every retry, and "
        "record it, so calls that never got a server id can still be traced with OpenAI support.",
    ),
    Option(
        "price_files",
        "OTEL_OPENAI_BILLING_PRICE_FILES",
        (),
        tuple,
        "Price override files (JSON, see docs/pricing.md), highest precedence first. The variable "
        "takes paths separated by the OS path separator (`:` on Linux).",
    ),
    Option(
        "metrics",
        "OTEL_OPENAI_BILLING_METRICS",
        True,
        bool,
        "Record the duration, token, time-to-first-chunk and cost metrics.",
    ),
)


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved settings the instrumentation runs with."""

    inject_stream_usage: bool = True
    client_request_id: bool = True
    price_files: tuple[str, ...] = ()
    metrics: bool = True


def _parse(option: Option, raw: Any, source: str) -> Any:
    if option.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{source}: expected true or false, got {raw!r}")
    if option.kind is tuple:
        if isinstance(raw, str):
            return tuple(p for p in raw.split(os.pathsep) if p)
        return tuple(str(p) for p in raw)
    return raw


def resolve(kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from ``instrument()`` keyword arguments and the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if kwargs.get(option.name) is not None:
            values[option.name] = _parse(option, kwargs[option.name], f"instrument({option.name}=...)")
        elif option.env in environ:
            values[option.name] = _parse(option, environ[option.env], option.env)
    return Config(**values)
