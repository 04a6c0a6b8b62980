"""A ledger written by the real instrumentation of real SDK calls, and OpenAI's side of the same calls
served by a local Usage and Costs API.

Two ledgers under one directory: ``clean/`` holds calls OpenAI bills exactly as we record them;
``extra/`` holds the calls of the injected mismatches. OpenAI's numbers are written by hand from what
the local OpenAI-compatible server answers (chat: 19 input and 10 output tokens per call; embeddings:
8 input tokens) and the published prices, with the derivation next to each.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_openai_billing import OpenAIBillingInstrumentor
from otel_openai_billing.ledger.readers import read_records
from tests.core.conftest import server  # noqa: F401
from tests.fakes.openai_admin import FakeOpenAIAdmin

ADMIN_KEY = "sk-admin-test-key"
# The project the local server names in its openai-project header (the client sets none).
PROJECT = "proj_fake0default"
SPEECH_TEXT = "Your invoice for November is ready."  # 35 characters


def _chat(c: openai.OpenAI, model: str, n: int = 1) -> None:
    for _ in range(n):
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


@dataclass
class Seeded:
    """The ledger, its day (UTC) and each model's first call time (what OpenAI buckets it by)."""

    root: Path
    day: date
    times: dict[str, int]

    @property
    def clean(self) -> Path:
        return self.root / "clean"

    def ts(self, model: str, days: int = 0) -> int:
        return self.times[model] + days * 86400


def _write(directory: Path, fake: Any, calls: Any) -> None:
    instrumentor = OpenAIBillingInstrumentor()
    instrumentor.instrument(ledger=str(directory), tracer_provider=TracerProvider(), metrics=False)
    try:
        with openai.OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=2) as c:
            calls(c)
    finally:
        instrumentor.uninstrument()  # writes what is queued


def _clean_calls(fake: Any) -> Any:
    def calls(c: openai.OpenAI) -> None:
        _chat(c, "gpt-4o-mini", 3)
        fake.fail_next(1, status=500)
        with contextlib.suppress(openai.InternalServerError):  # failed: OpenAI does not bill it
            c.with_options(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        c.embeddings.create(model="text-embedding-3-small", input="a")
        c.embeddings.create(model="text-embedding-3-small", input="b")
        c.audio.speech.create(model="tts-1", voice="alloy", input=SPEECH_TEXT)

    return calls


def _extra_calls(fake: Any) -> Any:
    def calls(c: openai.OpenAI) -> None:
        _chat(c, "gpt-4.1", 2)  # only_local
        _chat(c, "gpt-4o", 2)  # token_mismatch
        _chat(c, "gpt-5-mini", 2)  # cost_mismatch
        _chat(c, "o4-mini", 3)  # day_boundary
        _chat(c, "gpt-4.1-mini", 2)  # batch_completion_day (rewritten as Batch records below)
        fake.fail_next(1, status=500)
        _chat(c, "gpt-5-nano", 1)  # retries: one attempt failed and was retried
        _chat(c, "o3-mini", 1)  # failed_calls: plus one that timed out below
        fake.delay = 1.0
        try:
            with contextlib.suppress(openai.APITimeoutError):
                c.with_options(max_retries=0, timeout=0.3).chat.completions.create(
                    model="o3-mini", messages=[{"role": "user", "content": "hi"}]
                )
        finally:
            fake.delay = 0.0
        _chat(c, "gpt-9-preview", 2)  # unpriced: no published price

    return calls


def _as_batch(directory: Path) -> None:
    """Injected on our side: the gpt-4.1-mini calls become the settlement of a Batch, at Batch prices."""
    for path in directory.glob("*.jsonl"):
        lines = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["request_model"] == "gpt-4.1-mini":
                record.update(kind="batch", batch=True, batch_id="batch_abc")
                record["record_id"] = f"batch:batch_abc:{record['request_id']}"
                # gpt-4.1-mini Batch: 19 x $0.20/1M + 10 x $0.80/1M = 0.0000038 + 0.000008 = 0.0000118.
                record["cost"] = "0.0000118"
            lines.append(json.dumps(record))
        path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, server: Any) -> Seeded:  # noqa: F811
    root = tmp_path_factory.mktemp("ledger")
    server.clear()
    _write(root / "clean", server, _clean_calls(server))
    _write(root / "extra", server, _extra_calls(server))
    server.clear()
    _as_batch(root / "extra")
    times: dict[str, int] = {}
    for record in read_records(str(root)):
        model = record["response_model"] or record["request_model"]
        moment = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        times.setdefault(model, int(moment.timestamp()))
    days = {datetime.fromtimestamp(t, UTC).date() for t in times.values()}
    assert len(days) == 1, "the calls straddled midnight UTC; run again"
    return Seeded(root, days.pop(), times)


def clean_truth(admin: FakeOpenAIAdmin, s: Seeded, *, lagging: bool = False) -> None:
    """What OpenAI bills for the clean calls."""
    mini = "gpt-4o-mini-2024-07-18"
    # 3 chat calls x (19 in, 10 out); the failed fourth is not billed. With lagging, OpenAI shows 1 so far.
    n = 1 if lagging else 3
    usage = {"input_tokens": 19 * n, "output_tokens": 10 * n, "project_id": PROJECT}
    admin.add_usage("completions", s.ts(mini), mini, requests=n, **usage)
    # gpt-4o-mini: 57 input x $0.15/1M = 0.00000855; 30 output x $0.60/1M = 0.000018.
    admin.add_cost(s.ts(mini), f"{mini}, input", "0.00000855" if n == 3 else "0.00000285", project_id=PROJECT)
    admin.add_cost(s.ts(mini), f"{mini}, output", "0.000018" if n == 3 else "0.000006", project_id=PROJECT)
    emb = "text-embedding-3-small"
    admin.add_usage("embeddings", s.ts(emb), emb, requests=2, input_tokens=16, project_id=PROJECT)
    admin.add_cost(s.ts(emb), emb, "0.00000032", project_id=PROJECT)  # 16 tokens x $0.02/1M
    speech = {"characters": len(SPEECH_TEXT), "project_id": PROJECT}
    admin.add_usage("audio_speeches", s.ts("tts-1"), "tts-1", requests=1, **speech)
    admin.add_cost(s.ts("tts-1"), "tts-1", "0.000525", project_id=PROJECT)  # 35 characters x $15/1M


def injected_truth(admin: FakeOpenAIAdmin, s: Seeded) -> None:
    """OpenAI's side of the extra calls, each with the mismatch its model stands for."""
    # only_openai: traffic from a process we never instrumented. 100 x $0.10/1M + 50 x $0.40/1M.
    nano = "gpt-4.1-nano-2025-04-14"
    admin.add_usage(
        "completions", s.ts("gpt-4o-mini-2024-07-18"), nano, requests=5, input_tokens=100, output_tokens=50
    )
    admin.add_cost(s.ts("gpt-4o-mini-2024-07-18"), f"{nano}, input", "0.00001")
    admin.add_cost(s.ts("gpt-4o-mini-2024-07-18"), f"{nano}, output", "0.00002")
    # only_local: OpenAI shows nothing for gpt-4.1 (say, another organization's key).
    # token_mismatch: 500 more input tokens than our 2 x 19.
    g4o = "gpt-4o-2024-08-06"
    admin.add_usage("completions", s.ts(g4o), g4o, requests=2, input_tokens=538, output_tokens=20)
    admin.add_cost(s.ts(g4o), f"{g4o}, input", "0.001345")  # 538 x $2.50/1M
    admin.add_cost(s.ts(g4o), f"{g4o}, output", "0.0002")  # 20 x $10/1M
    # cost_mismatch: the same tokens at twice our rates (ours: 38 x $0.25/1M + 20 x $2/1M = 0.0000495).
    g5m = "gpt-5-mini-2025-08-07"
    admin.add_usage("completions", s.ts(g5m), g5m, requests=2, input_tokens=38, output_tokens=20)
    admin.add_cost(s.ts(g5m), f"{g5m}, input", "0.000019")
    admin.add_cost(s.ts(g5m), f"{g5m}, output", "0.00008")
    # day_boundary: of our 3 o4-mini calls, OpenAI counts 2 today and 1 tomorrow.
    # One call: 19 x $1.10/1M + 10 x $4.40/1M = 0.0000209 + 0.000044 = 0.0000649.
    o4 = "o4-mini-2025-04-16"
    admin.add_usage("completions", s.ts(o4), o4, requests=2, input_tokens=38, output_tokens=20)
    admin.add_usage("completions", s.ts(o4, 1), o4, requests=1, input_tokens=19, output_tokens=10)
    admin.add_cost(s.ts(o4), f"{o4}, input", "0.0000418")
    admin.add_cost(s.ts(o4), f"{o4}, output", "0.000088")
    admin.add_cost(s.ts(o4, 1), f"{o4}, input", "0.0000209")
    admin.add_cost(s.ts(o4, 1), f"{o4}, output", "0.000044")
    # batch_completion_day: the Batch completes tomorrow; OpenAI bills it then.
    # 38 x $0.20/1M + 20 x $0.80/1M = 0.0000076 + 0.000016.
    g41m = "gpt-4.1-mini-2025-04-14"
    admin.add_usage(
        "completions", s.ts(g41m, 1), g41m, requests=2, input_tokens=38, output_tokens=20, batch=True
    )
    admin.add_cost(s.ts(g41m, 1), f"{g41m}, batch input", "0.0000076")
    admin.add_cost(s.ts(g41m, 1), f"{g41m}, batch output", "0.000016")
    # retries: the attempt our SDK saw fail was processed too: 2 requests. 0.00000495 each.
    g5n = "gpt-5-nano-2025-08-07"
    admin.add_usage("completions", s.ts(g5n), g5n, requests=2, input_tokens=38, output_tokens=20)
    admin.add_cost(s.ts(g5n), f"{g5n}, input", "0.0000019")
    admin.add_cost(s.ts(g5n), f"{g5n}, output", "0.000008")
    # failed_calls: the call that timed out on our side was processed and billed. 0.0000649 each.
    o3 = "o3-mini-2025-01-31"
    admin.add_usage("completions", s.ts(o3), o3, requests=2, input_tokens=38, output_tokens=20)
    admin.add_cost(s.ts(o3), f"{o3}, input", "0.0000418")
    admin.add_cost(s.ts(o3), f"{o3}, output", "0.000088")
    # unpriced: a model we have no price for; OpenAI billed it.
    admin.add_usage(
        "completions", s.ts("gpt-9-preview"), "gpt-9-preview", requests=2, input_tokens=38, output_tokens=20
    )
    admin.add_cost(s.ts("gpt-9-preview"), "gpt-9-preview, input", "0.5")


@pytest.fixture(scope="module")
def admin() -> Iterator[FakeOpenAIAdmin]:
    with FakeOpenAIAdmin(ADMIN_KEY) as srv:
        yield srv


@pytest.fixture
def openai_side(admin: FakeOpenAIAdmin, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIAdmin:
    admin.clear()
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEY)
    return admin


def after(day: date, days: int = 3) -> str:
    """An --as-of that makes ``day`` final (OpenAI's data settles 24 h after the day ends)."""
    return (datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=days)).isoformat()
