"""OpenAI's own limits: a 429 whose error code says an organization or project spend limit was hit
is recorded as such (span attribute and metric), so the alert fires before customers notice."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from otel_openai_billing import names as n
from tests.budgets.conftest import hi_request
from tests.fakes.openai_server import FakeOpenAI


def _limit_error(code: str) -> dict[str, Any]:
    return {
        "error": {
            "message": "You have reached your spend limit for this billing period.",
            "type": "insufficient_quota",
            "param": None,
            "code": code,
        }
    }


@pytest.mark.parametrize("code", ["organization_spend_limit_exceeded", "project_spend_limit_exceeded"])
def test_spend_limit_429_is_recorded(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI, code: str
) -> None:
    server.fail_next(1, status=429, body=_limit_error(code))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**hi_request())
    span = telemetry.only_span()
    assert span.attributes[n.ERROR_CODE] == code
    assert span.attributes[n.HTTP_STATUS_CODE] == 429
    points = telemetry.metric_points(n.METRIC_SPEND_LIMIT_EXCEEDED)
    assert [(p.attributes[n.ERROR_CODE], p.value) for p in points] == [(code, 1)]
    assert points[0].attributes[n.REQUEST_MODEL] == "gpt-4o-mini"


def test_an_ordinary_rate_limit_is_not_a_spend_limit(
    telemetry: Any, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    server.fail_next(1, status=429, body=_limit_error("rate_limit_exceeded"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**hi_request())
    assert telemetry.only_span().attributes[n.ERROR_CODE] == "rate_limit_exceeded"
    assert telemetry.metric_points(n.METRIC_SPEND_LIMIT_EXCEEDED) == []
