"""A month's reconciliation, end to end, for docs/reconcile.md: run with `python run_month.py`.

1. A local OpenAI-compatible server answers the app's calls (examples/reconcile_month/app.py), run
   under libfaketime (Debian package `faketime`) so its clock walks through November 2026; the
   instrumentation writes the ledger.
2. A local server speaking OpenAI's organization Usage and Costs APIs is given OpenAI's side: the
   usage and cost of every call the local server answered (read back from the ledger, since that
   server keeps no clock of its own), plus what the real world adds: a cron job on another key that
   was never instrumented, the call at 23:59:59 that OpenAI counts on the next day, a gpt-4o day billed
   at the Priority rate, a preview model we have no price for, and the last day not complete yet.
3. The `usage` and `reconcile` commands run against them; their output is printed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_admin import FakeOpenAIAdmin  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

from otel_openai_billing.ledger.readers import read_records  # noqa: E402

ADMIN_KEY = "sk-admin-walkthrough"
_COMPONENTS = {"input": "input", "cached_input": "cached input", "output": "output"}


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp())


def write_ledger(base_url: str, ledger: Path) -> None:
    if shutil.which("faketime") is None:
        raise SystemExit("needs libfaketime: apt-get install faketime")
    clock = ledger.parent / "clock"
    clock.write_text("@2026-11-01 09:00:00\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "FAKETIME_TIMESTAMP_FILE": str(clock),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and the writer's interval keep real time
    }
    app = Path(__file__).with_name("app.py")
    subprocess.run(
        [sys.executable, str(app), base_url, str(ledger), str(clock)], env=env, check=True, timeout=600
    )


def openai_side(admin: FakeOpenAIAdmin, ledger: Path) -> None:
    costs: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for r in read_records(str(ledger)):
        if r["http_status"] != 200:
            continue
        t = _ts(r["time"])
        if r["time"].startswith("2026-11-14T23:59"):
            t += 60  # OpenAI counts the call that ended after midnight on the 15th
        model = r["response_model"] or r["request_model"]
        if r["operation"] == "embeddings":
            admin.add_usage("embeddings", t, model, project_id=r["project"], input_tokens=r["input_tokens"])
        else:
            output = r["output_tokens"]
            tokens = {"input_tokens": r["input_tokens"], "output_tokens": output}
            if r["time"].startswith("2026-11-30"):
                continue  # the last day: OpenAI's data has not come in yet
            admin.add_usage("completions", t, model, project_id=r["project"], **tokens)
        for component, amount in r["cost_components"].items():
            costs[(t, f"{model}, {_COMPONENTS.get(component, component)}")] += Decimal(amount)
        if r["cost"] is None and model == "gpt-9-preview":
            costs[(t, f"{model}, input")] += Decimal("0.0000475")
            costs[(t, f"{model}, output")] += Decimal("0.0001")
    for (t, item), amount in costs.items():
        if item.startswith("gpt-4o-2024-08-06") and datetime.fromtimestamp(t, UTC).day == 10:
            amount *= Decimal("1.7")  # that day's gpt-4o calls ran at the Priority rate
        admin.add_cost(t, item, amount, project_id="proj_support")
    # A cron job on another API key, never instrumented: 40 gpt-4.1-nano calls on Monday nights.
    nano = "gpt-4.1-nano-2025-04-14"
    for day in (2, 9, 16, 23):
        t = int(datetime(2026, 11, day, 2, tzinfo=UTC).timestamp())
        usage = {"input_tokens": 40 * 900, "output_tokens": 40 * 120, "project_id": "proj_support"}
        admin.add_usage("completions", t, nano, requests=40, **usage)
        # 36000 x $0.10/1M + 4800 x $0.40/1M = 0.0036 + 0.00192
        admin.add_cost(t, f"{nano}, input", "0.0036", project_id="proj_support")
        admin.add_cost(t, f"{nano}, output", "0.00192", project_id="proj_support")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as api, FakeOpenAIAdmin(ADMIN_KEY) as admin:
        ledger = Path(tmp) / "ledger"
        write_ledger(api.base_url, ledger)
        openai_side(admin, ledger)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "OPENAI_ADMIN_KEY": ADMIN_KEY,
            "OTEL_OPENAI_BILLING_LEDGER": str(ledger),
            "OPENAI_ADMIN_BASE_URL": admin.base_url,
        }
        cli = ["otel-openai-billing"]
        script = [sys.executable, "-m", "otel_openai_billing.cli"]
        month = ["--since", "2026-11-01", "--until", "2026-11-30"]
        as_of = ["--as-of", "2026-12-01T06:00:00Z"]
        for args in (
            ["usage", *month, "--by", "model"],
            ["usage", *month, "--by", "customer,feature"],
            ["reconcile", *month, *as_of, "--problems"],
            ["reconcile", "--since", "2026-11-14", "--until", "2026-11-15", *as_of],
            ["reconcile", "--since", "2026-11-29", "--until", "2026-11-30", *as_of],
            ["reconcile", *month, *as_of, "--format", "csv", "--out", f"{tmp}/november.csv"],
        ):
            print(f"$ {shlex.join(cli + args)}".replace(tmp, "."))
            proc = subprocess.run(script + args, env=env, capture_output=True, text=True, timeout=300)
            print(proc.stdout.replace(tmp, "."), end="")
            if proc.stderr.strip():
                print(proc.stderr.strip())
            print(f"$ echo $?\n{proc.returncode}\n")
        print("$ head -3 november.csv")
        with open(f"{tmp}/november.csv") as f:
            print("".join(f.readlines()[:3]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
