"""Prometheus names of the package's metrics, derived from otel_openai_billing.names.

The rule is the one opentelemetry-exporter-prometheus applies (its ``_mapping.py``): dots and other
invalid characters become ``_``; a unit in curly braces (``{USD}``, ``{token}``) is an annotation and is
dropped; ``s`` becomes the suffix ``_seconds``; counters get ``_total``; histograms are exposed as
``_bucket``/``_sum``/``_count``. ``test_rules.py`` checks this rule against the real exporter.
"""

from __future__ import annotations

import re

from otel_openai_billing import names

# (OTel name, instrument kind, unit). Names come from names.py; the units are the ones the package
# records with (only the cost unit has a constant in names.py).
INSTRUMENTS: tuple[tuple[str, str, str], ...] = (
    (names.METRIC_OPERATION_DURATION, "histogram", "s"),
    (names.METRIC_TOKEN_USAGE, "histogram", "{token}"),
    (names.METRIC_TIME_TO_FIRST_CHUNK, "histogram", "s"),
    (names.METRIC_COST, "counter", names.METRIC_COST_UNIT),
    (names.METRIC_UNPRICED_CALLS, "counter", "{call}"),
    (names.METRIC_ATTRIBUTION_OVERFLOW, "counter", "{call}"),
    (names.METRIC_BUDGET_SPEND, "gauge", names.METRIC_COST_UNIT),
    (names.METRIC_BUDGET_LIMIT, "gauge", names.METRIC_COST_UNIT),
    (names.METRIC_BUDGET_BLOCKED, "counter", "{call}"),
    (names.METRIC_BUDGET_OVER, "counter", "{call}"),
    (names.METRIC_BUDGET_STORE_ERRORS, "counter", "{error}"),
    (names.METRIC_SPEND_LIMIT_EXCEEDED, "counter", "{call}"),
)

# The subset of the exporter's UCUM -> Prometheus unit table that this package's units can hit.
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": ""}
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"{.*}")

# Labels Prometheus or the exporter add on their own.
EXTRA_LABELS = frozenset({"le", "job", "instance", "otel_scope_name", "otel_scope_version", "__name__"})


def base_name(name: str, kind: str, unit: str) -> str:
    """The family name the Prometheus exporter gives an instrument."""
    prom = _INVALID_NAME_CHARS.sub("_", name)
    suffix = _ANNOTATION.sub("", unit)
    suffix = _UNIT_SUFFIX.get(suffix, _INVALID_NAME_CHARS.sub("_", suffix).strip("_"))
    if suffix and not prom.endswith("_" + suffix):
        prom += "_" + suffix
    if kind == "counter" and not prom.endswith("_total"):
        prom += "_total"
    return prom


def sample_names(name: str, kind: str, unit: str) -> set[str]:
    """Every sample name a scrape shows for one instrument."""
    family = base_name(name, kind, unit)
    if kind == "histogram":
        return {family + "_bucket", family + "_sum", family + "_count"}
    return {family}


def exported_metric_names() -> set[str]:
    """Every Prometheus sample name the package's metrics produce."""
    out: set[str] = set()
    for instrument in INSTRUMENTS:
        out |= sample_names(*instrument)
    return out


def label_name(attribute: str) -> str:
    """The Prometheus label an OTel attribute key becomes."""
    return _INVALID_LABEL_CHARS.sub("_", attribute)


def exported_label_names() -> set[str]:
    """Labels that can appear on the package's metrics: every attribute name in names.py, sanitized."""
    attributes = {
        value
        for key, value in vars(names).items()
        if key.isupper()
        and isinstance(value, str)
        and "." in value
        and not value.endswith(".")
        and not key.startswith(("METRIC_", "PROVIDER_", "EVENT_"))
    }
    return {label_name(a) for a in attributes} | EXTRA_LABELS


# --- PromQL scanning --------------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
        "Inf",
        "NaN",
    }
)
# Grafana template variables and macros ($__rate_interval, $customer) are not metric names.
_GRAFANA_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?")


def scan_promql(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression references."""
    expr = _GRAFANA_VAR.sub("VAR", expr)
    labels: set[str] = set()
    body = _STRING.sub('""', expr)
    for matchers in _MATCHERS.findall(body):
        labels |= {m.group(1) for m in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers)}
    body = _MATCHERS.sub(" ", body)
    for _, grouping in _GROUPING.findall(body):
        labels |= {label.strip() for label in grouping.split(",") if label.strip()}
    body = _GROUPING.sub(" ", body)
    body = _RANGE.sub(" ", body)
    metrics = {
        m.group()
        for m in _IDENT.finditer(body)
        if m.group() not in _KEYWORDS and m.group() != "VAR" and not body[m.end() :].lstrip().startswith("(")
    }
    return metrics, labels
