"""The app of the month's walk-through: a support bot's OpenAI calls, day by day through November 2026.

Run by run_month.py under libfaketime: before each day's calls it writes that day's time into the
file libfaketime reads the clock from (FAKETIME_TIMESTAMP_FILE), so the calls are recorded on that day.
``python app.py BASE_URL LEDGER_DIR CLOCK_FILE``.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import openai

from otel_openai_billing import OpenAIBillingInstrumentor, billing_context

MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]


def main() -> None:
    base_url, ledger, clock = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    OpenAIBillingInstrumentor().instrument(ledger=ledger, metrics=False, cost_rollup=False)
    client = openai.OpenAI(api_key="sk-walkthrough", base_url=base_url, project="proj_support")
    for n in range(30):
        day = date(2026, 11, 1) + timedelta(days=n)
        clock.write_text(f"@{day.isoformat()} 09:00:00\n")
        customer = "acme" if n % 2 == 0 else "globex"
        with billing_context(customer_id=customer, feature="chat"):
            for _ in range(3 + n % 3):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            if n % 3 == 0:
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with billing_context(customer_id=customer, feature="search"):
            client.embeddings.create(model="text-embedding-3-small", input=["parcel", "tracking"])
        if day == date(2026, 11, 20):
            client.chat.completions.create(model="gpt-9-preview", messages=MESSAGES)  # no price yet
        if day == date(2026, 11, 14):
            clock.write_text(f"@{day.isoformat()} 23:59:59\n")  # a call started just before midnight
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.close()


if __name__ == "__main__":
    main()
