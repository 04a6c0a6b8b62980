"""Offline example: a per-customer daily budget enforced in the app, shared through a real Redis.

It starts a local OpenAI-compatible server and Debian's redis-server on 127.0.0.1 (no API key, nothing
leaves the machine), instruments the SDK with one budget (each customer may spend $0.00003 a day, about
three small gpt-4o-mini calls), calls the API for "acme" until the budget refuses a call before it is
sent, shows that "globex" still has its own room, and ends with what an operator would run:

    otel-openai-billing budgets status --store redis://127.0.0.1:PORT/0

Usage: python examples/budgets/run_example.py   (needs redis-server: scripts/install-system-deps.sh)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

from otel_openai_billing import BudgetExceeded, OpenAIBillingInstrumentor, billing_context  # noqa: E402
from otel_openai_billing.cli import main as cli  # noqa: E402

BUDGETS = [{"name": "per-customer", "scope": {"customer_id": "*"}, "window": "day", "limit_usd": "0.00003"}]
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def main() -> int:
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed: run scripts/install-system-deps.sh", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="budgets-redis-") as data:
        port = _free_port()
        redis = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", data, "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait_for(port)
            return _run(f"redis://127.0.0.1:{port}/0")
        finally:
            redis.terminate()
            redis.wait(timeout=10)


def _run(store: str) -> int:
    os.environ["OTEL_OPENAI_BILLING_BUDGETS"] = json.dumps(BUDGETS)
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), budget_store=store)
    with FakeOpenAI() as server:
        client = openai.OpenAI(api_key="sk-example", base_url=server.base_url, max_retries=0)
        with billing_context(customer_id="acme"):
            for number in range(1, 10):
                try:
                    client.chat.completions.create(**REQUEST)
                    print(f"acme call {number}: sent")
                except BudgetExceeded as refused:
                    print(f"acme call {number}: refused, nothing sent to OpenAI\n  {refused}")
                    break
        with billing_context(customer_id="globex"):
            client.chat.completions.create(**REQUEST)
            print("globex call 1: sent (a budget of its own)")
        print(f"requests the API received: {len(server.requests)}")
    instrumentor.uninstrument()
    print(f"\n$ otel-openai-billing budgets status --store {store}\n")
    return cli(["budgets", "status", "--store", store])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not start on port {port}")


if __name__ == "__main__":
    sys.exit(main())
