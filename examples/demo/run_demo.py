"""Offline demo: a real app, unchanged, run under `opentelemetry-instrument`, with no API key.

It starts a local OpenAI-compatible server and a local OTLP receiver on 127.0.0.1, runs
examples/zero_code/app.py under `opentelemetry-instrument` exporting real OTLP, and prints what
arrived: one line per OpenAI call (operation, model, request id, tokens, cost) and one span in full.
The app also writes a billing ledger (OTEL_OPENAI_BILLING_LEDGER), and the demo ends with the
`otel-openai-billing usage` table read from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.otlp_receiver import OTLPReceiver, ReceivedSpan  # noqa: E402

from otel_openai_billing import names as n  # noqa: E402
from otel_openai_billing.cli import main as cli  # noqa: E402

APP = ROOT / "examples" / "zero_code" / "app.py"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="billing-ledger-") as ledger:
        code = _run(ledger)
        if code == 0:
            print(f"\n$ otel-openai-billing usage --from {ledger} --by model\n")
            code = cli(["usage", "--from", ledger, "--by", "model"])
    return code


def _run(ledger: str) -> int:
    with FakeOpenAI() as server, OTLPReceiver() as receiver:
        server.fail_request_number(4, status=429)  # the app's last call is rate limited
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-demo-not-a-real-key",
            "OPENAI_BASE_URL": server.base_url,
            "OTEL_SERVICE_NAME": "billing-demo",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_OPENAI_BILLING_LEDGER": ledger,
        }
        command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(APP)]
        print("$ opentelemetry-instrument python examples/zero_code/app.py   (against a local fake API)\n")
        proc = subprocess.run(command, env=env, cwd=ROOT, timeout=120)
        if proc.returncode != 0:
            return proc.returncode
        spans = receiver.wait_for_spans(len(server.requests), timeout=20)

    _table(spans)
    _one_span(spans[1])
    return 0


def _table(spans: list[ReceivedSpan]) -> None:
    rows = [("operation", "model", "request id", "in", "out", "cost USD", "status")]
    total = 0.0
    for span in spans:
        a = span.attributes
        cost = a.get(n.COST_AMOUNT)
        total += cost or 0.0
        rows.append(
            (
                a.get(n.OPERATION_NAME, ""),
                a.get(n.RESPONSE_MODEL) or a.get(n.REQUEST_MODEL, ""),
                a.get(n.OPENAI_REQUEST_ID, "-"),
                str(a.get(n.USAGE_INPUT_TOKENS, "-")),
                str(a.get(n.USAGE_OUTPUT_TOKENS, "-")),
                f"{cost:.8f}" if cost is not None else "-",
                a.get(n.ERROR_TYPE) or a.get(n.COST_STATUS, ""),
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    print(f"\n{len(spans)} OpenAI calls, one span each, exported over OTLP:\n")
    for i, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ntotal priced spend: ${total:.8f}\n")


def _one_span(span: ReceivedSpan) -> None:
    print(f"The streamed call's span, as exported ({span.name}, kind {span.kind}):")
    print(json.dumps(span.attributes, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
