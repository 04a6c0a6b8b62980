"""An exported billing span -> its billing record, for sources that hold spans, not ledger files
(a Collector file exporter's OTLP JSON, the Collector's ClickHouse table).

The span carries what the record carries except the quantities no span attribute holds (audio
seconds, characters, images, hosted tool calls: null here) and the exact decimal cost: the span has
it as a double, whose shortest representation is the decimal string for any cost of up to 15
significant digits, which is read back exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import names as n
from .schema import FIELDS, SCHEMA_VERSION, unit_key

_PROVIDERS = {n.PROVIDER_OPENAI: "openai", n.PROVIDER_AZURE: "azure"}
_COMPONENT_PREFIX_LEN = len(n.COST_COMPONENT_PREFIX)
_LABEL_PREFIX_LEN = len(n.LABEL_PREFIX)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    return value is True or value == "true"


def _money(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return None
    text = f"{amount.normalize():f}"
    return text if text != "-0" else "0"


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return (
        datetime.fromtimestamp(seconds, UTC)
        .replace(microsecond=rest // 1000)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )


def is_billing_span(attrs: Mapping[str, Any]) -> bool:
    """A span of an OpenAI call to a billable endpoint, as this package emits it."""
    return bool(attrs.get(n.ENDPOINT)) and _bool(attrs.get(n.BILLABLE))


def record_from_span(
    attrs: Mapping[str, Any], *, trace_id: str | None, span_id: str | None, start_ns: int, end_ns: int | None
) -> dict[str, Any]:
    """The billing record of one exported span (attribute values typed, or all strings as in ClickHouse)."""
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    client_id = _text(attrs.get(n.OPENAI_CLIENT_REQUEST_ID))
    status = _text(attrs.get(n.COST_STATUS))
    cost = _money(attrs.get(n.COST_AMOUNT))
    kind = _text(attrs.get(n.KIND)) or "call"
    model = _text(attrs.get(n.RESPONSE_MODEL)) or _text(attrs.get(n.REQUEST_MODEL))
    key = unit_key(
        kind,
        client_request_id=client_id,
        response_id=_text(attrs.get(n.RESPONSE_ID)),
        model=model,
        batch_id=_text(attrs.get(n.BATCH_ID)),
        output_file_id=_text(attrs.get(n.BATCH_OUTPUT_FILE_ID)),
        job_id=_text(attrs.get(n.FINE_TUNING_JOB_ID)),
        session_id=_text(attrs.get(n.REALTIME_SESSION_ID)),
        item_id=_text(attrs.get(n.REALTIME_ITEM_ID)),
    )
    requests = 1
    if kind == "batch":
        requests = _int(attrs.get(n.BATCH_LINES_BILLED)) or _int(attrs.get(n.BATCH_REQUESTS_COMPLETED)) or 1
    out.update(
        schema=SCHEMA_VERSION,
        record_id=key or f"span:{trace_id}:{span_id}",
        kind=kind,
        batch_id=_text(attrs.get(n.BATCH_ID)),
        job_id=_text(attrs.get(n.FINE_TUNING_JOB_ID)),
        session_id=_text(attrs.get(n.REALTIME_SESSION_ID)),
        requests=requests,
        time=_iso(start_ns),
        duration_s=(end_ns - start_ns) / 1e9 if end_ns else None,
        request_id=_text(attrs.get(n.OPENAI_REQUEST_ID)),
        client_request_id=client_id,
        trace_id=trace_id,
        span_id=span_id,
        operation=_text(attrs.get(n.OPERATION_NAME)),
        endpoint=_text(attrs.get(n.ENDPOINT)),
        api_type=_text(attrs.get(n.OPENAI_API_TYPE)),
        request_model=_text(attrs.get(n.REQUEST_MODEL)),
        response_model=_text(attrs.get(n.RESPONSE_MODEL)),
        service_tier=_text(attrs.get(n.OPENAI_RESPONSE_SERVICE_TIER))
        or _text(attrs.get(n.OPENAI_REQUEST_SERVICE_TIER)),
        batch=_bool(attrs.get(n.COST_BATCH)) or _bool(attrs.get(n.BATCH)),
        provider=_PROVIDERS.get(str(attrs.get(n.PROVIDER_NAME)), _text(attrs.get(n.PROVIDER_NAME))),
        organization=_text(attrs.get(n.OPENAI_ORGANIZATION)),
        project=_text(attrs.get(n.OPENAI_PROJECT)),
        usage_estimated=_bool(attrs.get(n.USAGE_ESTIMATED)),
        cost=cost,
        currency=n.CURRENCY_USD,
        cost_status=status,
        cost_reason=_text(attrs.get(n.COST_UNPRICED_REASON)) or _text(attrs.get(n.COST_WARNING)),
        price_layer=_text(attrs.get(n.COST_PRICE_LAYER)),
        cost_tier=_text(attrs.get(n.COST_TIER)),
        http_status=_int(attrs.get(n.HTTP_STATUS_CODE)),
        retry_count=_int(attrs.get(n.OPENAI_RETRY_COUNT)) or 0,
        error_type=_text(attrs.get(n.ERROR_TYPE)),
        stream_ended_by=_text(attrs.get(n.STREAM_ENDED_BY)),
        response_id=_text(attrs.get(n.RESPONSE_ID)),
        request_service_tier=_text(attrs.get(n.OPENAI_REQUEST_SERVICE_TIER)),
    )
    for field, attribute in n.USAGE_FIELD_ATTRIBUTES:
        out[field] = _int(attrs.get(attribute))
    components: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key, value in attrs.items():
        if key.startswith(n.COST_COMPONENT_PREFIX):
            amount = _money(value)
            if amount is not None:
                components[key[_COMPONENT_PREFIX_LEN:]] = amount
        elif key.startswith(n.LABEL_PREFIX):
            labels[key[_LABEL_PREFIX_LEN:]] = str(value)
    out["cost_components"] = components
    out["customer_id"] = _text(attrs.get(n.CUSTOMER_ID))
    out["feature"] = _text(attrs.get(n.FEATURE))
    out["labels"] = labels
    return out
