"""One answer: the CLI, given the instrumentation's configuration, reproduces the span's cost exactly.

An override file (set through OTEL_OPENAI_BILLING_PRICE_FILES, as an app would) prices the alias
`gpt-4o-mini`; the API answers with the dated snapshot `gpt-4o-mini-2024-07-18`. The span, `cost` and
`explain` on the exported span must agree, and the entry that matches nothing is reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_openai_billing import names as n
from otel_openai_billing.pricing import PriceQuery, Pricer
from otel_openai_billing.usage import Usage
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

SRC = str(Path(__file__).resolve().parents[2] / "src")
OVERRIDES = {
    "schema": 1,
    "note": "negotiated rates",
    "models": [
        {
            "match": {"exact": "gpt-4o-mini"},
            "prices": [{"per_1m_tokens": {"input": "0.10", "cached_input": "0.05", "output": "0.40"}}],
        },
        {"match": {"exact": "gpt-4o-minii"}, "prices": [{"per_1m_tokens": {"input": "1", "output": "1"}}]},
    ],
}
USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200},
}
# 800 uncached x $0.10/1M = 0.00008; 200 cached x $0.05/1M = 0.00001; 500 output x $0.40/1M = 0.0002.
EXPECTED = "0.00029"


@pytest.fixture
def price_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(OVERRIDES))
    monkeypatch.setenv("OTEL_OPENAI_BILLING_PRICE_FILES", str(path))
    yield path


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
    )


def test_cli_and_span_agree(
    price_file: Path, telemetry: Telemetry, server: FakeOpenAI, client: openai.OpenAI, tmp_path: Path
) -> None:
    server.next_usage = USAGE
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    span = telemetry.only_span()
    attrs = span.attributes
    assert attrs[n.RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[n.COST_PRICE_LAYER] == "override"  # the alias entry applies to the snapshot
    assert attrs[n.COST_AMOUNT] == float(EXPECTED)

    day = datetime.fromtimestamp(span.start_time / 1e9, UTC).date()
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"):
        result = cli(
            "cost", model, "--input-tokens", "1000", "--cached-tokens", "200", "--output-tokens", "500",
            "--date", day.isoformat(), "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        assert (payload["amount_usd"], payload["layer"]) == (EXPECTED, "override")

    exported = tmp_path / "span.json"
    exported.write_text(span.to_json())
    explained = cli("explain", str(exported))
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "800 tokens x $0.1 / 1M tokens" in explained.stdout
    assert "200 tokens x $0.05 / 1M tokens" in explained.stdout
    assert f"= ${EXPECTED} USD" in explained.stdout
    assert "agrees" in explained.stdout

    # The same span as OTLP/JSON (what a Collector's file exporter writes), read from stdin.
    otlp = MessageToJson(encode_spans([span]))
    as_otlp = cli("explain", "-", "--json", stdin=otlp)
    assert as_otlp.returncode == 0, as_otlp.stdout + as_otlp.stderr
    [report] = json.loads(as_otlp.stdout)["spans"]
    assert (report["amount_usd"], report["agrees"]) == (EXPECTED, True)

    # A span whose cost does not match the configuration is called out.
    tampered = json.loads(span.to_json())
    tampered["attributes"][n.COST_AMOUNT] = 0.0001
    differs = cli("explain", "-", stdin=json.dumps(tampered))
    assert differs.returncode == 1 and "DIFFERS" in differs.stdout


def test_status_reports_an_override_that_matches_no_model(price_file: Path) -> None:
    result = cli("prices", "status")
    assert result.returncode == 1
    assert 'exact "gpt-4o-mini" -> gpt-4o-mini' in result.stdout
    assert 'at /models/1 (exact "gpt-4o-minii") matches no model in the price data' in result.stdout


def test_never_matched_override_entry_is_logged_at_exit(
    price_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pricer = Pricer([price_file])
    cost = pricer.price(Usage(1000, 500), PriceQuery("gpt-4o-mini-2024-07-18"))
    assert cost.layer == "override"
    with caplog.at_level("WARNING", logger="otel_openai_billing.pricing"):
        pricer.report_unmatched()
    [record] = caplog.records
    assert "/models/1" in record.getMessage() and "gpt-4o-minii" in record.getMessage()
    assert "matched none of the 1 calls priced" in record.getMessage()


def test_price_file_error_is_printed_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"schema": 1, "models": [{"match": {"exact": "x"}, "prices": [{"per_1m_tokens": {"input": 1.5}}]}]}'
    )
    result = cli("cost", "gpt-4o", "--input-tokens", "10", "--output-tokens", "10", "--price-file", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("a price must be a string") == 1, result.stderr


def test_price_file_error_is_logged_once_by_the_instrumentation(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server: FakeOpenAI,
    client: openai.OpenAI,
) -> None:
    from otel_openai_billing import OpenAIBillingInstrumentor

    bad = tmp_path / "bad.json"
    bad.write_text("{")
    monkeypatch.setenv("OTEL_OPENAI_BILLING_PRICE_FILES", str(bad))
    instrumentor = OpenAIBillingInstrumentor()
    with caplog.at_level("WARNING", logger="otel_openai_billing"):
        instrumentor.instrument()
        # The price files load off the start-up path; the first call priced waits for them, so the
        # error is in the log by the time it returns.
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    instrumentor.uninstrument()
    assert sum(str(bad) in r.getMessage() for r in caplog.records) == 1
