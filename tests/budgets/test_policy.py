"""Budgets as plain values: windows, scopes, amounts, and the worst-case estimate of a request."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otel_openai_billing.budgets import BudgetConfigError, budget
from otel_openai_billing.budgets.estimate import (
    FILE_TOKENS,
    IMAGE_TOKENS,
    estimate_input_tokens,
    input_bound,
    worst_case_usage,
)
from otel_openai_billing.budgets.policy import from_nano, matching, parse_window, to_nano

AT = datetime(2026, 12, 1, 23, 59, 30, tzinfo=UTC)


def test_windows() -> None:
    assert budget("d", "1", "day").window.slot(AT)[:3] == ("2026-12-01", 0, 1)
    assert budget("m", "1", "month").window.slot(AT)[:3] == ("2026-12", 0, 1)
    hourly = budget("h", "1", "rolling:1h").window
    # 3600 s in 60 buckets of 60 s: the bucket is the Unix minute.
    assert hourly.slot(AT)[:3] == ("rolling", int(AT.timestamp()) // 60, 60)
    assert hourly.spec == "rolling:1h" and parse_window("rolling:90m", "x").spec == "rolling:90m"
    with pytest.raises(BudgetConfigError, match="at least 60s"):
        parse_window("rolling:30s", "x")


@pytest.mark.parametrize(
    ("window", "start", "until"),
    [
        ("day", "2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        ("month", "2026-12-01T00:00Z", "2027-01-01T00:00Z"),  # December rolls over into a new year
        ("rolling:1h", "2026-12-01T23:59Z", "2026-12-02T00:00Z"),  # one bucket: 3600 s / 60
    ],
)
def test_a_slot_holds_from_the_start_of_its_window_or_bucket_to_the_next(
    window: str, start: str, until: str
) -> None:
    # The guard keeps a slot for this span, so the span must be exactly where slot() stays the same.
    w = budget("b", "1", window).window
    first, end = datetime.fromisoformat(start), datetime.fromisoformat(until)
    span = w.span(AT.timestamp())
    assert span[:4] == w.slot(AT) and span[4:] == (first.timestamp(), end.timestamp())
    assert w.slot(first) == w.slot(datetime.fromtimestamp(end.timestamp() - 1e-6, UTC)) == w.slot(AT)
    assert w.slot(end) != w.slot(AT)


def test_scopes_match_fixed_values_each_value_and_labels() -> None:
    budgets = (
        budget("every-customer", "1", scope={"customer_id": "*"}),
        budget("acme-search", "1", scope={"customer_id": "acme", "feature": "search"}),
        budget("team", "1", scope={"label.team": "*"}),
        budget("all", "1"),
    )
    found = matching(budgets, {"customer_id": "acme", "feature": "search"})
    assert [(b.name, i) for b, i in found] == [
        ("every-customer", "customer_id=acme"),
        ("acme-search", "customer_id=acme,feature=search"),
        ("all", ""),
    ]
    assert [b.name for b, _ in matching(budgets, {"team": "ml"})] == ["team", "all"]


def test_amounts_round_up_to_whole_nano_usd() -> None:
    assert to_nano(Decimal("0.00000885")) == 8850
    assert to_nano(Decimal("0.0000000001")) == 1  # a tenth of a nano-USD still counts
    assert from_nano(8850) == Decimal("0.00000885")


# --- the worst case -----------------------------------------------------------------------------
def test_text_is_bounded_by_its_utf8_bytes() -> None:
    # {"input": "日本"}: 4 (object) + "input" 5 + "日本" 6 bytes = 15
    assert estimate_input_tokens("gpt-4o", {"input": "日本"}) == 15


def test_media_is_counted_as_media_not_as_its_base64() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}
    audio = {"type": "input_audio", "input_audio": {"data": "B" * 6400, "format": "wav"}}
    pdf = {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA"}
    bound = input_bound({"messages": [{"role": "user", "content": [image, audio, pdf]}]})
    assert bound.image == IMAGE_TOKENS
    assert bound.audio == 6400 // 64 + 1  # one token per 64 base64 characters, rounded up
    # 4 (body) + "messages" 8 + 4 (message) + "role" 4 + "user" 4 + "content" 7 + the file
    assert bound.text == 31 + FILE_TOKENS


def test_output_caps() -> None:
    chat = {"model": "m", "messages": []}
    default = 1000
    assert worst_case_usage("POST /chat/completions", chat, default, 0).output_tokens == 1000
    capped = {**chat, "max_tokens": 50, "max_completion_tokens": 70, "n": 3}
    assert worst_case_usage("POST /chat/completions", capped, default, 0).output_tokens == 210
    audio = worst_case_usage("POST /chat/completions", {**chat, "modalities": ["text", "audio"]}, 9, 0)
    assert audio.output_audio_tokens == 9
    legacy = {"model": "m", "prompt": "x"}
    assert worst_case_usage("POST /completions", legacy, default, 0).output_tokens == 16  # API default
    assert (
        worst_case_usage(
            "POST /completions", {**legacy, "max_tokens": 5, "best_of": 4}, default, 0
        ).output_tokens
        == 20
    )
    responses = {"model": "m", "input": "x", "max_output_tokens": 300}
    usage = worst_case_usage("POST /responses", responses, default, 5000)
    assert usage.output_tokens == 300
    followup = worst_case_usage(
        "POST /responses", {**responses, "previous_response_id": "resp_1"}, default, 5000
    )
    # + the context allowance + the new field itself: "previous_response_id" 20 + "resp_1" 6
    assert followup.input_tokens == usage.input_tokens + 5000 + 26
    # Token arrays: one token per number. {"input": [[1, 2, 3]]} -> 4 + "input" 5 + 3
    assert (
        worst_case_usage("POST /embeddings", {"input": [[1, 2, 3]], "model": "m"}, default, 0).input_tokens
        == 12
    )
    assert worst_case_usage("POST /files", {}, default, 0) is None
