"""A finished call -> its billing record (the flat dict ``ledger.schema`` documents).

Built from the very record, usage, cost and attribution attributes the span is written from, so the
ledger and the span never disagree. Pure: no I/O, no clock (the span's own end time gives the
duration), so it can run on the ledger's background thread.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import names as n
from .emit import error_type
from .ledger.schema import SCHEMA_VERSION, unit_key
from .pricing.types import Cost
from .record import CallRecord
from .usage import QUANTITIES, Usage

_USAGE_FIELDS = QUANTITIES
_LABEL_PREFIX_LEN = len(n.LABEL_PREFIX)


def money(amount: Decimal) -> str:
    """An exact decimal string without exponent or trailing zeros."""
    text = f"{amount.normalize():f}"
    return text if text != "-0" else "0"


def utc_iso(ns: int) -> str:
    """Nanoseconds since the epoch -> ``2026-12-01T09:30:00.123456Z``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_id(rec: CallRecord) -> str:
    """The unit's idempotency key (see ``ledger.schema.unit_key``); a random one for a unit with no id."""
    extra = rec.source_attributes or {}
    key = unit_key(
        rec.kind,
        client_request_id=rec.client_request_id,
        response_id=rec.response_id,
        model=rec.response_model or rec.request_model,
        batch_id=rec.batch_id,
        output_file_id=extra.get(n.BATCH_OUTPUT_FILE_ID),
        job_id=rec.job_id,
        session_id=rec.session_id,
        item_id=extra.get(n.REALTIME_ITEM_ID),
    )
    return key or f"call:{uuid.uuid4().hex}"


def requests(rec: CallRecord) -> int:
    """API requests this record stands for: a Batch settlement stands for every line it billed."""
    if rec.kind == "batch" and rec.source_attributes:
        for key in (n.BATCH_LINES_BILLED, n.BATCH_REQUESTS_COMPLETED):
            count = rec.source_attributes.get(key)
            if type(count) is int and count > 0:
                return count
    return 1


def build(
    rec: CallRecord,
    usage: Usage | None,
    cost: Cost | None,
    span_attributes: dict[str, Any] | None = None,
    end_ns: int | None = None,
) -> dict[str, Any]:
    """The billing record of one finished call.

    ``span_attributes`` are the attribution attributes the span got; ``end_ns`` is the span's end
    (read from the span when not given).
    """
    ctx = rec.span.get_span_context() if rec.span is not None else None
    if end_ns is None:
        end_ns = getattr(rec.span, "end_time", None)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "record_id": record_id(rec),
        "kind": rec.kind,
        "time": utc_iso(rec.start_ns),
        "duration_s": (end_ns - rec.start_ns) / 1e9 if end_ns else None,
        "request_id": rec.request_id,
        "client_request_id": rec.client_request_id,
        "trace_id": f"{ctx.trace_id:032x}" if ctx is not None and ctx.is_valid else None,
        "span_id": f"{ctx.span_id:016x}" if ctx is not None and ctx.is_valid else None,
        "operation": rec.endpoint.operation,
        "endpoint": rec.endpoint.key,
        "api_type": rec.endpoint.api_type,
        "request_model": rec.request_model,
        "response_model": rec.response_model,
        "service_tier": rec.service_tier or rec.request_service_tier,
        "batch": bool(rec.batch or (cost is not None and cost.batch)),
        "batch_id": rec.batch_id,
        "job_id": rec.job_id,
        "session_id": rec.session_id,
        "provider": rec.provider,
        "organization": rec.organization,
        "project": rec.project,
    }
    for name in _USAGE_FIELDS:
        out[name] = getattr(usage, name) if usage is not None else None
    out.setdefault("trained_tokens", None)
    out["usage_estimated"] = bool(usage is not None and usage.estimated)
    if cost is not None:
        out["cost"] = money(cost.amount) if cost.amount is not None else None
        out["currency"] = n.CURRENCY_USD
        out["cost_status"] = cost.status
        out["cost_reason"] = cost.reason
        out["price_layer"] = cost.layer
        out["cost_tier"] = cost.tier
        out["cost_components"] = {k: money(v) for k, v in cost.components.items()}
    else:
        out.update(cost=None, currency=n.CURRENCY_USD, cost_status=None, cost_reason=None)
        out.update(price_layer=None, cost_tier=None, cost_components={})
    customer = feature = None
    labels: dict[str, str] = {}
    for key, value in (span_attributes or {}).items():
        if key == n.CUSTOMER_ID:
            customer = value
        elif key == n.FEATURE:
            feature = value
        elif key.startswith(n.LABEL_PREFIX):
            labels[key[_LABEL_PREFIX_LEN:]] = value
    out["customer_id"] = customer
    out["feature"] = feature
    out["labels"] = labels
    out["http_status"] = rec.status_code
    out["retry_count"] = rec.retry_count if rec.retry_count is not None else len(rec.retries)
    out["error_type"] = error_type(rec.error) if rec.error is not None else None
    out["stream_ended_by"] = rec.ended_by
    out["response_id"] = rec.response_id
    out["request_service_tier"] = rec.request_service_tier
    out["data_residency"] = rec.data_residency
    out["requests"] = requests(rec)
    return out
