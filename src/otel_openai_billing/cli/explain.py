"""``otel-openai-billing explain SPAN.json``: re-price an exported span and show the rate lines.

Reads a span as exported (the OpenTelemetry SDK's console/JSON form with an ``attributes`` object and
``start_time``, OTLP/JSON with ``attributes`` as key/value lists and ``startTimeUnixNano``, a whole OTLP
export, or a flat object of attributes), rebuilds the usage and price query from the span's own
attributes, prices it with the same configuration as the instrumentation, and says whether the result
matches the cost on the span.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .. import names as n
from ..pricing import PriceQuery
from ..usage import Usage
from ._common import (
    QUANTITY_UNITS,
    add_source_options,
    make_pricer,
    money,
    print_json,
    quoted,
    unpriced_advice,
)

# Span attribute -> Usage field (the counts emission writes).
_USAGE = {
    n.USAGE_INPUT_TOKENS: "input_tokens",
    n.USAGE_OUTPUT_TOKENS: "output_tokens",
    n.USAGE_CACHE_READ_INPUT_TOKENS: "cache_read_tokens",
    n.USAGE_CACHE_WRITE_INPUT_TOKENS: "cache_write_tokens",
    n.USAGE_REASONING_OUTPUT_TOKENS: "reasoning_tokens",
    n.USAGE_AUDIO_INPUT_TOKENS: "input_audio_tokens",
    n.USAGE_AUDIO_OUTPUT_TOKENS: "output_audio_tokens",
    n.USAGE_IMAGE_INPUT_TOKENS: "input_image_tokens",
    n.USAGE_IMAGE_OUTPUT_TOKENS: "output_image_tokens",
}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "explain",
        help="re-price an exported span and show the rate lines that made its cost",
        description="Read a span's attributes as exported (JSON; '-' for stdin), price its usage with the "
        "same configuration the instrumentation uses (OTEL_OPENAI_BILLING_PRICE_FILES, the price cache), "
        "show quantity x rate = amount per component, and compare with the cost on the span. Exit 0 when "
        "they agree, 1 when they differ or the span cannot be priced.",
    )
    parser.add_argument("span", metavar="SPAN.json", help="exported span, OTLP/JSON export, or attributes")
    add_source_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def _otlp_value(value: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_otlp_value(v) for v in value["arrayValue"].get("values", [])]
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, list):  # OTLP/JSON: [{"key": ..., "value": {"intValue": "19"}}]
        return {
            a["key"]: _otlp_value(a.get("value", {})) for a in raw if isinstance(a, Mapping) and "key" in a
        }
    return dict(raw) if isinstance(raw, Mapping) else {}


def _start(span: Mapping[str, Any]) -> datetime | None:
    if "startTimeUnixNano" in span:
        return datetime.fromtimestamp(int(span["startTimeUnixNano"]) / 1e9, UTC)
    text = span.get("start_time")
    if isinstance(text, str):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return None


def spans_in(document: Any) -> Iterator[tuple[dict[str, Any], datetime | None]]:
    """(attributes, start time) of each OpenAI call span in an exported document."""
    if isinstance(document, list):
        for item in document:
            yield from spans_in(item)
        return
    if not isinstance(document, Mapping):
        return
    if "resourceSpans" in document or "scopeSpans" in document or "spans" in document:
        for key in ("resourceSpans", "scopeSpans", "spans"):
            yield from spans_in(document.get(key, []))
        return
    if "attributes" in document:
        attrs = _attributes(document["attributes"])
        if n.OPERATION_NAME in attrs:
            yield attrs, _start(document)
        return
    if n.OPERATION_NAME in document:  # a flat object of attributes
        yield dict(document), None


def rebuild(attrs: Mapping[str, Any], start: datetime | None) -> tuple[Usage | None, PriceQuery]:
    """The usage and query a span's attributes describe (what the instrumentation priced)."""
    counts = {field: int(attrs[key]) for key, field in _USAGE.items() if attrs.get(key) is not None}
    usage = Usage(**counts, estimated=bool(attrs.get(n.USAGE_ESTIMATED))) if counts else None
    provider = "azure" if attrs.get(n.PROVIDER_NAME) == n.PROVIDER_AZURE else "openai"
    host = str(attrs.get(n.SERVER_ADDRESS) or "")
    residency = host.split(".", 1)[0] if host.endswith(".api.openai.com") else None
    query = PriceQuery(
        model=attrs.get(n.RESPONSE_MODEL) or attrs.get(n.REQUEST_MODEL),
        request_model=attrs.get(n.REQUEST_MODEL),
        endpoint=str(attrs.get(n.ENDPOINT) or "POST /chat/completions"),
        provider=provider,
        service_tier=attrs.get(n.OPENAI_RESPONSE_SERVICE_TIER),
        batch=bool(attrs.get(n.COST_BATCH)),
        data_residency=residency,
        timestamp=start,
    )
    return usage, query


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.span == "-" else open(args.span, encoding="utf-8").read()  # noqa: SIM115
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a span from {args.span}: {exc}", file=sys.stderr)
        return 2
    found = list(spans_in(document))
    if not found:
        print(f"error: no OpenAI call span (no {n.OPERATION_NAME} attribute) in {args.span}", file=sys.stderr)
        return 2
    pricer = make_pricer(args)
    results = []
    status = 0
    for attrs, start in found:
        usage, query = rebuild(attrs, start)
        cost, lines = pricer.explain(usage, query)
        on_span = attrs.get(n.COST_AMOUNT)
        # The span carries a double; the re-priced Decimal agrees when it rounds to the same double.
        agrees = (on_span is None and cost.amount is None) or (
            on_span is not None and cost.amount is not None and float(cost.amount) == float(on_span)
        )
        status = status or (0 if agrees and cost.status == attrs.get(n.COST_STATUS) else 1)
        results.append((attrs, query, cost, lines, on_span, agrees))
    if args.json:
        print_json(
            {
                "spans": [
                    {
                        "model": q.model,
                        "date": q.timestamp.date().isoformat() if q.timestamp else None,
                        "status": c.status,
                        "amount_usd": c.amount,
                        "span_amount_usd": span_amount,
                        "span_status": a.get(n.COST_STATUS),
                        "agrees": ok,
                        "layer": c.layer,
                        "reason": c.reason,
                        "components": [
                            {
                                "component": li.component,
                                "quantity": li.quantity,
                                "rate_usd": li.rate,
                                "amount_usd": li.amount,
                            }
                            for li in ls
                        ],
                    }
                    for a, q, c, ls, span_amount, ok in results
                ],
                "price_data": pricer.data.describe(),
            }
        )
        return status
    for attrs, query, cost, lines, on_span, agrees in results:
        day = query.timestamp.date().isoformat() if query.timestamp else "today (the span has no start time)"
        print(
            f"{query.model} ({query.provider}), tier {cost.tier or '-'}, on {day}, "
            f"priced by {cost.layer or '-'}"
        )
        for line in lines:
            rate, per = quoted(line.component, line.rate)
            unit = QUANTITY_UNITS.get(line.component, "tokens")
            left = f"{money(line.quantity)} {unit} x ${money(rate)} / {per}"
            print(f"  {line.component:<20}{left:<48} = ${money(line.amount)}")
        total = f"${money(cost.amount)} USD" if cost.amount is not None else "no amount"
        print(f"  {'total':<68} = {total}")
        print(f"status: {cost.status}" + (f" ({cost.reason})" if cost.reason else ""))
        shown = f"${money(Decimal(str(on_span)))}" if on_span is not None else "no amount"
        span_status = attrs.get(n.COST_STATUS)
        verdict = "agrees" if agrees and cost.status == span_status else "DIFFERS"
        print(f"span: {shown}, status {span_status}: {verdict}")
        if cost.amount is None and "not in the price data" in (cost.reason or ""):
            print(f"what to do: {unpriced_advice(pricer)}")
    return status
