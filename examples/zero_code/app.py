"""A plain OpenAI app with no OpenTelemetry code in it.

Run it under ``opentelemetry-instrument`` and every call below becomes a billing span:

    OPENAI_BASE_URL=... OPENAI_API_KEY=... opentelemetry-instrument python examples/zero_code/app.py
"""

from __future__ import annotations

import contextlib

import openai


def main() -> None:
    client = openai.OpenAI()  # OPENAI_API_KEY and OPENAI_BASE_URL from the environment
    messages = [{"role": "user", "content": "Write a haiku about invoices."}]

    client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    for _chunk in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
        pass  # the stream the app sees has no extra usage chunk, yet the span has the tokens

    if hasattr(client, "responses"):
        client.responses.create(model="gpt-4.1-mini", input="Summarise our Q3 OpenAI bill.")

    client.embeddings.create(model="text-embedding-3-small", input="invoice line items")

    # If this one is rate limited, its span still carries the request id to quote to OpenAI support.
    with contextlib.suppress(openai.RateLimitError):
        client.with_options(max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=messages)
    client.close()


if __name__ == "__main__":
    main()
