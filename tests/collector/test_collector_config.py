"""Static validation of the OpenTelemetry Collector configs in collector-config/.

No Collector binary can be installed where this project is built (not on PyPI, npm or Debian, no Go
module proxy), so these files are never executed here. This validator checks what can be checked
without one: structure, references, connector wiring, component types and their keys against an
allow-list taken from the Collector's documentation, loopback-only listeners and ${env:VAR} syntax.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from otel_openai_billing import names

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))

_EXPORTER_HELPER = {"timeout", "sending_queue", "retry_on_failure"}
_GRPC_CLIENT = {
    "endpoint",
    "tls",
    "headers",
    "compression",
    "keepalive",
    "balancer_name",
    "auth",
    "authority",
    "read_buffer_size",
    "write_buffer_size",
    "wait_for_ready",
}
_HTTP_CLIENT = {
    "endpoint",
    "tls",
    "headers",
    "compression",
    "auth",
    "read_buffer_size",
    "write_buffer_size",
    "max_idle_conns",
    "idle_conn_timeout",
    "proxy_url",
}

# Allowed top-level keys of each component type, from the component's documentation
# (README.md, config.go) in open-telemetry/opentelemetry-collector and -contrib.
ALLOWED_KEYS: dict[str, dict[str, set[str]]] = {
    "receivers": {
        # opentelemetry-collector receiver/otlpreceiver/README.md, config.go
        "otlp": {"protocols"},
    },
    "processors": {
        # opentelemetry-collector processor/memorylimiterprocessor/README.md
        "memory_limiter": {
            "check_interval",
            "limit_mib",
            "spike_limit_mib",
            "limit_percentage",
            "spike_limit_percentage",
        },
        # opentelemetry-collector processor/batchprocessor/README.md
        "batch": {
            "timeout",
            "send_batch_size",
            "send_batch_max_size",
            "metadata_keys",
            "metadata_cardinality_limit",
        },
        # opentelemetry-collector-contrib processor/filterprocessor/README.md
        "filter": {"error_mode", "traces", "metrics", "logs", "profiles"},
        # opentelemetry-collector-contrib processor/tailsamplingprocessor/README.md
        "tail_sampling": {
            "policies",
            "decision_wait",
            "num_traces",
            "expected_new_traces_per_sec",
            "decision_cache",
            "sample_on_first_match",
            "drop_pending_traces_on_shutdown",
        },
    },
    "exporters": {
        # opentelemetry-collector exporter/otlpexporter/README.md (gRPC client + exporterhelper)
        "otlp": _GRPC_CLIENT | _EXPORTER_HELPER,
        # opentelemetry-collector exporter/otlphttpexporter/README.md
        "otlphttp": _HTTP_CLIENT
        | _EXPORTER_HELPER
        | {"traces_endpoint", "metrics_endpoint", "logs_endpoint", "encoding"},
        # opentelemetry-collector-contrib exporter/clickhouseexporter/README.md
        "clickhouse": _EXPORTER_HELPER
        | {
            "endpoint",
            "username",
            "password",
            "ttl",
            "database",
            "connection_params",
            "create_schema",
            "compress",
            "async_insert",
            "tls",
            "logs_table_name",
            "traces_table_name",
            "profiles_table_name",
            "metrics_tables",
            "cluster_name",
            "table_engine",
            "json",
        },
        # opentelemetry-collector-contrib exporter/prometheusexporter/README.md
        "prometheus": {
            "endpoint",
            "tls",
            "const_labels",
            "namespace",
            "send_timestamps",
            "metric_expiration",
            "resource_constant_labels",
            "resource_to_telemetry_conversion",
            "enable_open_metrics",
            "without_scope_info",
            "add_metric_suffixes",
            "translation_strategy",
        },
        # opentelemetry-collector-contrib exporter/prometheusremotewriteexporter/README.md
        "prometheusremotewrite": _HTTP_CLIENT
        | {
            "timeout",
            "retry_on_failure",
            "namespace",
            "external_labels",
            "resource_to_telemetry_conversion",
            "remote_write_queue",
            "target_info",
            "export_created_metric",
            "add_metric_suffixes",
            "send_metadata",
            "max_batch_size_bytes",
            "max_batch_request_parallelism",
            "wal",
            "translation_strategy",
        },
        # opentelemetry-collector-contrib exporter/fileexporter/README.md
        "file": {
            "path",
            "rotation",
            "format",
            "encoding",
            "append",
            "compression",
            "flush_interval",
            "group_by",
        },
        # opentelemetry-collector exporter/debugexporter/README.md
        "debug": {"verbosity", "sampling_initial", "sampling_thereafter", "use_internal_logger"},
    },
    "connectors": {
        # opentelemetry-collector-contrib connector/sumconnector/README.md, config.go
        "sum": {"spans", "spanevents", "metrics", "datapoints", "logs"},
        # opentelemetry-collector-contrib connector/countconnector/README.md
        "count": {"spans", "spanevents", "metrics", "datapoints", "logs"},
        # opentelemetry-collector-contrib connector/spanmetricsconnector/README.md, config.go
        "spanmetrics": {
            "histogram",
            "dimensions",
            "exclude_dimensions",
            "dimensions_cache_size",
            "resource_metrics_cache_size",
            "aggregation_temporality",
            "namespace",
            "metrics_flush_interval",
            "metrics_expiration",
            "exemplars",
            "events",
            "resource_metrics_key_attributes",
            "delta_temporality",
            "aggregation_cardinality_limit",
            "include_instrumentation_scope",
            "add_resource_attributes",
            "calls_dimensions",
        },
        # opentelemetry-collector connector/forwardconnector/README.md (no settings)
        "forward": set(),
    },
    "extensions": {
        # opentelemetry-collector-contrib extension/healthcheckextension/README.md
        "health_check": {"endpoint", "path", "tls", "response_body", "check_collector_pipeline"},
    },
}

# (exporter-side pipeline type, receiver-side pipeline type) each connector supports, from the
# "Supported Pipeline Types" table of its README.
CONNECTOR_PIPELINES = {
    "sum": {("traces", "metrics"), ("metrics", "metrics"), ("logs", "metrics")},
    "count": {("traces", "metrics"), ("metrics", "metrics"), ("logs", "metrics")},
    "spanmetrics": {("traces", "metrics")},
    "forward": {("traces", "traces"), ("metrics", "metrics"), ("logs", "logs")},
}

# tailsamplingprocessor README: policy types; each policy holds name, type and a block named
# after its type (always_sample has none).
TAIL_SAMPLING_POLICY_TYPES = {
    "always_sample",
    "latency",
    "numeric_attribute",
    "probabilistic",
    "status_code",
    "string_attribute",
    "trace_state",
    "trace_flags",
    "rate_limiting",
    "bytes_limiting",
    "span_count",
    "boolean_attribute",
    "ottl_condition",
    "and",
    "drop",
    "composite",
}

PIPELINE_TYPES = {"traces", "metrics", "logs"}
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$")
ENV_REF = re.compile(r"\$\{env:[A-Z_][A-Z0-9_]*(?::-[^}]*)?\}")
ALL_INTERFACES = ("0.0.0.0", "[::]", "::")


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _strings(node: object, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _listeners(config: dict):
    """(path, endpoint or None) for every server socket the config opens."""
    for rid, rcfg in (config.get("receivers") or {}).items():
        for proto, pcfg in ((rcfg or {}).get("protocols") or {}).items():
            yield f"receivers.{rid}.protocols.{proto}", (pcfg or {}).get("endpoint")
    for eid, ecfg in (config.get("exporters") or {}).items():
        if _type(eid) == "prometheus":
            yield f"exporters.{eid}", (ecfg or {}).get("endpoint")
    for xid, xcfg in (config.get("extensions") or {}).items():
        yield f"extensions.{xid}", (xcfg or {}).get("endpoint")


def validate(config: dict) -> list[str]:
    """Every problem found in one parsed Collector config; empty when it is valid."""
    problems: list[str] = []
    service = config.get("service") or {}
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines is empty")

    # Component types and keys.
    for kind, allowed in ALLOWED_KEYS.items():
        for cid, ccfg in (config.get(kind) or {}).items():
            ctype = _type(cid)
            if ctype not in allowed:
                problems.append(f"{kind}.{cid}: unknown component type {ctype!r}")
                continue
            for key in set(ccfg or {}) - allowed[ctype]:
                problems.append(f"{kind}.{cid}: unknown key {key!r}")
    for kind in set(config) - set(ALLOWED_KEYS) - {"service"}:
        problems.append(f"unknown top-level section {kind!r}")

    # Pipelines reference defined components, and every defined component is used.
    used: dict[str, set[str]] = {k: set() for k in ("receivers", "processors", "exporters")}
    connector_sides: dict[str, dict[str, set[str]]] = {}
    connectors = config.get("connectors") or {}
    for pid, pipeline in pipelines.items():
        ptype = _type(pid)
        if ptype not in PIPELINE_TYPES:
            problems.append(f"pipeline {pid}: unknown type {ptype!r}")
        for kind in ("receivers", "processors", "exporters"):
            refs = (pipeline or {}).get(kind) or []
            if kind != "processors" and not refs:
                problems.append(f"pipeline {pid}: no {kind}")
            for ref in refs:
                if kind != "processors" and ref in connectors:
                    side = "exporter" if kind == "exporters" else "receiver"
                    connector_sides.setdefault(ref, {"exporter": set(), "receiver": set()})[side].add(ptype)
                elif ref in (config.get(kind) or {}):
                    used[kind].add(ref)
                else:
                    problems.append(f"pipeline {pid}: {kind[:-1]} {ref!r} is not defined")
    for kind, ids in used.items():
        for cid in set(config.get(kind) or {}) - ids:
            problems.append(f"{kind}.{cid} is defined but no pipeline uses it")
    for cid in connectors:
        sides = connector_sides.get(cid, {"exporter": set(), "receiver": set()})
        if not sides["exporter"] or not sides["receiver"]:
            problems.append(f"connectors.{cid} must be an exporter in one pipeline and a receiver in another")
            continue
        supported = CONNECTOR_PIPELINES.get(_type(cid), set())
        for pair in {(e, r) for e in sides["exporter"] for r in sides["receiver"]} - supported:
            problems.append(f"connectors.{cid}: {pair[0]} -> {pair[1]} is not a supported pipeline pair")
    declared_ext = set(service.get("extensions") or [])
    for xid in declared_ext - set(config.get("extensions") or {}):
        problems.append(f"service.extensions: {xid!r} is not defined")
    for xid in set(config.get("extensions") or {}) - declared_ext:
        problems.append(f"extensions.{xid} is defined but not in service.extensions")

    # Tail sampling policies.
    for pid, pcfg in (config.get("processors") or {}).items():
        if _type(pid) != "tail_sampling":
            continue
        for policy in (pcfg or {}).get("policies") or []:
            ptype = policy.get("type")
            if ptype not in TAIL_SAMPLING_POLICY_TYPES:
                problems.append(f"processors.{pid}: policy {policy.get('name')!r} has unknown type {ptype!r}")
                continue
            if set(policy) - {"name", "type", ptype}:
                problems.append(f"processors.{pid}: policy {policy.get('name')!r} has keys for another type")
            if ptype != "always_sample" and ptype not in policy:
                problems.append(f"processors.{pid}: policy {policy.get('name')!r} lacks its {ptype!r} block")

    # Listeners: explicit, loopback by default, never all interfaces.
    for path, endpoint in _listeners(config):
        if endpoint is None:
            problems.append(f"{path}: no endpoint (the default may bind all interfaces)")
        elif not LOOPBACK.match(str(endpoint)):
            problems.append(f"{path}: listens on {endpoint!r}, not a loopback address")
    for path, value in _strings(config):
        if any(value.startswith(a) or f"//{a}" in value for a in ALL_INTERFACES) or "0.0.0.0" in value:
            problems.append(f"{path}: {value!r} binds all interfaces")

    # Environment variables: only ${env:VAR} (optionally ${env:VAR:-default}).
    for path, value in _strings(config):
        if "$" in ENV_REF.sub("", value):
            problems.append(f"{path}: {value!r} uses an environment reference other than ${{env:VAR}}")
    return problems


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_there_are_configs() -> None:
    assert {p.name for p in CONFIGS} >= {"agent.yaml", "gateway.yaml", "gateway-traces-only.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_is_valid(path: Path) -> None:
    assert validate(_load(path)) == []


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_says_it_was_not_executed(path: Path) -> None:
    assert "Validated statically" in path.read_text() and "NOT executed" in path.read_text()


# --- the configs do what the README promises ------------------------------------------------------
def test_gateway_exports_traces_to_jaeger_honeycomb_clickhouse_and_metrics_to_prometheus() -> None:
    config = _load(CONFIG_DIR / "gateway.yaml")
    pipelines = config["service"]["pipelines"]
    assert set(pipelines["traces"]["exporters"]) == {"otlp/jaeger", "otlp/honeycomb", "clickhouse"}
    assert set(pipelines["metrics"]["exporters"]) == {"prometheus", "prometheusremotewrite"}
    assert config["exporters"]["otlp/honeycomb"]["headers"] == {
        "x-honeycomb-team": "${env:HONEYCOMB_API_KEY}"
    }
    assert config["exporters"]["clickhouse"]["traces_table_name"] == "otel_traces"
    for pipeline in pipelines.values():
        assert pipeline["processors"][0] == "memory_limiter"
        assert pipeline["processors"][-1] == "batch"


def _policies(config: dict) -> dict[str, dict]:
    return {p["name"]: p for p in config["processors"]["tail_sampling"]["policies"]}


@pytest.mark.parametrize("name", ["gateway.yaml", "gateway-traces-only.yaml"])
def test_tail_sampling_keeps_errors_and_expensive_calls(name: str) -> None:
    policies = _policies(_load(CONFIG_DIR / name))
    assert policies["errors"]["status_code"]["status_codes"] == ["ERROR"]
    conditions = policies["expensive-calls"]["ottl_condition"]["span"]
    assert 'attributes["gen_ai.usage.cost.amount"] >= 0.10' in conditions
    assert 'attributes["openai_billing.rollup.cost.amount"] >= 0.10' in conditions
    assert policies["large-outputs"]["numeric_attribute"]["key"] == "gen_ai.usage.output_tokens"
    assert policies["baseline"]["probabilistic"]["sampling_percentage"] == 10


def test_traces_only_gateway_derives_the_package_metric_names_before_sampling() -> None:
    from otel_openai_billing import names

    config = _load(CONFIG_DIR / "gateway-traces-only.yaml")
    cost = config["connectors"]["sum"]["spans"][names.METRIC_COST]
    assert cost["source_attribute"] == names.COST_AMOUNT
    assert names.METRIC_UNPRICED_CALLS in config["connectors"]["count"]["spans"]
    pipelines = config["service"]["pipelines"]
    assert {"sum", "count", "spanmetrics"} <= set(pipelines["traces/in"]["exporters"])
    assert "tail_sampling" not in pipelines["traces/in"]["processors"]


def test_billing_pipeline_is_unsampled_and_filtered_to_billing_spans() -> None:
    config = _load(CONFIG_DIR / "billing.yaml")
    (pipeline,) = config["service"]["pipelines"].values()
    assert "tail_sampling" not in config.get("processors", {})
    assert "filter/billing" in pipeline["processors"]
    assert set(pipeline["exporters"]) == {"clickhouse", "file/billing"}
    assert config["exporters"]["clickhouse"]["traces_table_name"] == "otel_traces"
    assert config["exporters"]["file/billing"]["format"] == "json"  # what the OTLP JSON reader reads
    conditions = config["processors"]["filter/billing"]["traces"]["span"]
    assert any(names.INSTRUMENTATION_SCOPE in c for c in conditions)
    assert any(names.BILLABLE in c for c in conditions)


def test_agent_forwards_everything_to_the_gateway() -> None:
    config = _load(CONFIG_DIR / "agent.yaml")
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["otlp/gateway"]


# --- negative tests: a broken config is reported ---------------------------------------------------
def _gateway() -> dict:
    return copy.deepcopy(_load(CONFIG_DIR / "gateway.yaml"))


def _traces_only() -> dict:
    return copy.deepcopy(_load(CONFIG_DIR / "gateway-traces-only.yaml"))


def test_reports_an_undefined_component() -> None:
    config = _gateway()
    config["service"]["pipelines"]["traces"]["exporters"].append("otlp/tempo")
    assert validate(config) == ["pipeline traces: exporter 'otlp/tempo' is not defined"]


def test_reports_an_unused_component() -> None:
    config = _gateway()
    config["service"]["pipelines"]["metrics"]["exporters"].remove("prometheusremotewrite")
    assert validate(config) == ["exporters.prometheusremotewrite is defined but no pipeline uses it"]


def test_reports_a_connector_used_on_one_side_only() -> None:
    config = _traces_only()
    config["service"]["pipelines"]["metrics/spans"]["receivers"].remove("count")
    assert validate(config) == [
        "connectors.count must be an exporter in one pipeline and a receiver in another"
    ]


def test_reports_a_connector_in_an_unsupported_pipeline_pair() -> None:
    config = _traces_only()
    config["service"]["pipelines"]["traces/sampled"]["receivers"].append("spanmetrics")
    assert validate(config) == ["connectors.spanmetrics: traces -> traces is not a supported pipeline pair"]


def test_reports_an_unknown_key() -> None:
    config = _gateway()
    config["processors"]["tail_sampling"]["decision_wiat"] = "10s"
    config["exporters"]["clickhouse"]["table"] = "otel_traces"
    assert sorted(validate(config)) == [
        "exporters.clickhouse: unknown key 'table'",
        "processors.tail_sampling: unknown key 'decision_wiat'",
    ]


def test_reports_an_unknown_component_type_and_policy_type() -> None:
    config = _gateway()
    config["processors"]["cost_sampler"] = {}
    config["service"]["pipelines"]["traces"]["processors"].insert(1, "cost_sampler")
    config["processors"]["tail_sampling"]["policies"].append({"name": "x", "type": "cost", "cost": {}})
    assert sorted(validate(config)) == [
        "processors.cost_sampler: unknown component type 'cost_sampler'",
        "processors.tail_sampling: policy 'x' has unknown type 'cost'",
    ]


def test_reports_a_listener_on_all_interfaces() -> None:
    config = _gateway()
    config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:4317"
    assert validate(config) == [
        "receivers.otlp.protocols.grpc: listens on '0.0.0.0:4317', not a loopback address",
        "receivers.otlp.protocols.grpc.endpoint: '0.0.0.0:4317' binds all interfaces",
    ]


def test_reports_a_listener_left_at_its_default() -> None:
    config = _gateway()
    del config["extensions"]["health_check"]["endpoint"]
    assert validate(config) == ["extensions.health_check: no endpoint (the default may bind all interfaces)"]


def test_reports_a_shell_style_environment_reference() -> None:
    config = _gateway()
    config["exporters"]["otlp/honeycomb"]["headers"]["x-honeycomb-team"] = "${HONEYCOMB_API_KEY}"
    assert validate(config) == [
        "exporters.otlp/honeycomb.headers.x-honeycomb-team: '${HONEYCOMB_API_KEY}' uses an environment "
        "reference other than ${env:VAR}"
    ]
