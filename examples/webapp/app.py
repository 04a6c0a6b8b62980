"""A small Flask app where every request is for a customer and a feature.

The app's only billing code is ``billing_context``: it says who and what each OpenAI call is for.
Tracing the requests is Flask's own OpenTelemetry instrumentation's job, and pricing the calls this
package's; ``run_example.py`` switches both on.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from otel_openai_billing import billing_context

# What a real app would read from its accounts database.
PLANS = {"acme": "enterprise", "globex": "starter"}


def create_app(client: openai.OpenAI) -> Flask:
    """The app, talking to OpenAI (or any OpenAI-compatible server) through ``client``."""
    app = Flask(__name__)

    @app.post("/customers/<customer_id>/answer")
    def answer(customer_id: str) -> ResponseReturnValue:
        question = request.get_json()["question"]
        # Two calls, one request: the request span shows what both cost together.
        with billing_context(customer_id=customer_id, feature="answer", plan=PLANS.get(customer_id)):
            client.embeddings.create(model="text-embedding-3-small", input=question)
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": question}]
            )
        return jsonify(answer=reply.choices[0].message.content)

    @app.post("/customers/<customer_id>/summaries")
    def summarize(customer_id: str) -> ResponseReturnValue:
        with billing_context(customer_id=customer_id, plan=PLANS.get(customer_id)):
            summary = "".join(_summary(client, request.get_json()["text"]))
        return jsonify(summary=summary)

    @app.post("/internal/translate")
    def translate() -> ResponseReturnValue:
        # Called by another service, not by a customer: who it is for comes in the request's W3C
        # `baggage` header (customer.id, feature), which Flask's instrumentation puts in the context.
        reply = client.chat.completions.create(
            model="gpt-4.1-nano", messages=[{"role": "user", "content": request.get_json()["text"]}]
        )
        return jsonify(translation=reply.choices[0].message.content)

    return app


@billing_context(feature="summarize")
def _summary(client: openai.OpenAI, text: str) -> Iterator[str]:
    """Stream a summary; the decorator applies to the generator's body, step by step."""
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Summarize: {text}"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content
