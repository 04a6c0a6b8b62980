"""Billing records from the OpenTelemetry Collector's file exporter (OTLP JSON, one
``ExportTraceServiceRequest`` per line: ``{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}``).

OTLP JSON encodes trace and span ids as hex, 64-bit integers as strings and attribute values as
``{"stringValue"|"intValue"|"doubleValue"|"boolValue"|"arrayValue": ...}``; a file written with
``format: proto`` is not JSON and is refused with that explanation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from .spans import is_billing_span, record_from_span


def _value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return v["doubleValue"]  # a Decimal: the file is parsed with parse_float=Decimal
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", ())]
    return None


def _hex(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()  # protobuf's own JSON mapping writes bytes as base64


def records_from_line(line: bytes | str) -> Iterator[dict[str, Any]]:
    """The billing records in one OTLP JSON line."""
    request = json.loads(line, parse_float=Decimal)
    for rs in request.get("resourceSpans") or ():
        for ss in rs.get("scopeSpans") or ():
            for span in ss.get("spans") or ():
                attrs = {a["key"]: _value(a.get("value") or {}) for a in span.get("attributes") or ()}
                if not is_billing_span(attrs):
                    continue
                end = span.get("endTimeUnixNano")
                yield record_from_span(
                    attrs,
                    trace_id=_hex(span.get("traceId")),
                    span_id=_hex(span.get("spanId")),
                    start_ns=int(span["startTimeUnixNano"]),
                    end_ns=int(end) if end else None,
                )


def records_from_file(path: Path, report: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Every billing record in a Collector file exporter's JSON file; bad lines are skipped and reported."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                report(f"{path}: line {number} is torn (no newline at its end); skipped")
                return
            try:
                yield from records_from_line(raw)
            except (ValueError, KeyError, TypeError) as exc:
                report(f"{path}: line {number} is not OTLP JSON ({exc}); skipped")
