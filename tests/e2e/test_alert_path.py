"""The alert path, every hop real: the openai SDK calls a local OpenAI-compatible server under the
instrumentation, whose metrics the OpenTelemetry SDK's Prometheus exporter serves; a real Prometheus
scrapes them and evaluates the project's prometheus/rules.yml; a real Alertmanager, configured from
prometheus/alertmanager.yml, delivers the alerts to a webhook this test runs.

Prometheus and Alertmanager come from Debian (`scripts/install-system-deps.sh`, run by `make test`);
this test fails, never skips, without them. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import openai
import pytest
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, start_http_server

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.e2e.servers import (
    ROOT,
    Process,
    WebhookReceiver,
    free_port,
    http_json,
    http_ok,
    listening_sockets_beyond_loopback,
    require_binary,
    wait_until,
)
from tests.fakes.openai_server import FakeOpenAI

INSTALL = (
    "Install it with: scripts/install-system-deps.sh (apt-get install prometheus prometheus-alertmanager)"
)
UNPRICED_MODEL = "e2e-private-model"  # FakeOpenAI echoes unknown models; no price table has it
TIMEOUT = 60.0


def rules_for_test() -> dict[str, Any]:
    """prometheus/rules.yml with every `for:` shortened to 1s, and nothing else changed.

    A real evaluation cycle can only wait seconds here, not the minutes the rules wait for in
    production; thresholds, budgets, windows and expressions are the shipped ones.
    """
    doc = yaml.safe_load((ROOT / "prometheus" / "rules.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    return doc


def alertmanager_for_test(webhook_port: int) -> dict[str, Any]:
    """prometheus/alertmanager.yml with its webhooks pointed at this test's receiver (same paths) and
    the grouping delays shortened from 30s/5m to 1s; routes, matchers and receivers are the shipped ones.
    """
    doc = yaml.safe_load((ROOT / "prometheus" / "alertmanager.yml").read_text())
    doc["route"]["group_wait"] = doc["route"]["group_interval"] = "1s"
    for receiver in doc["receivers"]:
        for hook in receiver["webhook_configs"]:
            path = hook["url"].split("/", 3)[3]
            hook["url"] = f"http://127.0.0.1:{webhook_port}/{path}"
    return doc


class Stack:
    """The running pieces, as the test sees them."""

    def __init__(
        self,
        client: openai.OpenAI,
        server: FakeOpenAI,
        prometheus_url: str,
        webhook: WebhookReceiver,
        processes: list[Process],
    ):
        self.client, self.server, self.webhook = client, server, webhook
        self.prometheus_url, self.processes = prometheus_url, processes

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant-query result of `promql` in the running Prometheus."""
        answer = http_json(f"{self.prometheus_url}/api/v1/query?query={quote(promql)}")
        return answer["data"]["result"]


@pytest.fixture(scope="module")
def app_metrics_port() -> Iterator[int]:
    """The instrumented app, in this process: metrics through the SDK's Prometheus exporter, served
    on 127.0.0.1 from a registry of its own (so nothing leaks into other tests)."""
    registry = CollectorRegistry()
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    metrics_http, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    instrumentor = OpenAIBillingInstrumentor()
    try:
        instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
        yield metrics_http.server_port
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
        metrics_http.shutdown()
        metrics_http.server_close()


@pytest.fixture(scope="module")
def stack(app_metrics_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = require_binary("prometheus", INSTALL)
    alertmanager_bin = require_binary("prometheus-alertmanager", INSTALL)
    work = tmp_path_factory.mktemp("alert-path")
    started = time.monotonic()
    am_port, prom_port = free_port(), free_port()
    prom_url = f"http://127.0.0.1:{prom_port}"

    with FakeOpenAI() as server, WebhookReceiver() as webhook:
        am_config = work / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_for_test(webhook.port)))
        rules = work / "rules.yml"
        rules.write_text(yaml.safe_dump(rules_for_test()))
        prom_config = work / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(rules)],
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                    },
                    "scrape_configs": [
                        {
                            "job_name": "openai-app",
                            "static_configs": [{"targets": [f"127.0.0.1:{app_metrics_port}"]}],
                        }
                    ],
                }
            )
        )
        alertmanager = Process(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={work / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",  # no gossip: no listener beyond loopback
            ],
            work,
        )
        prometheus = Process(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={work / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            work,
        )
        with (
            alertmanager,
            prometheus,
            openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0) as client,
        ):
            alertmanager.wait_until(
                "Alertmanager ready", lambda: http_ok(f"http://127.0.0.1:{am_port}/-/ready")
            )
            prometheus.wait_until("Prometheus ready", lambda: http_ok(f"{prom_url}/-/ready"))
            for proc in (alertmanager, prometheus):
                assert proc.proc is not None
                assert listening_sockets_beyond_loopback(proc.proc.pid) == [], proc.name
            print(f"\nalert path: Prometheus and Alertmanager ready in {time.monotonic() - started:.1f} s")
            yield Stack(client, server, prom_url, webhook, [prometheus, alertmanager])


def test_unpriced_call_and_spend_over_budget_reach_the_webhook(stack: Stack) -> None:
    start = time.monotonic()

    # A call to a model no price table knows: counted by openai_billing.unpriced_calls.
    stack.client.chat.completions.create(model=UNPRICED_MODEL, messages=[{"role": "user", "content": "hi"}])
    # A priced call creates the cost series; once Prometheus has scraped it, a second, large call
    # raises it. gpt-4o is 2.50 USD per 1M input and 10 USD per 1M output tokens, so 2M + 2M tokens
    # cost 5 + 20 = 25 USD. rate()[15m] divides the increase by 900 s: 25 / 900 * 3600 = 100 USD/h,
    # over the shipped 50 USD/h budget (extrapolation only adds to it).
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    stack.client.chat.completions.create(**chat)
    wait_until(
        "the gpt-4o cost series scraped",
        lambda: stack.query('gen_ai_client_operation_cost_total{gen_ai_request_model="gpt-4o"}'),
        TIMEOUT,
        stack.processes,
    )
    stack.server.next_usage = {
        "prompt_tokens": 2_000_000,
        "completion_tokens": 2_000_000,
        "total_tokens": 4_000_000,
    }
    stack.client.chat.completions.create(**chat)

    expected = {"OpenAIUnpricedCalls", "OpenAISpendOverHourlyBudget"}
    wait_until(
        f"alerts {sorted(expected)} delivered to the webhook",
        lambda: expected <= {alert["labels"]["alertname"] for _, alert in stack.webhook.alerts()},
        TIMEOUT,
        stack.processes,
    )
    print(f"alert path: both alerts at the webhook {time.monotonic() - start:.1f} s after the first call")

    delivered = {alert["labels"]["alertname"]: (path, alert) for path, alert in stack.webhook.alerts()}
    # Nothing else fired: no errors, no customer, and no baseline for the spike rules.
    assert set(delivered) == expected

    path, unpriced = delivered["OpenAIUnpricedCalls"]
    assert path == "/alerts/tickets"  # severity=ticket goes to the default receiver
    assert unpriced["status"] == "firing"
    assert unpriced["labels"] == {
        "alertname": "OpenAIUnpricedCalls",
        "severity": "ticket",
        "gen_ai_request_model": UNPRICED_MODEL,
        "gen_ai_response_model": UNPRICED_MODEL,
    }
    assert unpriced["annotations"]["summary"] == f"Unpriced OpenAI calls for model {UNPRICED_MODEL}"

    path, spend = delivered["OpenAISpendOverHourlyBudget"]
    assert path == "/alerts/page"  # severity=page is routed to billing-pager
    assert spend["status"] == "firing"
    assert spend["labels"] == {"alertname": "OpenAISpendOverHourlyBudget", "severity": "page"}
    rate = float(spend["annotations"]["summary"].split()[3])
    assert rate >= 100, spend["annotations"]["summary"]
