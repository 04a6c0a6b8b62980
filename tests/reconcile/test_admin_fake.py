"""The local Usage and Costs API answers as the API reference says, through the SDK's admin client."""

from __future__ import annotations

from datetime import UTC, datetime

import openai
import pytest

from tests.reconcile.conftest import ADMIN_KEY

START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DAY = 86400


@pytest.fixture
def admin_client(openai_side):
    with openai.OpenAI(
        api_key="unused", admin_api_key=ADMIN_KEY, base_url=openai_side.base_url, max_retries=0
    ) as c:
        yield c


def test_buckets_cover_the_range_empty_ones_included(openai_side, admin_client) -> None:
    openai_side.add_usage("completions", START + 3600, "gpt-4o", requests=2, input_tokens=10, output_tokens=5)
    page = admin_client.admin.organization.usage.completions(
        start_time=START, end_time=START + 3 * DAY, bucket_width="1d", group_by=["model"]
    )
    assert [b.start_time for b in page.data] == [START, START + DAY, START + 2 * DAY]
    assert [len(b.results) for b in page.data] == [1, 0, 0]
    result = page.data[0].results[0]
    assert (result.model, result.num_model_requests, result.input_tokens, result.project_id) == (
        "gpt-4o",
        2,
        10,
        None,
    )
    assert page.has_more is False


def test_pages_follow_next_page(openai_side, admin_client) -> None:
    usage = admin_client.admin.organization.usage
    first = usage.embeddings(start_time=START, end_time=START + 10 * DAY, limit=4)
    assert (len(first.data), first.has_more) == (4, True)
    second = usage.embeddings(start_time=START, end_time=START + 10 * DAY, limit=4, page=first.next_page)
    assert second.data[0].start_time == START + 4 * DAY


def test_what_the_api_refuses(openai_side, admin_client) -> None:
    usage = admin_client.admin.organization.usage
    with pytest.raises(openai.BadRequestError):
        usage.embeddings(start_time=START, group_by=["batch"])  # only completions groups by batch
    with pytest.raises(openai.BadRequestError):
        usage.completions(start_time=START, bucket_width="1d", limit=32)  # 1d: at most 31
    with pytest.raises(openai.BadRequestError):
        usage.costs(start_time=START, bucket_width="1h")  # costs: 1d only
    wrong = openai.OpenAI(api_key="x", admin_api_key="sk-admin-wrong", base_url=openai_side.base_url)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.admin.organization.usage.costs(start_time=START)


def test_costs_group_by_line_item_with_quantity(openai_side, admin_client) -> None:
    openai_side.add_cost(
        START + 60, "gpt-4o-2024-08-06, input", "0.25", project_id="proj_a", quantity="100000"
    )
    openai_side.add_cost(
        START + 120, "gpt-4o-2024-08-06, input", "0.5", project_id="proj_b", quantity="200000"
    )
    page = admin_client.admin.organization.usage.costs(
        start_time=START, end_time=START + DAY, group_by=["line_item"]
    )
    (result,) = page.data[0].results
    assert (result.line_item, result.amount.value, result.quantity, result.project_id) == (
        "gpt-4o-2024-08-06, input",
        0.75,
        300000,
        None,
    )
