"""The Grafana dashboard: valid JSON, a Prometheus datasource variable, the panels the issue asks
for, and PromQL that references only metrics and labels the package emits (derived from
otel_openai_billing.names by tests/prometheus/promnames.py) or recording rules in prometheus/rules.yml.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "grafana-openai-billing.json"

_spec = importlib.util.spec_from_file_location("promnames", ROOT / "tests" / "prometheus" / "promnames.py")
promnames = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(promnames)


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _targets(dashboard: dict) -> list[dict]:
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def _recorded() -> set[str]:
    doc = yaml.safe_load((ROOT / "prometheus" / "rules.yml").read_text())
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def test_is_valid_json_with_a_prometheus_datasource_variable() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_has_the_panels_the_issue_asks_for() -> None:
    titles = " | ".join(p["title"] for p in _dashboard()["panels"]).lower()
    for wanted in (
        "spend rate",
        "spend by model",
        "spend by customer",
        "spend by feature",
        "unpriced calls",
        "tokens by type",
        "error ratio",
        "p95 latency",
        "time to first chunk",
        "budgets: spend against limit",
        "spend-limit",
    ):
        assert wanted in titles, wanted


def test_every_query_references_only_emitted_metrics_and_labels() -> None:
    exported = promnames.exported_metric_names()
    labels = promnames.exported_label_names()
    recorded = _recorded()
    used: set[str] = set()
    for target in _targets(_dashboard()):
        metrics, used_labels = promnames.scan_promql(target["expr"])
        assert metrics, f"no metric found in {target['expr']}"
        assert metrics <= exported | recorded, f"{sorted(metrics - exported - recorded)} in {target['expr']}"
        assert used_labels <= labels, f"{sorted(used_labels - labels)} in {target['expr']}"
        used |= metrics
    assert {
        "gen_ai_client_operation_cost_total",
        "openai_billing_unpriced_calls_total",
        "gen_ai_client_token_usage_sum",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
    } <= used


def test_a_renamed_metric_would_be_caught() -> None:
    dashboard = _dashboard()
    dashboard["panels"][0]["targets"][0]["expr"] = "sum(rate(gen_ai_client_operation_cost_USD_total[5m]))"
    metrics, _ = promnames.scan_promql(dashboard["panels"][0]["targets"][0]["expr"])
    assert metrics - promnames.exported_metric_names() == {"gen_ai_client_operation_cost_USD_total"}
