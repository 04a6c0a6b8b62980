"""`otel-openai-billing reconcile` on a ledger of real SDK calls against a local Usage and Costs API
driven through the SDK's admin client (and over plain HTTP), and against dashboard CSV exports."""

from __future__ import annotations

import csv
import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from otel_openai_billing.cli import main
from tests.reconcile.conftest import Seeded, after, clean_truth, injected_truth

O4 = "o4-mini-2025-04-16"
G41M = "gpt-4.1-mini-2025-04-14"


def reconcile(capsys: pytest.CaptureFixture[str], source: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["reconcile", "--from", str(source), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def window(s: Seeded, admin: Any, days_after: int = 1) -> list[str]:
    return [
        "--since",
        s.day.isoformat(),
        "--until",
        (s.day + timedelta(days=days_after)).isoformat(),
        "--openai-base-url",
        admin.base_url,
        "--as-of",
        after(s.day),
    ]


def statuses(payload: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["day"], c["model"]): c["status"] for c in payload["cells"]}


def test_clean_data_reconciles_with_no_mismatch(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded)
    code, payload = reconcile(capsys, seeded.clean, *window(seeded, openai_side))
    day = seeded.day.isoformat()
    assert statuses(payload) == {
        (day, "gpt-4o-mini-2024-07-18"): "match",
        (day, "text-embedding-3-small"): "match",
        (day, "tts-1"): "match",
    }
    assert code == 0
    mini = payload["cells"][0]
    # 3 billed calls of 19 + 10 tokens; the failed one is shown, not counted; 3 x 0.00000885.
    assert (mini["local_requests"], mini["openai_requests"], mini["failed"]) == (3, 3, 1)
    assert (mini["local_input"], mini["local_output"]) == (57, 30)
    assert Decimal(mini["local_cost"]) == Decimal(mini["openai_cost"]) == Decimal("0.00002655")
    assert "1 failed calls, not billed" in mini["notes"]
    speech = payload["cells"][2]
    assert speech["estimated"] == 1  # characters counted from the request: an estimate, shown
    assert Decimal(speech["local_cost"]) == Decimal("0.000525")  # 35 characters x $15/1M


def test_by_project_and_batch_where_both_sides_have_them(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded)
    code, payload = reconcile(capsys, seeded.clean, *window(seeded, openai_side), "--by", "project,batch")
    assert {(c["model"], c["project"], c["batch"], c["status"]) for c in payload["cells"]} == {
        ("gpt-4o-mini-2024-07-18", "proj_fake0default", False, "match"),
        ("text-embedding-3-small", "proj_fake0default", False, "match"),
        ("tts-1", "proj_fake0default", False, "match"),
    }
    assert code == 0
    requested = [q for path, q in openai_side.requests if path.endswith("/completions")][-1]
    assert requested["group_by"] == ["model", "project_id", "batch"]
    # Another project's usage is OpenAI's alone: it is a cell of its own.
    openai_side.add_usage("completions", seeded.ts("tts-1"), "gpt-4o-mini-2024-07-18", project_id="proj_x")
    code, payload = reconcile(capsys, seeded.clean, *window(seeded, openai_side), "--by", "project")
    assert [c["status"] for c in payload["cells"] if c["project"] == "proj_x"] == ["only_openai"]
    assert code == 1


def test_every_injected_mismatch_is_detected_and_classified(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded)
    injected_truth(openai_side, seeded)
    code, payload = reconcile(capsys, seeded.root, *window(seeded, openai_side))
    day, next_day = seeded.day.isoformat(), (seeded.day + timedelta(days=1)).isoformat()
    assert statuses(payload) == {
        (day, "gpt-4o-mini-2024-07-18"): "match",
        (day, "text-embedding-3-small"): "match",
        (day, "tts-1"): "match",
        (day, "gpt-4.1-nano-2025-04-14"): "only_openai",
        (day, "gpt-4.1-2025-04-14"): "only_local",
        (day, "gpt-4o-2024-08-06"): "token_mismatch",
        (day, "gpt-5-mini-2025-08-07"): "cost_mismatch",
        (day, O4): "day_boundary",
        (next_day, O4): "day_boundary",
        (day, G41M): "batch_completion_day",
        (next_day, G41M): "batch_completion_day",
        (day, "gpt-5-nano-2025-08-07"): "retries",
        (day, "o3-mini-2025-01-31"): "failed_calls",
        (day, "gpt-9-preview"): "unpriced",
    }
    assert code == 1
    cells = {(c["day"], c["model"]): c for c in payload["cells"]}
    nano = cells[(day, "gpt-4.1-nano-2025-04-14")]
    assert (nano["openai_requests"], Decimal(nano["openai_cost"])) == (5, Decimal("0.00003"))
    assert payload["summary"]["only_openai_requests"] == 5
    # Rates per 1M tokens over 38 + 20 tokens: ours 0.0000495 -> 0.8534, OpenAI 0.000099 -> 1.7069.
    g5m = cells[(day, "gpt-5-mini-2025-08-07")]
    assert (g5m["local_rate"], g5m["openai_rate"]) == ("0.8534", "1.7069")
    assert "input_tokens: ours 38, OpenAI 538" in cells[(day, "gpt-4o-2024-08-06")]["cause"]
    unpriced = cells[(day, "gpt-9-preview")]
    assert (unpriced["unpriced"], Decimal(unpriced["local_cost"]), Decimal(unpriced["openai_cost"])) == (
        2,
        Decimal(0),
        Decimal("0.5"),
    )
    assert cells[(day, "o3-mini-2025-01-31")]["failed"] == 1
    assert cells[(day, "gpt-5-nano-2025-08-07")]["retries"] == 1
    assert "OpenAI bills a Batch on the day it completes" in cells[(day, G41M)]["cause"]
    assert {c["ok"] for c in payload["cells"] if c["status"] in ("day_boundary", "batch_completion_day")} == {
        True
    }


def test_a_day_whose_data_is_not_final_is_provisional(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded, lagging=True)  # OpenAI shows 1 of our 3 gpt-4o-mini calls so far
    args = window(seeded, openai_side)[:-2]
    code, payload = reconcile(capsys, seeded.clean, *args, "--as-of", f"{seeded.day.isoformat()}T23:59:00")
    mini = payload["cells"][0]
    assert (mini["status"], mini["provisional"], mini["ok"]) == ("not_final", True, True)
    assert "was request_mismatch" in mini["notes"]
    assert code == 0
    code, payload = reconcile(capsys, seeded.clean, *args, "--as-of", after(seeded.day))
    assert (payload["cells"][0]["status"], code) == ("request_mismatch", 1)


def test_tolerance_decides_the_exit_status(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded)
    mini = "gpt-4o-mini-2024-07-18"
    # OpenAI counts 1 output token more than our 30: 3.3% off.
    openai_side.add_usage("completions", seeded.ts(mini), mini, requests=0, output_tokens=1)
    code, payload = reconcile(capsys, seeded.clean, *window(seeded, openai_side), "--tolerance", "1%")
    assert (payload["cells"][0]["status"], code) == ("token_mismatch", 1)
    code, payload = reconcile(capsys, seeded.clean, *window(seeded, openai_side), "--tolerance", "0.05")
    assert (payload["cells"][0]["status"], code) == ("match", 0)


@pytest.mark.parametrize("via", [[], ["--no-sdk"]], ids=["sdk", "http"])
def test_rate_limits_are_waited_out_and_pages_followed(seeded, openai_side, capsys, via) -> None:
    clean_truth(openai_side, seeded)
    openai_side.retry_after = "0.2"
    openai_side.rate_limit_next(2)
    args = window(seeded, openai_side)
    args[1] = (seeded.day - timedelta(days=40)).isoformat()  # 42 daily buckets: two pages of 31
    started = time.monotonic()
    code, _ = reconcile(capsys, seeded.clean, *args, *via)
    assert time.monotonic() - started >= 0.4  # two retry-after waits of 0.2 s
    assert code == 0
    paged = [q for path, q in openai_side.requests if path.endswith("/completions") and "page" in q]
    assert len(paged) == 1
    # 6 usage endpoints x 2 pages + 1 costs page (180 buckets) + the 2 answered with 429.
    assert len(openai_side.requests) == 6 * 2 + 1 + 2


def test_plain_http_gives_the_same_answer(seeded, openai_side, capsys) -> None:
    clean_truth(openai_side, seeded)
    injected_truth(openai_side, seeded)
    _, via_sdk = reconcile(capsys, seeded.root, *window(seeded, openai_side))
    _, via_http = reconcile(capsys, seeded.root, *window(seeded, openai_side), "--no-sdk")
    assert via_http["cells"] == via_sdk["cells"]


def test_a_bad_admin_key_is_a_clear_error(seeded, openai_side, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-wrong")
    code = main(["reconcile", "--from", str(seeded.clean), *window(seeded, openai_side)])
    assert code == 2
    assert "401" in capsys.readouterr().err


def test_dashboard_exports_are_read_by_column_name(seeded, tmp_path, capsys) -> None:
    day = seeded.day.isoformat()
    start = seeded.ts("gpt-4o-mini-2024-07-18") // 86400 * 86400
    activity = tmp_path / "activity.csv"
    with open(activity, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "model",
                "num_model_requests",
                "start_time",
                "end_time",
                "start_time_iso",
                "project_id",
                "output_tokens",
                "input_tokens",
                "input_cached_tokens",
                "batch",
                "service_tier",
            ]
        )
        w.writerow(
            [
                "gpt-4o-mini-2024-07-18",
                "3.0",
                start,
                start + 86400,
                f"{day}T00:00:00+00:00",
                "",
                "30.0",
                "57.0",
                "0.0",
                "FALSE",
                "default",
            ]
        )
        w.writerow(["text-embedding-3-small", "2", start, start + 86400, "", "", "", "16", "", "", ""])
        w.writerow(["tts-1", "1", start, start + 86400, "", "", "", "", "", "", ""])
        w.writerow(["", "", start + 86400, start + 2 * 86400, "", "", "", "", "", "", ""])  # an empty bucket
    costs = tmp_path / "cost.csv"
    with open(costs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "organization_name",
                "line_item",
                "amount_value",
                "start_time_iso",
                "amount_currency",
                "project_id",
                "organization_id",
            ]
        )
        for item, amount in (
            ("gpt-4o-mini-2024-07-18, input", "0.00000855"),
            ("gpt-4o-mini-2024-07-18, output", "0.000018"),
            ("text-embedding-3-small", "0.00000032"),
            ("tts-1", "0.000525"),
        ):
            w.writerow(["Acme", item, amount, f"{day}T00:00:00Z", "usd", "proj_x", "org-1"])
    code = main(
        [
            "reconcile",
            "--from",
            str(seeded.clean),
            "--since",
            day,
            "--until",
            day,
            "--as-of",
            after(seeded.day),
            "--openai-csv",
            str(activity),
            "--openai-csv",
            str(costs),
            "--format",
            "json",
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert {c["model"]: c["status"] for c in payload["cells"]} == {
        "gpt-4o-mini-2024-07-18": "match",
        "text-embedding-3-small": "match",
        "tts-1": "match",
    }
    assert code == 0


def test_a_file_that_is_no_export_is_refused(seeded, tmp_path, capsys) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    code = main(["reconcile", "--from", str(seeded.clean), "--openai-csv", str(bad)])
    assert code == 2
    assert "not an OpenAI usage export" in capsys.readouterr().err


def test_the_terminal_table_and_csv(seeded, openai_side, capsys, tmp_path) -> None:
    clean_truth(openai_side, seeded)
    injected_truth(openai_side, seeded)
    code = main(["reconcile", "--from", str(seeded.root), *window(seeded, openai_side), "--problems"])
    out = capsys.readouterr().out
    assert code == 1
    assert "only_openai" in out and "gpt-4o-mini-2024-07-18" not in out  # matches hidden by --problems
    assert "only at OpenAI: 5 requests, $0.00003" in out
    target = tmp_path / "r.csv"
    main(
        [
            "reconcile",
            "--from",
            str(seeded.root),
            *window(seeded, openai_side),
            "--format",
            "csv",
            "--out",
            str(target),
        ]
    )
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 14 and {"day", "model", "status", "local_cost", "openai_cost", "cause"} <= set(
        rows[0]
    )
