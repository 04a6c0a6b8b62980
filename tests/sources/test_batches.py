"""Batch jobs billed once, at Batch rates, from the Batch object or from its output file.

Every stored object is read 5 times (retrieve, list, files.content) to prove it is billed once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import openai

from otel_openai_billing import names as n
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.sources_api import batch_result

from .conftest import Billed

# The day the batches finish: before 2026-10-14, so the Batch rates come from the shipped supplement
# (gpt-4o-mini: $0.075 in / $0.30 out per 1M; no published Batch cached rate, so cached input stays at
# the standard $0.075) and text-embedding-3-small's Batch rate is $0.01 per 1M.
DONE_AT = int(datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp())


def _chat_usage(prompt: int, cached: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _input_file(client: openai.OpenAI, url: str, model: str, count: int) -> str:
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": url, "body": {"model": model, "input": "hi"}}
        for i in range(count)
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("input.jsonl", data), purpose="batch").id


def _create(client: openai.OpenAI, url: str, model: str, count: int) -> str:
    file_id = _input_file(client, url, model, count)
    return client.batches.create(input_file_id=file_id, endpoint=url, completion_window="24h").id


def test_chat_batch_billed_once_from_the_batch_object(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    batch_id = _create(client, "/v1/chat/completions", "gpt-4o-mini", 2)
    server.sources.advance_batch(batch_id, "in_progress")
    assert client.batches.retrieve(batch_id).status == "in_progress"  # not final: nothing billed yet
    server.sources.complete_batch(
        batch_id,
        [
            batch_result("r0", "gpt-4o-mini-2024-07-18", _chat_usage(1000, 400, 200)),
            batch_result("r1", "gpt-4o-mini-2024-07-18", _chat_usage(600, 0, 100)),
        ],
        completed_at=DONE_AT,
    )
    for _ in range(5):
        assert client.batches.retrieve(batch_id).status == "completed"
        assert [b.id for b in client.batches.list()] == [batch_id]
    output_file = client.batches.retrieve(batch_id).output_file_id
    assert output_file is not None
    for _ in range(5):
        assert b'"custom_id"' in client.files.content(output_file).content

    (unit,) = telemetry.units("batch")
    attrs = unit.attributes
    assert attrs[n.BATCH_ID] == batch_id
    assert attrs[n.BATCH] is True
    assert attrs[n.BATCH_STATUS] == "completed"
    assert attrs[n.BATCH_ENDPOINT] == "/v1/chat/completions"
    assert attrs[n.BATCH_USAGE_SOURCE] == "batch_object"
    assert (
        attrs[n.BATCH_REQUESTS_TOTAL],
        attrs[n.BATCH_REQUESTS_COMPLETED],
        attrs[n.BATCH_REQUESTS_FAILED],
    ) == (
        2,
        2,
        0,
    )
    assert attrs[n.RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert (
        attrs[n.USAGE_INPUT_TOKENS],
        attrs[n.USAGE_CACHE_READ_INPUT_TOKENS],
        attrs[n.USAGE_OUTPUT_TOKENS],
    ) == (
        1600,
        400,
        300,
    )
    # uncached input (1600 - 400) x $0.075/1M = 0.00009; cached 400 x $0.075/1M = 0.00003;
    # output 300 x $0.30/1M = 0.00009; total 0.00021.
    assert attrs[n.COST_AMOUNT] == float(Decimal("0.00021"))
    assert attrs[n.COST_BATCH] is True
    # Billed once: 1600 input tokens and $0.00021 on the metrics, however often the batch was read.
    assert telemetry.tokens("input") == 1600
    assert telemetry.tokens("output") == 300
    assert telemetry.cost() == float(Decimal("0.00021"))
    assert telemetry.cost(**{n.BATCH: True}) == float(Decimal("0.00021"))
    # Durations are of the HTTP calls only (create, retrieves, list pages), not of the settlement.
    durations = [
        p
        for p in telemetry.metric_points(n.METRIC_OPERATION_DURATION)
        if p.attributes[n.OPERATION_NAME] == "batch"
    ]
    http_calls = [r for r in server.requests if r.path.startswith("/v1/batches")]
    assert len(http_calls) >= 13  # create, 7 retrieves, 5 lists (older SDKs fetch an empty next page)
    assert sum(p.count for p in durations) == len(http_calls)
    # The reads themselves carry no usage and no cost.
    reads = [
        s
        for s in telemetry.spans()
        if s.attributes.get(n.OPERATION_NAME) == "batch" and n.KIND not in s.attributes
    ]
    assert reads and all(n.USAGE_INPUT_TOKENS not in s.attributes for s in reads)


def test_embeddings_batch_without_usage_billed_once_from_its_output_file(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    batch_id = _create(client, "/v1/embeddings", "text-embedding-3-small", 3)
    embeddings = {"prompt_tokens": 500, "total_tokens": 500}
    server.sources.complete_batch(
        batch_id,
        [
            batch_result("r0", "text-embedding-3-small", embeddings, endpoint="/v1/embeddings"),
            batch_result(
                "r1",
                "text-embedding-3-small",
                {"prompt_tokens": 700, "total_tokens": 700},
                endpoint="/v1/embeddings",
            ),
            batch_result("r2", "text-embedding-3-small", None, status_code=400, endpoint="/v1/embeddings"),
        ],
        report_usage=False,  # a batch created before 2025-09-07: no model, no usage on the object
        completed_at=DONE_AT,
    )
    batch = client.batches.retrieve(batch_id)
    assert getattr(batch, "usage", None) is None  # typed only since openai 2.0
    assert telemetry.units("batch") == []  # nothing to bill from the object alone
    for _ in range(5):
        client.batches.retrieve(batch_id)
        assert len(client.files.content(batch.output_file_id).content.splitlines()) == 2
        assert client.files.content(batch.error_file_id).text.count('"status_code": 400') == 1

    (unit,) = telemetry.units("batch")
    attrs = unit.attributes
    assert attrs[n.BATCH_ID] == batch_id
    assert attrs[n.BATCH_USAGE_SOURCE] == "output_file"
    assert attrs[n.BATCH_OUTPUT_FILE_ID] == batch.output_file_id
    assert attrs[n.BATCH_LINES_BILLED] == 2
    assert (attrs[n.BATCH_REQUESTS_COMPLETED], attrs[n.BATCH_REQUESTS_FAILED]) == (2, 1)
    assert attrs[n.USAGE_INPUT_TOKENS] == 1200
    # (500 + 700) tokens x $0.01/1M (text-embedding-3-small Batch rate) = 0.000012; the failed line
    # (HTTP 400, in the error file) is not billed.
    assert attrs[n.COST_AMOUNT] == float(Decimal("0.000012"))
    assert telemetry.tokens("input") == 1200
    assert telemetry.cost(**{n.BATCH: True}) == float(Decimal("0.000012"))


def test_output_file_with_failed_lines_and_two_models_settles_per_model(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    # An output file the app downloads without the instrumentation having seen the batch finish
    # (e.g. another process polled it): its lines still settle it, per model, once.
    good = {"response": {"status_code": 200, "request_id": "req_1"}, "error": None}
    lines = [
        {
            "id": "batch_req_1",
            "custom_id": "a",
            **good,
            "response": {
                **good["response"],
                "body": {"model": "gpt-4o-mini-2024-07-18", "usage": _chat_usage(2000, 1000, 500)},
            },
        },
        {
            "id": "batch_req_2",
            "custom_id": "b",
            **good,
            "response": {
                **good["response"],
                "body": {"model": "gpt-4.1-nano-2025-04-14", "usage": _chat_usage(4000, 0, 1000)},
            },
        },
        {
            "id": "batch_req_3",
            "custom_id": "c",
            "response": {"status_code": 500, "request_id": "req_3", "body": {"error": {"message": "boom"}}},
            "error": None,
        },
        {
            "id": "batch_req_4",
            "custom_id": "d",
            "response": None,
            "error": {
                "code": "batch_expired",
                "message": "This request could not be executed before the completion window expired.",
            },
        },
    ]
    file_id = server.sources.add_file(
        "".join(json.dumps(line) + "\n" for line in lines).encode(), "batch_output", "out.jsonl"
    )
    for _ in range(5):
        client.files.content(file_id)
    units = sorted(telemetry.units("batch"), key=lambda s: s.attributes[n.RESPONSE_MODEL])
    assert [u.attributes[n.RESPONSE_MODEL] for u in units] == [
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-mini-2024-07-18",
    ]
    nano, mini = units
    assert all(u.attributes[n.BATCH_LINES_FAILED] == 2 for u in units)
    # The batch is not known here, so its id is not either: the file id identifies the settlement.
    assert all(
        n.BATCH_ID not in u.attributes and u.attributes[n.BATCH_OUTPUT_FILE_ID] == file_id for u in units
    )
    # Priced at today's Batch rates (no completion time known). gpt-4.1-nano Batch: $0.05 in, $0.20 out per
    # 1M (genai-prices from 2026-10-14, the supplement before: the same) -> 4000 x 0.05/1M = 0.0002,
    # 1000 x 0.20/1M = 0.0002; total 0.0004.
    assert nano.attributes[n.COST_AMOUNT] == float(Decimal("0.0004"))
    # gpt-4o-mini Batch: uncached 1000 x $0.075/1M = 0.000075, cached 1000 x $0.075/1M = 0.000075
    # (no Batch cached rate is published), output 500 x $0.30/1M = 0.00015; total 0.0003.
    assert mini.attributes[n.COST_AMOUNT] == float(Decimal("0.0003"))
    assert telemetry.cost(**{n.BATCH: True}) == float(Decimal("0.0004")) + float(Decimal("0.0003"))


def test_a_file_that_is_not_batch_output_bills_nothing(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    file_id = server.sources.add_file(
        b'{"messages": [{"role": "user", "content": "hi"}]}\n', "fine-tune", "t.jsonl"
    )
    client.files.content(file_id)
    assert telemetry.units("batch") == []
    assert telemetry.cost() == 0


def test_batch_in_every_status(client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed) -> None:
    # Non-final statuses bill nothing; a failed batch (validation) reports no usage and bills nothing;
    # an expired batch bills the requests that completed before the window closed.
    statuses = []
    batch_id = _create(client, "/v1/chat/completions", "gpt-4o-mini", 1)
    for status in ("validating", "in_progress", "finalizing"):
        if status != "validating":
            server.sources.advance_batch(batch_id, status)
        statuses.append(client.batches.retrieve(batch_id).status)
    cancelled = _create(client, "/v1/chat/completions", "gpt-4o-mini", 1)
    statuses.append(client.batches.cancel(cancelled).status)
    failed = _create(client, "/v1/chat/completions", "gpt-4o-mini", 1)
    server.sources.advance_batch(failed, "failed")
    statuses.append(client.batches.retrieve(failed).status)
    assert statuses == ["validating", "in_progress", "finalizing", "cancelling", "failed"]
    assert telemetry.units("batch") == []

    server.sources.complete_batch(
        batch_id,
        [batch_result("r0", "gpt-4o-mini-2024-07-18", _chat_usage(100, 0, 10))],
        status="expired",
        completed_at=DONE_AT,
    )
    for _ in range(5):
        client.batches.list()
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.BATCH_STATUS] == "expired"
    # 100 x $0.075/1M + 10 x $0.30/1M = 0.0000075 + 0.000003 = 0.0000105
    assert unit.attributes[n.COST_AMOUNT] == float(Decimal("0.0000105"))


def _old_batch(client: openai.OpenAI, server: FakeOpenAI, lines: int) -> openai.types.Batch:
    batch_id = _create(client, "/v1/chat/completions", "gpt-4o-mini", lines)
    server.sources.complete_batch(
        batch_id,
        [batch_result(f"r{i}", "gpt-4o-mini-2024-07-18", _chat_usage(1000, 0, 100)) for i in range(lines)],
        report_usage=False,
        completed_at=DONE_AT,
    )
    return client.batches.retrieve(batch_id)


# Each line: 1000 input x $0.075/1M + 100 output x $0.30/1M = 0.000075 + 0.00003 = 0.000105.
PER_LINE = Decimal("0.000105")


def test_output_file_streamed_to_disk_is_read_as_it_passes(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed, tmp_path
) -> None:
    batch = _old_batch(client, server, 40)
    for attempt in range(5):
        with client.files.with_streaming_response.content(batch.output_file_id) as response:
            response.stream_to_file(tmp_path / f"out{attempt}.jsonl")
    assert len((tmp_path / "out0.jsonl").read_bytes().splitlines()) == 40  # the caller's file is whole
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.BATCH_LINES_BILLED] == 40
    # 40 lines x 0.000105 = 0.0042
    assert unit.attributes[n.COST_AMOUNT] == float(40 * PER_LINE)


def test_output_file_iterated_by_line(client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed) -> None:
    batch = _old_batch(client, server, 3)
    with client.files.with_streaming_response.content(batch.output_file_id) as response:
        assert len(list(response.iter_lines())) == 3
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(3 * PER_LINE)


def test_output_file_read_in_small_chunks(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    # Chunks far smaller than a line: lines are put together across chunks.
    batch = _old_batch(client, server, 4)
    with client.files.with_streaming_response.content(batch.output_file_id) as response:
        body = b"".join(response.iter_bytes(chunk_size=7))
    assert body.count(b"\n") == 4
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(4 * PER_LINE)


def test_output_file_read_whole_through_a_streaming_response(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    # read(), and text() which reads through it, on the response itself rather than its iterators.
    batch = _old_batch(client, server, 2)
    with client.files.with_streaming_response.content(batch.output_file_id) as response:
        assert response.read().count(b"\n") == 2
    with client.files.with_streaming_response.content(batch.output_file_id) as response:
        assert response.text().count("\n") == 2
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(2 * PER_LINE)


def test_output_file_abandoned_halfway_bills_nothing_yet(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    batch = _old_batch(client, server, 4)
    with client.files.with_streaming_response.content(batch.output_file_id) as response:
        next(iter(response.iter_bytes(chunk_size=16)))
    assert telemetry.units("batch") == []
    # A later complete download still settles it.
    client.files.content(batch.output_file_id)
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(4 * PER_LINE)


async def test_async_output_file(aclient: openai.AsyncOpenAI, server: FakeOpenAI, telemetry: Billed) -> None:
    batch_id = server.sources.add_file(b"x", "batch", "in.jsonl")  # a placeholder input file
    created = await aclient.batches.create(
        input_file_id=batch_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    server.sources.complete_batch(
        created.id,
        [batch_result("r0", "gpt-4o-mini-2024-07-18", _chat_usage(1000, 0, 100))],
        report_usage=False,
        completed_at=DONE_AT,
    )
    batch = await aclient.batches.retrieve(created.id)
    for _ in range(5):
        async with aclient.files.with_streaming_response.content(batch.output_file_id) as response:
            async for _chunk in response.iter_bytes():
                pass
        await aclient.files.content(batch.output_file_id)
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(PER_LINE)


async def test_async_output_file_read_whole_through_a_streaming_response(
    aclient: openai.AsyncOpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    batch_id = server.sources.add_file(b"x", "batch", "in.jsonl")  # a placeholder input file
    created = await aclient.batches.create(
        input_file_id=batch_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    server.sources.complete_batch(
        created.id,
        [batch_result(f"r{i}", "gpt-4o-mini-2024-07-18", _chat_usage(1000, 0, 100)) for i in range(3)],
        report_usage=False,
        completed_at=DONE_AT,
    )
    batch = await aclient.batches.retrieve(created.id)
    async with aclient.files.with_streaming_response.content(batch.output_file_id) as response:
        assert (await response.read()).count(b"\n") == 3
    (unit,) = telemetry.units("batch")
    assert unit.attributes[n.COST_AMOUNT] == float(3 * PER_LINE)


def test_a_malformed_output_file_reaches_the_caller_whole(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    body = (
        b'{"custom_id": "a", "response": {"status_code": 200, "body": {"model": 7}}}\n{not json\n\xff\xfe\n'
    )
    file_id = server.sources.add_file(body, "batch_output", "out.jsonl")
    assert client.files.content(file_id).content == body
    with client.files.with_streaming_response.content(file_id) as response:
        assert b"".join(response.iter_bytes(chunk_size=5)) == body
    # Every line failed to parse or had no usable usage: nothing is billed.
    assert telemetry.units("batch") == []
