"""The billing headers are read the same from httpx's header list as from any other mapping."""

from __future__ import annotations

import pytest

from otel_openai_billing import endpoints
from otel_openai_billing.record import CallRecord

try:  # openai 3.x
    import httpx2 as httpx
except ImportError:  # openai 1.x / 2.x
    import httpx  # type: ignore[no-redef]

# An OpenAI response's headers, in the order and case api.openai.com sends them.
OPENAI_HEADERS = [
    ("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
    ("Content-Type", "application/json"),
    ("access-control-expose-headers", "X-Request-ID"),
    ("OpenAI-Organization", "org-abc"),
    ("openai-processing-ms", "523"),
    ("openai-project", "proj_abc"),
    ("x-ratelimit-remaining-tokens", "1999990"),
    ("X-Request-ID", "req_abc123"),
    ("set-cookie", "__cf_bm=xyz; path=/"),
    ("set-cookie", "_cfuvid=abc; path=/"),
]


def _read(headers: object) -> tuple[str | None, str | None, str | None]:
    rec = CallRecord(endpoints.lookup("post", "/chat/completions"))
    rec.set_response_headers(200, headers)  # type: ignore[arg-type]
    return rec.request_id, rec.organization, rec.project


def test_httpx_headers_are_read_in_one_pass_like_get() -> None:
    headers = httpx.Response(200, headers=OPENAI_HEADERS).headers
    expected = tuple(headers.get(k) for k in ("x-request-id", "openai-organization", "openai-project"))
    assert _read(headers) == expected == ("req_abc123", "org-abc", "proj_abc")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-request-id": "req_abc123", "openai-organization": "org-abc", "openai-project": "proj_abc"},
        httpx.Headers(
            {"X-Request-Id": "req_abc123", "OpenAI-Organization": "org-abc", "openai-project": "proj_abc"}
        ),
    ],
    ids=["plain mapping", "httpx.Headers"],
)
def test_any_mapping_gives_the_same_headers(headers: object) -> None:
    assert _read(headers) == ("req_abc123", "org-abc", "proj_abc")


def test_missing_headers_leave_the_client_settings() -> None:
    rec = CallRecord(endpoints.lookup("post", "/chat/completions"))
    rec.organization, rec.project = "org-client", "proj-client"
    rec.set_response_headers(500, httpx.Response(500, headers=[("content-type", "text/plain")]).headers)
    assert (rec.status_code, rec.request_id, rec.organization, rec.project) == (
        500,
        None,
        "org-client",
        "proj-client",
    )
