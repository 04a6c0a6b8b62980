"""Five days of the same traffic, made with the real SDK under libfaketime, for the forecast tests.

``python flat_app.py BASE_URL LEDGER_DIR CLOCK_FILE``: before each day's calls it writes that day's
time into the file libfaketime reads the clock from, so the calls are recorded on that day. Each day:
two gpt-4o calls, one for acme and one for beta, with the server's default usage.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import openai

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context

FIRST_DAY = date(2026, 11, 20)
DAYS = 5


def main() -> None:
    base_url, ledger, clock = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(ledger=ledger, metrics=False, cost_rollup=False)
    client = openai.OpenAI(api_key="sk-flat", base_url=base_url, max_retries=0)
    for n in range(DAYS):
        clock.write_text(f"@{FIRST_DAY + timedelta(days=n)} 09:00:00\n")
        for customer in ("acme", "beta"):
            with billing_context(customer_id=customer, feature="search"):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    instrumentor.uninstrument()  # flushes the ledger


if __name__ == "__main__":
    main()
