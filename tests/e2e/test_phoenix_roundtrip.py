"""The trace round trip, every hop real: the openai SDK calls a local OpenAI-compatible server under
the instrumentation; the spans go over OTLP (http/protobuf, the SDK's exporter) to a real Arize
Phoenix; the test reads them back through Phoenix's REST and GraphQL APIs.

Phoenix also prices LLM spans itself, from the gen_ai token attributes and a price table of its own,
so its cost is an independent check of ours. The models below are ones both tables price the same
(checked for the gpt-4o, 4.1, 5 and o-series families with arize-phoenix 20.26.1 and genai-prices
0.2.3, cached and reasoning tokens included); a model only one table knows, or one whose price
differs between them, would show up here as a disagreement.

Phoenix is installed by `make phoenix` (a dependency of `make test`) in .venv-phoenix, or found
through $OTEL_OPENAI_BILLING_PHOENIX. Its gRPC port binds all interfaces whatever it is told, so it
runs in a private network namespace (`unshare -n`, needs root) and the test reaches its HTTP port
through a forwarder on 127.0.0.1.
"""

from __future__ import annotations

import os
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.e2e.servers import ROOT, NetnsForwarder, Process, http_json, http_ok, require_binary, wait_until
from tests.fakes.openai_server import FakeOpenAI

PHOENIX_ENV = "OTEL_OPENAI_BILLING_PHOENIX"
PHOENIX_PORT = 6006  # inside Phoenix's own network namespace, where nothing else listens
PROJECT = "otel-openai-billing-e2e"
TIMEOUT = 90.0  # cold start on a fresh database is ~30 s


@dataclass(frozen=True)
class Case:
    model: str
    usage: dict[str, Any]
    cost: float  # expected USD, derived by hand in the comment above each case


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


# Prices in USD per 1M tokens (input / cached input / output), as OpenAI lists them.
CASES = [
    # gpt-4o-mini 0.15 / 0.075 / 0.60: 200 uncached * 0.15 + 1000 cached * 0.075 + 300 * 0.60
    # = 0.00003 + 0.000075 + 0.00018
    Case("gpt-4o-mini", _usage(1200, 300, cached=1000), 0.000285),
    # gpt-4o 2.50 / 1.25 / 10: 1000 * 2.50 + 1000 * 10 = 0.0025 + 0.01
    Case("gpt-4o", _usage(1000, 1000), 0.0125),
    # gpt-4.1-mini 0.40 / 0.10 / 1.60: 10000 * 0.40 + 2000 * 1.60 = 0.004 + 0.0032
    Case("gpt-4.1-mini", _usage(10_000, 2000), 0.0072),
    # o4-mini 1.10 / 0.275 / 4.40, reasoning tokens are part of the output tokens:
    # 3000 uncached * 1.10 + 2000 cached * 0.275 + 3000 * 4.40 = 0.0033 + 0.00055 + 0.0132
    Case("o4-mini", _usage(5000, 3000, cached=2000, reasoning=2500), 0.01705),
]


def phoenix_executable() -> str:
    path = os.environ.get(PHOENIX_ENV) or str(ROOT / ".venv-phoenix" / "bin" / "phoenix")
    if not Path(path).is_file():
        pytest.fail(
            f"Arize Phoenix not found at {path}. Install it with `make phoenix` (a dependency of "
            f"`make test`), or point ${PHOENIX_ENV} at a phoenix executable."
        )
    return path


@pytest.fixture(scope="module")
def phoenix_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Phoenix on a fresh database, reachable at the returned URL on 127.0.0.1."""
    phoenix = phoenix_executable()
    require_binary("unshare", "It is in Debian's util-linux package.")
    require_binary("ip", "It is in Debian's iproute2 package.")
    if os.geteuid() != 0:
        pytest.fail(
            "The Phoenix test runs Phoenix in a private network namespace (unshare -n): run it as root."
        )
    work = tmp_path_factory.mktemp("phoenix")
    env = dict(
        os.environ,
        PHOENIX_WORKING_DIR=str(work / "data"),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(PHOENIX_PORT),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    argv = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" serve', phoenix]
    started = time.monotonic()
    with Process("phoenix", argv, work, env) as proc:
        assert proc.proc is not None
        with NetnsForwarder(proc.proc.pid, PHOENIX_PORT) as forwarder:
            url = f"http://127.0.0.1:{forwarder.port}"
            proc.wait_until("Phoenix healthy", lambda: http_ok(f"{url}/healthz"), TIMEOUT)
            print(f"\nphoenix: ready in {time.monotonic() - started:.1f} s")
            yield url


@dataclass
class Exported:
    request_ids: dict[str, str]  # model -> the x-request-id the SDK received
    spans: dict[str, dict[str, Any]]  # model -> span as Phoenix's REST API returns it
    costs: dict[str, dict[str, Any]]  # model -> span costSummary from Phoenix's GraphQL API


SPAN_COSTS = """
query ($project: String!) {
  getProjectByName(name: $project) {
    spans(first: 100) {
      edges {
        node { spanId costSummary { prompt { tokens cost } completion { tokens cost } total { cost } } }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def exported(phoenix_url: str) -> Iterator[Exported]:
    tracer_provider = TracerProvider(
        resource=Resource.create({"service.name": "e2e-app", "openinference.project.name": PROJECT})
    )
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix_url}/v1/traces"))
    )
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    request_ids = {}
    try:
        with FakeOpenAI() as server, openai.OpenAI(api_key="sk-test", base_url=server.base_url) as client:
            for case in CASES:
                server.next_usage = case.usage
                client.chat.completions.create(model=case.model, messages=[{"role": "user", "content": "hi"}])
                request_ids[case.model] = server.requests[-1].response_request_id
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()

    # Phoenix writes spans to its database in the background: poll until all of them are there.
    def read_back() -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        try:
            rest = http_json(f"{phoenix_url}/v1/projects/{PROJECT}/spans?limit=100")["data"]
        except urllib.error.HTTPError as e:
            if e.code == 404:  # the project is created with its first span
                return None
            raise
        graphql = http_json(
            f"{phoenix_url}/graphql", {"query": SPAN_COSTS, "variables": {"project": PROJECT}}
        )
        project = graphql["data"]["getProjectByName"]
        costs = (
            {e["node"]["spanId"]: e["node"]["costSummary"] for e in project["spans"]["edges"]}
            if project
            else {}
        )
        if len(rest) < len(CASES) or len(costs) < len(CASES):
            return None
        return rest, costs

    rest, costs = wait_until(f"{len(CASES)} spans in Phoenix", read_back, TIMEOUT)
    spans = {s["attributes"][n.REQUEST_MODEL]: s for s in rest}
    yield Exported(
        request_ids,
        spans,
        {model: costs[span["context"]["span_id"]] for model, span in spans.items()},
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.model)
def test_request_id_tokens_and_cost_read_back_from_phoenix(exported: Exported, case: Case) -> None:
    span = exported.spans[case.model]
    attrs = span["attributes"]
    assert span["name"] == f"chat {case.model}"
    assert span["span_kind"] == "LLM"  # Phoenix recognised it as a GenAI chat span
    assert attrs[n.OPENAI_REQUEST_ID] == exported.request_ids[case.model]
    assert attrs[n.OPENAI_REQUEST_ID].startswith("req_")
    assert attrs[n.USAGE_INPUT_TOKENS] == case.usage["prompt_tokens"]
    assert attrs[n.USAGE_OUTPUT_TOKENS] == case.usage["completion_tokens"]
    assert attrs[n.USAGE_CACHE_READ_INPUT_TOKENS] == case.usage["prompt_tokens_details"]["cached_tokens"]
    assert attrs[n.COST_AMOUNT] == pytest.approx(case.cost, rel=1e-9)
    assert attrs[n.COST_CURRENCY] == "USD"
    assert attrs[n.COST_SOURCE] == n.COST_SOURCE_LOCAL
    assert attrs[n.COST_STATUS] == n.COST_STATUS_PRICED


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.model)
def test_phoenix_prices_the_span_as_we_do(exported: Exported, case: Case) -> None:
    attrs = exported.spans[case.model]["attributes"]
    theirs = exported.costs[case.model]
    # Same total, and the same split: Phoenix's prompt cost is our input plus cached-input
    # components, its completion cost our output component (reasoning included).
    assert theirs["total"]["cost"] == pytest.approx(attrs[n.COST_AMOUNT], rel=1e-9)
    ours_prompt = attrs[n.COST_COMPONENT_PREFIX + "input"] + attrs.get(
        n.COST_COMPONENT_PREFIX + "cached_input", 0
    )
    assert theirs["prompt"]["cost"] == pytest.approx(ours_prompt, rel=1e-9)
    assert theirs["completion"]["cost"] == pytest.approx(attrs[n.COST_COMPONENT_PREFIX + "output"], rel=1e-9)
    assert theirs["prompt"]["tokens"] == case.usage["prompt_tokens"]
    assert theirs["completion"]["tokens"] == case.usage["completion_tokens"]
