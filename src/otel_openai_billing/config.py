"""Configuration: ``instrument()`` keyword arguments, each with an ``OTEL_OPENAI_BILLING_*`` variable.

A keyword argument wins over its environment variable, which wins over the default. The table in the
README is generated from ``OPTIONS`` (see ``tests/test_readme.py``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from . import names as n

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DEFAULT_BAGGAGE_KEYS = (("customer.id", "customer_id"), ("feature", "feature"))
_REQUEST_FIELDS = ("user", "safety_identifier", "prompt_cache_key")


# NamedTuples, not frozen dataclasses: as immutable, and created at import for a tenth of the cost
# (a dataclass compiles its generated methods when the module loads; start-up, docs/robustness.md).
class Option(NamedTuple):
    """One setting: its keyword, its environment variable, its default and what it does."""

    name: str
    env: str
    default: Any
    kind: type
    doc: str
    # Separates the items of a tuple or dict option in its environment variable.
    sep: str = os.pathsep
    # Returns what is wrong with a parsed value, or None if it is valid.
    check: Callable[[Any], str | None] | None = None


def _unknown_request_field(pairs: tuple[tuple[str, str], ...]) -> str | None:
    for field, _ in pairs:
        if field not in _REQUEST_FIELDS and not (field.startswith("metadata.") and len(field) > 9):
            return f"unknown request field {field!r}; expected {', '.join(_REQUEST_FIELDS)} or metadata.<key>"
    return None


def _below_one(number: int) -> str | None:
    return f"expected at least 1, got {number}" if number < 1 else None


def _store_url(url: str) -> str | None:
    if url == "memory" or url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return f"expected memory or a redis:// URL, got {url!r}"


def _store_policy(policy: str) -> str | None:
    return (
        None
        if policy in ("fail_open", "fail_closed")
        else f"expected fail_open or fail_closed, got {policy!r}"
    )


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
    Option(
        "baggage_keys",
        "OTEL_OPENAI_BILLING_BAGGAGE_KEYS",
        _DEFAULT_BAGGAGE_KEYS,
        dict,
        "Baggage entries read as attribution, as `baggage key=attribution key` pairs (`customer_id`, "
        "`feature` or a label name), e.g. `customer.id=customer_id,feature=feature`. `billing_context` "
        "wins over baggage. Empty turns baggage off.",
        sep=",",
    ),
    Option(
        "request_field_attribution",
        "OTEL_OPENAI_BILLING_REQUEST_FIELD_ATTRIBUTION",
        (),
        dict,
        "Request fields read as attribution, as `field=attribution key` pairs; fields are `user`, "
        "`safety_identifier`, `prompt_cache_key` and `metadata.<key>`, e.g. "
        "`safety_identifier=customer_id,metadata.feature=feature`. Off by default: the values land in "
        "your telemetry (see docs/attribution.md).",
        sep=",",
        check=_unknown_request_field,
    ),
    Option(
        "hash_request_fields",
        "OTEL_OPENAI_BILLING_HASH_REQUEST_FIELDS",
        False,
        bool,
        "Record values read from request fields as the first 16 hex digits of their SHA-256: keeps raw "
        "ids out of telemetry, but is a pseudonym, not anonymity (a known id can be hashed and matched).",
    ),
    Option(
        "metric_attribution_keys",
        "OTEL_OPENAI_BILLING_METRIC_ATTRIBUTION_KEYS",
        (),
        tuple,
        "Attribution keys also put on the cost counter and the token usage histogram, comma-separated "
        "(e.g. `customer_id,feature`). None by default: every distinct value is a time series.",
        sep=",",
    ),
    Option(
        "metric_attribution_limit",
        "OTEL_OPENAI_BILLING_METRIC_ATTRIBUTION_LIMIT",
        100,
        int,
        f"Distinct values per metric attribution key for the life of the process; later values are "
        f"recorded as `{n.OVERFLOW_VALUE}` and counted by `{n.METRIC_ATTRIBUTION_OVERFLOW}`.",
        check=_below_one,
    ),
    Option(
        "cost_rollup",
        "OTEL_OPENAI_BILLING_COST_ROLLUP",
        True,
        bool,
        f"Add each call's cost to the local root span of its trace (`{n.ROLLUP_COST}`, "
        f"`{n.ROLLUP_CALLS}`); needs the OpenTelemetry SDK's TracerProvider.",
    ),
    Option(
        "price_cache",
        "OTEL_OPENAI_BILLING_PRICE_CACHE",
        None,
        str,
        "Directory of the genai-prices data fetched by `otel-openai-billing prices update`; used instead "
        "of the data bundled with genai-prices when it holds a valid copy. Unset means "
        "`$XDG_CACHE_HOME/otel-openai-billing` (`~/.cache/otel-openai-billing`); `off` uses only the "
        "bundled data.",
    ),
    Option(
        "estimate_usage",
        "OTEL_OPENAI_BILLING_ESTIMATE_USAGE",
        True,
        bool,
        f"When a billable chat or Responses call ends without usage (stream closed early, a server "
        f"without `include_usage`), count its input and received output with OpenAI's tokenizer, "
        f"offline, and price it as `{n.COST_STATUS_ESTIMATED}` with `{n.COST_ESTIMATE_METHOD}`. Needs the "
        f"`estimate` extra; see docs/pricing.md.",
    ),
    Option(
        "tokenizer_dir",
        "OTEL_OPENAI_BILLING_TOKENIZER_DIR",
        None,
        str,
        "Directory holding `o200k_base.tiktoken` / `cl100k_base.tiktoken` (optionally `.gz`) for usage "
        "estimation; by default the files shipped by the `estimate` extra, then `TIKTOKEN_CACHE_DIR`.",
    ),
    Option(
        "ledger",
        "OTEL_OPENAI_BILLING_LEDGER",
        None,
        str,
        "Directory of the billing ledger: one JSON Lines billing record per billed call, one file per "
        "process per UTC day, written by a background thread (see docs/ledger.md). Off when unset.",
    ),
    Option(
        "ledger_queue_size",
        "OTEL_OPENAI_BILLING_LEDGER_QUEUE_SIZE",
        10_000,
        int,
        "Billing records the ledger holds before they are written; when full, records are dropped and "
        "counted in `openai_billing.ledger.dropped`, never waited for.",
        check=_below_one,
    ),
    Option(
        "budgets",
        "OTEL_OPENAI_BILLING_BUDGETS",
        (),
        object,
        "Spend limits enforced before each call (see docs/budgets.md): a list of "
        "`otel_openai_billing.budgets.budget(...)` or dicts; the variable takes the same as JSON, e.g. "
        '`[{"name": "per-customer", "scope": {"customer_id": "*"}, "window": "day", "limit_usd": "5"}]`.',
    ),
    Option(
        "budgets_file",
        "OTEL_OPENAI_BILLING_BUDGETS_FILE",
        None,
        str,
        "A JSON file of budgets, added to `budgets`; edits apply without a restart (checked each "
        "second), and an edit that does not parse is logged and the last good budgets stay.",
    ),
    Option(
        "budget_store",
        "OTEL_OPENAI_BILLING_BUDGET_STORE",
        "memory",
        str,
        "Where budget counters live: `memory` (this process only) or a Redis URL "
        "(`redis://host:6379/0`, shared by every replica; needs the `redis` extra).",
        check=_store_url,
    ),
    Option(
        "budget_store_timeout_ms",
        "OTEL_OPENAI_BILLING_BUDGET_STORE_TIMEOUT_MS",
        100,
        int,
        "The longest one budget store call may take (connect or answer); past it the failure policy applies.",
        check=_below_one,
    ),
    Option(
        "budget_on_store_error",
        "OTEL_OPENAI_BILLING_BUDGET_ON_STORE_ERROR",
        "fail_open",
        str,
        "When the budget store fails or times out: `fail_open` lets calls through (counted when it is "
        "back, with a warning and a metric) or `fail_closed` refuses calls a `block` budget covers.",
        check=_store_policy,
    ),
    Option(
        "budget_reservation_ttl",
        "OTEL_OPENAI_BILLING_BUDGET_RESERVATION_TTL",
        900,
        int,
        "Seconds a call's reservation is held if it is never settled (its process died); a call "
        "that outlives it still has its actual cost counted when it ends.",
        check=_below_one,
    ),
    Option(
        "budget_default_output_tokens",
        "OTEL_OPENAI_BILLING_BUDGET_DEFAULT_OUTPUT_TOKENS",
        16384,
        int,
        "Output tokens reserved for a call that sets no `max_tokens`/`max_completion_tokens`/"
        "`max_output_tokens`; such a call can overrun its reservation by what it writes beyond this.",
        check=_below_one,
    ),
    Option(
        "budget_context_tokens",
        "OTEL_OPENAI_BILLING_BUDGET_CONTEXT_TOKENS",
        100000,
        int,
        "Input tokens reserved for context the request does not carry (`previous_response_id`, "
        "`conversation`, stored `prompt`).",
        check=_below_one,
    ),
    Option(
        "budget_tokenizer",
        "OTEL_OPENAI_BILLING_BUDGET_TOKENIZER",
        True,
        bool,
        "Count a request's text with OpenAI's tokenizer (the `estimate` extra, offline) when reserving "
        "its worst case, once the encoding has loaded in the background; until then, and when off, "
        "UTF-8 bytes bound the tokens (about four times looser for English).",
    ),
)


class Config(NamedTuple):
    """The resolved settings the instrumentation runs with."""

    inject_stream_usage: bool = True
    client_request_id: bool = True
    price_files: tuple[str, ...] = ()
    metrics: bool = True
    baggage_keys: tuple[tuple[str, str], ...] = _DEFAULT_BAGGAGE_KEYS
    request_field_attribution: tuple[tuple[str, str], ...] = ()
    hash_request_fields: bool = False
    metric_attribution_keys: tuple[str, ...] = ()
    metric_attribution_limit: int = 100
    cost_rollup: bool = True
    price_cache: str | None = None
    estimate_usage: bool = True
    tokenizer_dir: str | None = None
    ledger: str | None = None
    ledger_queue_size: int = 10_000
    budgets: Any = ()
    budgets_file: str | None = None
    budget_store: str = "memory"
    budget_store_timeout_ms: int = 100
    budget_on_store_error: str = "fail_open"
    budget_reservation_ttl: int = 900
    budget_default_output_tokens: int = 16384
    budget_context_tokens: int = 100000
    budget_tokenizer: bool = True


def _parse(option: Option, raw: Any, source: str) -> Any:
    value = _convert(option, raw, source)
    problem = option.check(value) if option.check is not None else None
    if problem:
        raise ValueError(f"{source}: {problem}")
    return value


def _convert(option: Option, raw: Any, source: str) -> Any:
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
            return tuple(p.strip() for p in raw.split(option.sep) if p.strip())
        return tuple(str(p) for p in raw)
    if option.kind is dict:
        return _parse_pairs(option, raw, source)
    if option.kind is str:
        # A path may come as a PathLike; an empty value means unset.
        text = os.fspath(raw) if isinstance(raw, os.PathLike) else str(raw)
        return text.strip() or None
    if option.kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{source}: expected a whole number, got {raw!r}") from None
    return raw


def _parse_pairs(option: Option, raw: Any, source: str) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, Mapping):
        items = [(str(k), str(v)) for k, v in raw.items()]
    else:
        items = []
        for entry in str(raw).split(option.sep):
            if not entry.strip():
                continue
            key, eq, value = entry.partition("=")
            items.append((key.strip(), value.strip() if eq else ""))
    for key, value in items:
        if not key or not value:
            raise ValueError(f"{source}: expected key=value pairs, got {raw!r}")
    return tuple(items)


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
