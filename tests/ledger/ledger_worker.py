"""A worker process for the multi-process ledger tests: threads making real SDK calls, instrumented
with a ledger. ``python ledger_worker.py BASE_URL LEDGER_DIR THREADS CALLS`` (CALLS 0: until killed)."""

from __future__ import annotations

import sys
import threading

import openai

from otel_openai_billing import OpenAIBillingInstrumentor


def main() -> None:
    base_url, directory, threads, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    OpenAIBillingInstrumentor().instrument(ledger=directory, metrics=False, cost_rollup=False)
    client = openai.OpenAI(api_key="sk-test", base_url=base_url, max_retries=0)

    def work() -> None:
        n = 0
        while calls == 0 or n < calls:
            client.embeddings.create(model="text-embedding-3-small", input="x")
            n += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    print("started", flush=True)
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
