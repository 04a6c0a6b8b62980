"""The Prometheus rules, their promtool unit tests, the Alertmanager and Prometheus examples.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages; these tests
fail (never skip) when they are missing. Metric names are checked against the names the package
exports, derived from otel_openai_billing.names with the exporter's own rule (promnames.py), and
that rule is checked against the real opentelemetry-exporter-prometheus.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import promnames
import pytest
import yaml

from otel_openai_billing import names

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "prometheus"
RULES = PROM_DIR / "rules.yml"
RULES_TEST = PROM_DIR / "rules_test.yml"
QUERIES_DOC = ROOT / "docs" / "queries.md"
INSTALL_HINT = (
    "is not installed. Install it with: apt-get update && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} {INSTALL_HINT}")
    return path


def _run(*args: str | Path, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


# --- the tools accept the files ------------------------------------------------------------------
def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 21 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = _run(_tool("promtool"), "test", "rules", RULES_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config() -> None:
    result = _run(_tool("amtool"), "check-config", PROM_DIR / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    result = _run(_tool("promtool"), "check", "config", PROM_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "127.0.0.1:9464" in targets  # the SDK exporter's default port, on loopback


# --- the unit tests assert: a changed threshold, budget or name makes them fail ------------------
MUTATIONS = {
    "hourly budget 50 -> 70": ("expr: vector(50)", "expr: vector(70)"),
    "hourly budget 50 -> 40": ("expr: vector(50)", "expr: vector(40)"),
    "customer budget 20 -> 30": ("expr: vector(20)", "expr: vector(30)"),
    "customer budget 20 -> 15": ("expr: vector(20)", "expr: vector(15)"),
    "error ratio 5% -> 7%": ("rate10m > 0.05", "rate10m > 0.07"),
    "error ratio 5% -> 3%": ("rate10m > 0.05", "rate10m > 0.03"),
    "cost spike factor 3 -> 5": (
        "increase1h > 3 * openai_billing:cost_usd_hourly",
        "increase1h > 5 * openai_billing:cost_usd_hourly",
    ),
    "cost spike factor 3 -> 1.5": (
        "increase1h > 3 * openai_billing:cost_usd_hourly",
        "increase1h > 1.5 * openai_billing:cost_usd_hourly",
    ),
    "cost spike floor 1 -> 0.5": (
        "openai_billing:cost_usd:increase1h > 1\n",
        "openai_billing:cost_usd:increase1h > 0.5\n",
    ),
    "token spike factor 3 -> 1.5": ("tokens:increase1h > 3 *", "tokens:increase1h > 1.5 *"),
    "token floor 100k -> 50k": ("> 100000", "> 50000"),
    "unpriced without the new-series arm": (
        "> 0\n          or\n",
        "> 0\n          and\n",
    ),
    "cost metric renamed": ("gen_ai_client_operation_cost_total", "gen_ai_client_operation_cost_usd_total"),
    "unpriced metric renamed": ("openai_billing_unpriced_calls_total", "openai_billing_unpriced_calls"),
    "duration metric renamed": (
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_operation_duration_count",
    ),
    "error label renamed": ('error_type!=""', 'error_type_name!=""'),
    "customer label renamed": ("openai_billing_customer_id!~", "customer_id!~"),
    "budget near-limit 80% -> 90%": (">= 0.8 < 1", ">= 0.9 < 1"),
    "budget near-limit 80% -> 70%": (">= 0.8 < 1", ">= 0.7 < 1"),
    "budget near-limit without the upper bound": (">= 0.8 < 1", ">= 0.8"),
    "budget exhausted 100% -> 110%": ("ratio >= 1\n", "ratio >= 1.1\n"),
    "budget exhausted 100% -> 99%": ("ratio >= 1\n", "ratio >= 0.99\n"),
    "budget level summed across replicas": (
        "max by (openai_billing_budget_name, openai_billing_budget_scope) (openai_billing_budget_spend)",
        "sum by (openai_billing_budget_name, openai_billing_budget_scope) (openai_billing_budget_spend)",
    ),
    "budget spend gauge renamed": ("(openai_billing_budget_spend)", "(openai_billing_budget_spend_usd)"),
    "spend limit without the new-series arm": (
        "[10m])) > 0\n          or\n",
        "[10m])) > 0\n          and\n",
    ),
    "spend limit new-series arm without > 0": ("offset 10m\n          ) > 0", "offset 10m\n          )"),
    "spend limit metric renamed": (
        "increase(openai_billing_spend_limit_exceeded_total",
        "increase(openai_billing_spend_limit_exceeded",
    ),
    "spend limit code label renamed": (
        "by (openai_billing_error_code) (increase",
        "by (error_code) (increase",
    ),
    "budget refusals counted as errors": (
        ',error_type!~"otel_openai_billing\\\\.Budget.*"}[10m]))\n',
        "}[10m]))\n",
    ),
    "store errors window 10m -> 5m": ("budget_store_errors_total[10m]", "budget_store_errors_total[5m]"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_unit_tests_fail_when_a_rule_changes(mutation: str, tmp_path: Path) -> None:
    old, new = MUTATIONS[mutation]
    text = RULES.read_text()
    assert old in text, f"mutation {mutation!r} no longer applies to rules.yml"
    (tmp_path / "rules.yml").write_text(text.replace(old, new))
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    result = _run(_tool("promtool"), "test", "rules", "rules_test.yml", cwd=tmp_path)
    assert result.returncode != 0, f"promtool test rules still passes after: {mutation}"


# --- names --------------------------------------------------------------------------------------
def test_name_rule_matches_the_real_prometheus_exporter() -> None:
    """Record each instrument through opentelemetry-exporter-prometheus and read the names it exposes."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.metrics import Observation
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import REGISTRY, generate_latest
    except ImportError as exc:  # a test dependency, not optional
        pytest.fail(f"install opentelemetry-exporter-prometheus and prometheus_client: {exc}")

    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        meter = provider.get_meter(names.INSTRUMENTATION_SCOPE)
        for name, kind, unit in promnames.INSTRUMENTS:
            if kind == "histogram":
                meter.create_histogram(name, unit=unit).record(1.0, {names.REQUEST_MODEL: "gpt-4o"})
            elif kind == "gauge":
                meter.create_observable_gauge(
                    name, callbacks=[lambda _: [Observation(1.0, {names.REQUEST_MODEL: "gpt-4o"})]], unit=unit
                )
            else:
                meter.create_counter(name, unit=unit).add(1.0, {names.REQUEST_MODEL: "gpt-4o"})
        text = generate_latest(REGISTRY).decode()
    finally:
        provider.shutdown()  # also unregisters the reader's collector from REGISTRY

    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#") and "gpt-4o" in line
    }
    assert exposed == promnames.exported_metric_names()
    assert "gen_ai_client_operation_cost_total" in exposed  # "{USD}" is an annotation: no unit suffix
    assert "gen_ai_client_operation_duration_seconds_bucket" in exposed
    assert 'gen_ai_request_model="gpt-4o"' in text  # attribute -> label: dots become underscores


def _rule_exprs() -> list[str]:
    return [rule["expr"] for rule in _rules()]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _check_exprs(exprs: list[str], extra_metrics: set[str] = frozenset()) -> tuple[set[str], list[str]]:
    exported = promnames.exported_metric_names()
    labels = promnames.exported_label_names()
    used: set[str] = set()
    problems = []
    for expr in exprs:
        metrics, used_labels = promnames.scan_promql(expr)
        used |= metrics
        problems += [f"unknown metric {m} in: {expr}" for m in metrics - exported - set(extra_metrics)]
        problems += [f"unknown label {label} in: {expr}" for label in used_labels - labels]
    return used, problems


def test_rules_reference_only_exported_metrics_and_labels() -> None:
    used, problems = _check_exprs(_rule_exprs(), _recorded())
    assert problems == []
    # The scan must have found the metrics, or the check above proves nothing.
    assert {
        "gen_ai_client_operation_cost_total",
        "openai_billing_unpriced_calls_total",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_token_usage_sum",
    } <= used


def test_unit_test_series_use_exported_names() -> None:
    doc = yaml.safe_load(RULES_TEST.read_text())
    series = [s["series"] for test in doc["tests"] for s in test["input_series"]]
    _, problems = _check_exprs(series)
    assert problems == []


def test_name_check_catches_a_renamed_metric_or_label() -> None:
    expr = 'sum(rate(gen_ai_client_cost_USD_total{customer="a"}[5m]))'
    _, problems = _check_exprs([expr])
    assert problems == [
        f"unknown metric gen_ai_client_cost_USD_total in: {expr}",
        f"unknown label customer in: {expr}",
    ]


def _doc_promql_blocks() -> list[str]:
    return re.findall(r"```promql\n(.*?)```", QUERIES_DOC.read_text(), flags=re.S)


def test_docs_promql_references_only_exported_metrics() -> None:
    blocks = _doc_promql_blocks()
    assert len(blocks) >= 5
    exprs = [
        line for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")
    ]
    used, problems = _check_exprs(exprs, _recorded())
    assert problems == []
    assert "gen_ai_client_operation_cost_total" in used


def test_budgets_are_recording_rules_the_alerts_use() -> None:
    rules = {r.get("record") or r["alert"]: r for r in _rules()}
    assert rules["openai_billing:budget_hourly_usd"]["expr"] == "vector(50)"
    assert rules["openai_billing:budget_customer_daily_usd"]["expr"] == "vector(20)"
    assert "openai_billing:budget_hourly_usd" in rules["OpenAISpendOverHourlyBudget"]["expr"]
    assert "openai_billing:budget_customer_daily_usd" in rules["OpenAICustomerDailyBudgetExceeded"]["expr"]
    assert names.OVERFLOW_VALUE in rules["openai_billing:customer_spend_usd:increase1d"]["expr"]
