"""A separate app process for the concurrency tests: instrumented with budgets (store and budgets from the
environment, as a deployed replica would be), making real SDK calls from threads and asyncio tasks.

    python -m tests.budgets.worker BASE_URL CUSTOMER THREADS TASKS

Each worker calls until a budget refuses it while no other call holds a reservation (the budget is
then full for everyone), and prints one JSON line: calls admitted, and each refusal's figures.
With THREADS=TASKS=0 it makes one call and prints nothing (the tests kill it mid-call).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import openai

from otel_openai_billing import BudgetExceeded, OpenAIBillingInstrumentor, billing_context

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def refusal(exc: BudgetExceeded) -> dict[str, str]:
    return {
        "spent": str(exc.spent_usd),
        "reserved": str(exc.reserved_usd),
        "worst": str(exc.worst_case_usd),
        "limit": str(exc.limit_usd),
    }


def main() -> None:
    base_url, customer, threads, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    OpenAIBillingInstrumentor().instrument(cost_rollup=False)
    client = openai.OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)
    if threads == 0 and tasks == 0:
        with billing_context(customer_id=customer):
            client.chat.completions.create(**REQUEST)
        return
    admitted = 0
    refusals: list[dict[str, str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def record(ok: bool, exc: BudgetExceeded | None) -> bool:
        """True when the worker should stop: refused while nothing else was in flight."""
        nonlocal admitted
        with lock:
            if ok:
                admitted += 1
                return False
            refusals.append(refusal(exc))  # type: ignore[arg-type]
            return exc.reserved_usd == 0  # type: ignore[union-attr]

    def thread_worker() -> None:
        with billing_context(customer_id=customer):
            while True:
                try:
                    client.chat.completions.create(**REQUEST)
                    record(True, None)
                except BudgetExceeded as exc:
                    if record(False, exc):
                        return
                    time.sleep(0.005)
                except Exception as exc:  # reported, so the test fails with the cause
                    errors.append(repr(exc))
                    return

    async def async_workers() -> None:
        aclient = openai.AsyncOpenAI(api_key="sk-test", base_url=base_url, max_retries=0)

        async def one() -> None:
            with billing_context(customer_id=customer):
                while True:
                    try:
                        await aclient.chat.completions.create(**REQUEST)
                        record(True, None)
                    except BudgetExceeded as exc:
                        if record(False, exc):
                            return
                        await asyncio.sleep(0.005)
                    except Exception as exc:
                        errors.append(repr(exc))
                        return

        await asyncio.gather(*(one() for _ in range(tasks)))
        await aclient.close()

    pool = [threading.Thread(target=thread_worker) for _ in range(threads)]
    for t in pool:
        t.start()
    asyncio.run(async_workers())
    for t in pool:
        t.join()
    print(json.dumps({"admitted": admitted, "refusals": refusals, "errors": errors}))


if __name__ == "__main__":
    main()
