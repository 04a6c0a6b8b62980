"""Billing records as plain dicts, shaped as the shared contract defines them, for the pure reports.

The acceptance tests use a ledger written by the real instrumentation instead; these are for
hand-checked arithmetic on the reports alone.
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


def record(**fields: Any) -> dict[str, Any]:
    """One billing record with every contract key; ``fields`` override the defaults."""
    n = next(_ids)
    base: dict[str, Any] = {
        "schema": 1,
        "record_id": f"call:test-{n}",
        "kind": "call",
        "time": "2026-11-10T12:00:00.000000Z",
        "duration_s": 0.5,
        "request_id": f"req_{n}",
        "client_request_id": f"test-{n}",
        "trace_id": None,
        "span_id": None,
        "operation": "chat",
        "endpoint": "POST /chat/completions",
        "api_type": "chat_completions",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "batch": False,
        "batch_id": None,
        "job_id": None,
        "session_id": None,
        "provider": "openai",
        "organization": None,
        "project": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": None,
        "reasoning_tokens": 0,
        "usage_estimated": False,
        "cost": "0",
        "currency": "USD",
        "cost_status": "priced",
        "cost_reason": None,
        "price_layer": "genai-prices@0.2.3",
        "cost_tier": "default",
        "cost_components": {},
        "customer_id": None,
        "feature": None,
        "labels": {},
        "http_status": 200,
        "retry_count": 0,
        "error_type": None,
        "stream_ended_by": None,
    }
    base.update(fields)
    return base
