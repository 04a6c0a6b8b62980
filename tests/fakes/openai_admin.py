"""OpenAI's organization Usage and Costs APIs on 127.0.0.1, as the API reference defines them.

    GET /v1/organization/usage/{completions,embeddings,moderations,images,audio_speeches,
                               audio_transcriptions}
    GET /v1/organization/costs

Query parameters: start_time (required, Unix seconds, inclusive), end_time (exclusive), bucket_width
(1m | 1h | 1d; costs: 1d only), limit (buckets per page; defaults and maxima per width as documented),
page (the previous page's next_page cursor), group_by (each endpoint's allowed keys; others answer
400), project_ids / models filters. Arrays are accepted as ``group_by=a&group_by=b`` and as the SDK's
``group_by[]=a``. Every bucket of the range is returned, empty ones included; result fields not
grouped by are null. Authentication: ``Authorization: Bearer <admin key>``. ``rate_limit_next(n)``
answers the next n requests with 429 and a retry-after header.

The server holds the organization's usage as events (``add_usage``) and costs as line items
(``add_cost``); tests put in what OpenAI would have recorded.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from . import BackgroundServer

_WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
# (default, maximum) buckets per page, per bucket width (API reference, usage endpoints).
_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
_COST_LIMITS = (7, 180)
_GROUP_BY = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "api_source"),
    "images": ("project_id", "user_id", "api_key_id", "model", "size", "source"),
    "costs": ("project_id", "user_id", "line_item", "api_key_id", "api_source"),
}
_DEFAULT_GROUP_BY = ("project_id", "user_id", "api_key_id", "model")
# Quantities each endpoint's results carry (beyond num_model_requests), and the event field they sum.
_QUANTITIES = {
    "completions": (
        "input_tokens",
        "output_tokens",
        "input_cached_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
    ),
    "embeddings": ("input_tokens",),
    "moderations": ("input_tokens",),
    "images": ("images",),
    "audio_speeches": ("characters",),
    "audio_transcriptions": ("seconds",),
}
_OBJECTS = {
    "completions": "organization.usage.completions.result",
    "embeddings": "organization.usage.embeddings.result",
    "moderations": "organization.usage.moderations.result",
    "images": "organization.usage.images.result",
    "audio_speeches": "organization.usage.audio_speeches.result",
    "audio_transcriptions": "organization.usage.audio_transcriptions.result",
}


@dataclass
class UsageEvent:
    """Usage OpenAI recorded at one moment (one or more requests)."""

    endpoint: str
    time: int  # Unix seconds
    model: str
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    batch: bool = False
    service_tier: str | None = "default"
    api_source: str = "unlabeled"
    num_model_requests: int = 1
    quantities: dict[str, int] = field(default_factory=dict)


@dataclass
class CostItem:
    """A cost OpenAI recorded on one day for a line item."""

    time: int
    line_item: str
    amount: Decimal
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    api_source: str = "unlabeled"
    quantity: Decimal | None = None


class FakeOpenAIAdmin(BackgroundServer):
    """The organization Usage and Costs APIs; `base_url` ends in `/v1`."""

    def __init__(self, admin_key: str = "sk-admin-test") -> None:
        super().__init__()
        self.admin_key = admin_key
        self.usage: list[UsageEvent] = []
        self.costs: list[CostItem] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._rate_limited = 0
        self.retry_after = "0.01"
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add_usage(self, endpoint: str, time: int, model: str, requests: int = 1, **kw: Any) -> None:
        """Record usage; quantities (input_tokens, output_tokens, ...) go in as keywords too."""
        keys = {"project_id", "user_id", "api_key_id", "batch", "service_tier", "api_source"}
        meta = {k: v for k, v in kw.items() if k in keys}
        quantities = {k: v for k, v in kw.items() if k not in keys}
        unknown = set(quantities) - set(_QUANTITIES[endpoint])
        if unknown:
            raise ValueError(f"{endpoint} results have no {sorted(unknown)}")
        self.usage.append(
            UsageEvent(endpoint, time, model, num_model_requests=requests, quantities=quantities, **meta)
        )

    def add_cost(self, time: int, line_item: str, amount: str | Decimal, **kw: Any) -> None:
        """Record a cost line (amount in USD; quantity in the line item's unit, if any)."""
        if kw.get("quantity") is not None:
            kw["quantity"] = Decimal(kw["quantity"])
        self.costs.append(CostItem(time, line_item, Decimal(amount), **kw))

    def rate_limit_next(self, n: int = 1) -> None:
        """Answer the next n requests with 429 Too Many Requests and a retry-after header."""
        with self._lock:
            self._rate_limited += n

    def clear(self) -> None:
        """Forget usage, costs, requests and pending rate limits."""
        with self._lock:
            self.usage.clear()
            self.costs.clear()
            self.requests.clear()
            self._rate_limited = 0

    # --- serving ---------------------------------------------------------------------------------
    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with Request(environ) as request:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        args = {k.removesuffix("[]"): [] for k in request.args}
        for key, values in request.args.lists():
            args[key.removesuffix("[]")].extend(values)
        self.requests.append((request.path, args))
        with self._lock:
            limited = self._rate_limited > 0
            if limited:
                self._rate_limited -= 1
        if limited:
            response = _error(429, "Rate limit reached for requests", "rate_limit_exceeded")
            response.headers["retry-after"] = self.retry_after
            return response
        if request.headers.get("Authorization") != f"Bearer {self.admin_key}":
            return _error(
                401, "Incorrect API key provided. This endpoint needs an admin key.", "invalid_api_key"
            )
        path = request.path
        if path == "/v1/organization/costs":
            return self._page("costs", args)
        prefix = "/v1/organization/usage/"
        if path.startswith(prefix) and path[len(prefix) :] in _QUANTITIES:
            return self._page(path[len(prefix) :], args)
        return _error(404, f"Invalid URL (GET {path})", None)

    def _page(self, endpoint: str, args: dict[str, list[str]]) -> Response:
        try:
            start = int(args["start_time"][0])
        except (KeyError, ValueError):
            return _error(400, "start_time is required (Unix seconds)", "invalid_request_error", "start_time")
        end = int(args["end_time"][0]) if "end_time" in args else None
        width_name = args.get("bucket_width", ["1d"])[0]
        if width_name not in _WIDTHS or (endpoint == "costs" and width_name != "1d"):
            return _error(
                400, f"Invalid bucket_width {width_name!r}", "invalid_request_error", "bucket_width"
            )
        width = _WIDTHS[width_name]
        default_limit, max_limit = _COST_LIMITS if endpoint == "costs" else _LIMITS[width_name]
        limit = int(args.get("limit", [default_limit])[0])
        if not 1 <= limit <= max_limit:
            return _error(400, f"limit must be between 1 and {max_limit}", "invalid_request_error", "limit")
        group_by = args.get("group_by", [])
        allowed = _GROUP_BY.get(endpoint, _DEFAULT_GROUP_BY)
        bad = [g for g in group_by if g not in allowed]
        if bad:
            return _error(400, f"Invalid group_by {bad[0]!r}", "invalid_request_error", "group_by")
        cursor = start
        if "page" in args:
            try:
                cursor = int(base64.urlsafe_b64decode(args["page"][0]).decode().removeprefix("bucket:"))
            except ValueError:
                return _error(400, "Invalid page cursor", "invalid_request_error", "page")
        last = end if end is not None else max([cursor + width, *self._times(endpoint)])
        buckets = []
        while cursor < last and len(buckets) < limit:
            buckets.append(self._bucket(endpoint, cursor, min(cursor + width, last), group_by, args))
            cursor += width
        has_more = cursor < last
        body = {
            "object": "page",
            "data": buckets,
            "has_more": has_more,
            "next_page": base64.urlsafe_b64encode(f"bucket:{cursor}".encode()).decode() if has_more else None,
        }
        return Response(json.dumps(body, default=_number), status=200, content_type="application/json")

    def _times(self, endpoint: str) -> list[int]:
        if endpoint == "costs":
            return [c.time + 1 for c in self.costs]
        return [u.time + 1 for u in self.usage if u.endpoint == endpoint]

    def _bucket(
        self, endpoint: str, lo: int, hi: int, group_by: list[str], args: dict[str, list[str]]
    ) -> Any:
        projects = set(args.get("project_ids", []))
        models = set(args.get("models", []))
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        if endpoint == "costs":
            for c in self.costs:
                if lo <= c.time < hi and (not projects or c.project_id in projects):
                    key = tuple(getattr(c, g) for g in group_by)
                    entry = groups.setdefault(key, {"amount": Decimal(0), "quantity": None})
                    entry["amount"] += c.amount
                    if c.quantity is not None and "line_item" in group_by:
                        entry["quantity"] = (entry["quantity"] or Decimal(0)) + c.quantity
            results = []
            for key, entry in groups.items():
                result: dict[str, Any] = {
                    "object": "organization.costs.result",
                    "amount": {"value": entry["amount"], "currency": "usd"},
                    "line_item": None,
                    "project_id": None,
                }
                result.update(zip(group_by, key, strict=True))
                if "line_item" in group_by:
                    result["quantity"] = entry["quantity"]
                results.append(result)
        else:
            batch_filter = args.get("batch", [None])[0]
            for u in self.usage:
                if u.endpoint != endpoint or not lo <= u.time < hi:
                    continue
                if (projects and u.project_id not in projects) or (models and u.model not in models):
                    continue
                if batch_filter is not None and u.batch != (batch_filter == "true"):
                    continue
                key = tuple(getattr(u, g) for g in group_by)
                entry = groups.setdefault(key, {"num_model_requests": 0})
                entry["num_model_requests"] += u.num_model_requests
                for q in _QUANTITIES[endpoint]:
                    entry[q] = entry.get(q, 0) + u.quantities.get(q, 0)
            results = []
            for key, entry in groups.items():
                result = {"object": _OBJECTS[endpoint], **entry}
                for g in allowed_keys(endpoint):
                    result[g] = None
                result.update(zip(group_by, key, strict=True))
                results.append(result)
        return {"object": "bucket", "start_time": lo, "end_time": hi, "results": results}


def allowed_keys(endpoint: str) -> tuple[str, ...]:
    """The group keys an endpoint's results carry (null unless grouped by)."""
    return _GROUP_BY.get(endpoint, _DEFAULT_GROUP_BY)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # the API sends amounts as JSON numbers
    raise TypeError(type(value).__name__)


def _error(status: int, message: str, code: str | None, param: str | None = None) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return Response(json.dumps(body), status=status, content_type="application/json")
