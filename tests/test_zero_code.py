"""Zero code: `opentelemetry-instrument python app.py` finds the instrumentor by its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing import names as n
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.otlp_receiver import OTLPReceiver

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "zero_code" / "app.py"


def test_entry_point_is_registered_under_openai_billing() -> None:
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "openai_billing"]
    assert ep.load() is OpenAIBillingInstrumentor


def test_opentelemetry_instrument_exports_spans_and_metrics_over_otlp() -> None:
    responses_calls = 1 if _has_responses_api() else 0
    with FakeOpenAI() as server, OTLPReceiver() as receiver:
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-zero-code",
            "OPENAI_BASE_URL": server.base_url,
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        }
        # The app's last call is answered with a 429 (it does not retry): error spans keep the id.
        server.fail_request_number(3 + responses_calls, status=429)
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        proc = subprocess.run(
            [str(instrument), sys.executable, str(APP)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        expected = 4 + responses_calls
        spans = receiver.wait_for_spans(expected, timeout=20)
        duration = receiver.wait_for_metric(n.METRIC_OPERATION_DURATION, timeout=20)

    assert len(spans) == expected
    assert [s.attributes[n.OPENAI_REQUEST_ID] for s in spans] == [
        r.response_request_id for r in server.requests
    ]
    assert {s.resource_attributes["service.name"] for s in spans} == {"zero-code-app"}
    assert all(s.kind == "CLIENT" and s.scope_name == n.INSTRUMENTATION_SCOPE for s in spans)
    stream = spans[1]
    assert stream.attributes[n.USAGE_OUTPUT_TOKENS] > 0
    assert stream.attributes[n.COST_AMOUNT] > 0
    assert spans[-1].status_code == "ERROR"
    assert spans[-1].attributes[n.ERROR_TYPE] == "openai.RateLimitError"
    assert sum(p.count for p in duration.points) == expected


def _has_responses_api() -> bool:
    import openai

    return hasattr(openai.OpenAI(api_key="x"), "responses")
