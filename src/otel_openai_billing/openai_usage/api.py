"""OpenAI's organization Usage and Costs APIs, with an admin key.

Through the SDK's admin client (``client.admin.organization.usage``, openai 2.34+) where the installed
SDK has it, over plain HTTP where it does not; the same requests either way. The SDK retries a 429
after its ``retry-after``; the HTTP path does the same. Bodies are read as raw JSON (amounts as exact
decimals), so fields newer than the SDK still count.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .types import USAGE_ENDPOINTS, CostRow, UsageRow

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_DAY_LIMIT = 31  # buckets per page at bucket_width=1d (the API's maximum)
_COST_LIMIT = 180
# group_by keys each endpoint accepts (API reference); anything else answers 400.
_GROUPABLE = {
    "completions": {"project_id", "model", "batch", "service_tier"},
    "images": {"project_id", "model"},
}
_DEFAULT_GROUPABLE = {"project_id", "model"}


class UsageAPIError(RuntimeError):
    """The Usage or Costs API refused a request (a bad key, a bad parameter, too many retries)."""


def _ts(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else 0


class UsageAPI:
    """Reads daily usage and costs of an organization."""

    def __init__(
        self,
        admin_key: str | None = None,
        base_url: str | None = None,
        *,
        use_sdk: bool | None = None,
        max_retries: int = 5,
        on_page: Callable[[str], None] | None = None,
    ) -> None:
        key = admin_key or os.environ.get("OPENAI_ADMIN_KEY")
        if not key:
            raise UsageAPIError(
                "no admin key: set OPENAI_ADMIN_KEY (an organization admin key, sk-admin-...)"
            )
        self._key = key
        # Not OPENAI_BASE_URL: that often points at a proxy that serves completions, not admin APIs.
        self._base_url = (base_url or os.environ.get("OPENAI_ADMIN_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._max_retries = max_retries
        self._on_page = on_page or (lambda _what: None)
        self._client = self._sdk_client() if use_sdk is not False else None
        if use_sdk and self._client is None:
            raise UsageAPIError("the installed openai SDK has no admin client (openai 2.34+ has)")

    @property
    def via(self) -> str:
        """``sdk`` or ``http``: how the API is reached."""
        return "sdk" if self._client is not None else "http"

    def _sdk_client(self) -> Any:
        try:
            import openai
        except ImportError:
            return None
        try:
            client = openai.OpenAI(
                api_key="unused",  # the admin endpoints authenticate with the admin key alone
                admin_api_key=self._key,
                base_url=self._base_url,
                max_retries=self._max_retries,
            )
        except TypeError:  # an SDK without admin_api_key
            return None
        return client if hasattr(client, "admin") else None

    # --- requests --------------------------------------------------------------------------------
    def _get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        """One page of ``/organization/usage/<endpoint>`` or ``/organization/costs`` as raw JSON."""
        if self._client is not None:
            usage = self._client.admin.organization.usage.with_raw_response
            method = getattr(usage, endpoint)
            try:
                raw = method(**params)
            except Exception as exc:  # the SDK's APIStatusError and connection errors
                raise UsageAPIError(f"{endpoint}: {exc}") from exc
            return json.loads(raw.text, parse_float=Decimal)
        return self._http_get(endpoint, params)

    def _http_get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        path = "/organization/costs" if endpoint == "costs" else f"/organization/usage/{endpoint}"
        pairs: list[tuple[str, str]] = []
        for name, value in params.items():
            if isinstance(value, list | tuple):
                pairs.extend((f"{name}[]", str(v)) for v in value)  # the SDK's array format
            else:
                pairs.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
        url = f"{self._base_url}{path}?{urllib.parse.urlencode(pairs)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._key}"})
        for attempt in range(self._max_retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.loads(response.read(), parse_float=Decimal)
            except urllib.error.HTTPError as exc:
                body = exc.read().decode(errors="replace")[:500]
                if (exc.code == 429 or exc.code >= 500) and attempt < self._max_retries:
                    time.sleep(_retry_after(exc.headers, attempt))
                    continue
                raise UsageAPIError(f"{endpoint}: HTTP {exc.code}: {body}") from exc
            except urllib.error.URLError as exc:
                raise UsageAPIError(f"{endpoint}: {exc.reason}") from exc
        raise UsageAPIError(f"{endpoint}: still rate limited after {self._max_retries} retries")

    def _pages(self, endpoint: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every bucket, following ``next_page`` until ``has_more`` is false."""
        page: str | None = None
        while True:
            body = self._get(endpoint, {**params, **({"page": page} if page else {})})
            self._on_page(endpoint)
            yield from body.get("data") or ()
            page = body.get("next_page")
            if not body.get("has_more") or not page:
                return

    # --- what reconciliation needs -----------------------------------------------------------------
    def usage(self, start: datetime, end: datetime, group_by: Sequence[str] = ("model",)) -> list[UsageRow]:
        """Daily usage of every endpoint that bills per model, grouped by ``group_by`` where the
        endpoint supports it (``model``, ``project_id``, ``batch``, ``service_tier``)."""
        rows: list[UsageRow] = []
        for endpoint in USAGE_ENDPOINTS:
            allowed = _GROUPABLE.get(endpoint, _DEFAULT_GROUPABLE)
            params = {
                "start_time": _ts(start),
                "end_time": _ts(end),
                "bucket_width": "1d",
                "limit": _DAY_LIMIT,
                "group_by": [g for g in group_by if g in allowed],
            }
            for bucket in self._pages(endpoint, params):
                day = _day(bucket["start_time"])
                for r in bucket.get("results") or ():
                    rows.append(_usage_row(endpoint, day, r))
        return rows

    def costs(self, start: datetime, end: datetime, by_project: bool = False) -> list[CostRow]:
        """Daily costs by line item (and project)."""
        params = {
            "start_time": _ts(start),
            "end_time": _ts(end),
            "bucket_width": "1d",
            "limit": _COST_LIMIT,
            "group_by": ["line_item", *(["project_id"] if by_project else [])],
        }
        rows = []
        for bucket in self._pages("costs", params):
            day = _day(bucket["start_time"])
            for r in bucket.get("results") or ():
                amount = r.get("amount") or {}
                rows.append(
                    CostRow(
                        day=day,
                        line_item=r.get("line_item"),
                        amount=Decimal(str(amount.get("value") or 0)),
                        currency=str(amount.get("currency") or "usd"),
                        project=r.get("project_id"),
                        quantity=Decimal(str(r["quantity"])) if r.get("quantity") is not None else None,
                    )
                )
        return rows


def _usage_row(endpoint: str, day: str, r: dict[str, Any]) -> UsageRow:
    return UsageRow(
        day=day,
        endpoint=endpoint,
        model=r.get("model"),
        project=r.get("project_id"),
        batch=r.get("batch"),
        tier=r.get("service_tier"),
        requests=_int(r.get("num_model_requests")),
        input_tokens=_int(r.get("input_tokens")),
        cached_tokens=_int(r.get("input_cached_tokens")),
        output_tokens=_int(r.get("output_tokens")),
        images=_int(r.get("images")),
        characters=_int(r.get("characters")),
        seconds=_int(r.get("seconds")),
    )


def _retry_after(headers: Any, attempt: int) -> float:
    """Seconds to wait before retrying: the server's retry-after(-ms), else exponential backoff."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return min(0.5 * 2**attempt, 8.0)
