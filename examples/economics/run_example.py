"""Offline example: from instrumented calls to margins, a forecast, an HTML report and Stripe usage.

It starts a local OpenAI-compatible server and a local Stripe-compatible meter-events server on
127.0.0.1 (no API key, nothing leaves the machine), makes OpenAI calls for three customers with
`instrument(ledger=...)`, then runs the commands a finance-minded engineer would:

    otel-openai-billing customers --revenue revenue.csv --min-margin 30
    otel-openai-billing forecast --growth 3x --swap gpt-4o=gpt-4o-mini:50%
    otel-openai-billing report --html report.html
    otel-openai-billing export stripe --dry-run, then for real, then again (nothing is sent twice)

Usage: python examples/economics/run_example.py [OUTPUT_DIR]   (default: a temporary directory)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.stripe_server import FakeStripe  # noqa: E402

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context  # noqa: E402

# (customer, feature, model, calls, input tokens, output tokens)
TRAFFIC = [
    ("acme", "search", "gpt-4o", 6, 2400, 600),
    ("acme", "chat", "gpt-4o-mini", 10, 900, 300),
    ("globex", "chat", "gpt-4o-mini", 8, 1200, 400),
    ("initech", "summarize", "gpt-4o", 3, 6000, 900),
]


def make_calls(server: FakeOpenAI, ledger: Path) -> None:
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), ledger=str(ledger))
    client = openai.OpenAI(api_key="sk-example", base_url=server.base_url)
    try:
        for customer, feature, model, calls, inp, out in TRAFFIC:
            with billing_context(customer_id=customer, feature=feature):
                for _ in range(calls):
                    server.next_usage = {
                        "prompt_tokens": inp,
                        "completion_tokens": out,
                        "total_tokens": inp + out,
                    }
                    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        # A background job with no customer: still counted, in a row of its own.
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()  # flushes the ledger
        client.close()


def cli(*args: str, env: dict[str, str] | None = None) -> None:
    print(f"\n$ otel-openai-billing {' '.join(args)}")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", "otel_openai_billing.cli", *args], check=True, env=env, timeout=120)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="economics-"))
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / "ledger"
    month = datetime.now(UTC).strftime("%Y-%m")
    today = datetime.now(UTC).date().isoformat()
    (out / "revenue.csv").write_text(
        f"customer,period,revenue\nacme,{month},0.20\nglobex,{month},0.05\ninitech,{month},0.05\n",
        encoding="utf-8",
    )
    (out / "customers.csv").write_text(
        "customer,stripe_customer_id\nacme,cus_Acme000001\nglobex,cus_Globex00001\ninitech,cus_Initech0001\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with FakeOpenAI() as server, FakeStripe() as stripe_server:
        make_calls(server, ledger)
        src = ["--from", str(ledger)]
        cli("customers", *src, "--revenue", str(out / "revenue.csv"), "--min-margin", "30", env=env)
        cli("customers", *src, "--by", "feature", env=env)
        window = ["--days", "1", "--until", today]
        cli("forecast", *src, *window, "--growth", "3x", "--swap", "gpt-4o=gpt-4o-mini:50%", env=env)
        report = out / "report.html"
        cli(
            "report",
            *src,
            "--html",
            str(report),
            "--revenue",
            str(out / "revenue.csv"),
            *window,
            "--growth",
            "3x",
            env=env,
        )
        stripe = [
            "export", "stripe", *src, "--event-name", "ai_tokens", "--mapping", str(out / "customers.csv"),
            "--checkpoint", str(out / "stripe.checkpoint"), "--stripe-api-base", stripe_server.api_base,
        ]  # fmt: skip
        stripe_env = {**env, "STRIPE_API_KEY": "sk_test_example"}
        cli(*stripe, "--dry-run", env=stripe_env)
        cli(*stripe, env=stripe_env)
        cli(*stripe, env=stripe_env)  # a re-run: everything is already in the checkpoint
        print(f"\nStripe meter events received: {len(stripe_server.events)}")
        total = sum(int(e["payload"]["value"]) for e in stripe_server.events.values())
        print(f"tokens billed through Stripe: {total:,}")
    print(f"HTML report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
