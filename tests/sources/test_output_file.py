"""The Batch output-file reader on plain lines: the fast path agrees with a full JSON parse, whatever
the layout, and only what a line really reports is counted."""

from __future__ import annotations

import json

from otel_openai_billing import endpoints
from otel_openai_billing.record import CallRecord
from otel_openai_billing.sources import Settled
from otel_openai_billing.sources.batch import OutputFile

CHAT = {
    "prompt_tokens": 100,
    "completion_tokens": 10,
    "total_tokens": 110,
    "prompt_tokens_details": {"cached_tokens": 40},
}
RESPONSES = {
    "input_tokens": 50,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 55,
}


def _reader() -> OutputFile:
    read = CallRecord(endpoints.lookup("GET", "/files/file-1/content"))
    read.object_id = "file-1"
    return OutputFile(read, "file-1", None)


def _line(body: dict | None, status: int = 200, error: dict | None = None, **dumps: object) -> bytes:
    response = None if body is None else {"status_code": status, "request_id": "req_1", "body": body}
    item = {"id": "batch_req_1", "custom_id": "c", "response": response, "error": error}
    return json.dumps(item, **dumps).encode() + b"\n"  # type: ignore[arg-type]


def _usage(reader: OutputFile) -> dict[str, tuple[int | None, int | None, int | None, int]]:
    return {
        model: (u.input_tokens, u.cache_read_tokens, u.output_tokens, lines)
        for model, (u, lines) in reader.per_model.items()
    }


def test_layouts_and_decoys() -> None:
    reader = _reader()
    chat = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [], "usage": CHAT}
    # A Responses body whose metadata has a "usage" key after the real usage, text that mentions
    # "usage": in its content (escaped quotes), and a tool configured with its own "model".
    responses = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1-mini",
        "output": [
            {"type": "message", "content": [{"type": "output_text", "text": 'say "usage": {"x": 1}'}]}
        ],
        "tools": [{"type": "image_generation", "model": "gpt-image-1"}],
        "usage": RESPONSES,
        "metadata": {"usage": "internal"},
    }
    body = b"".join(
        [
            _line(chat),
            _line(chat, separators=(",", ":")),  # compact JSON
            _line(responses),
            _line(responses, indent=None, separators=(", ", " : ")),
            _line({"error": {"message": "bad"}}, status=400),
            _line(None, error={"code": "batch_expired", "message": "expired"}),
            _line({"id": "modr-1", "model": "omni-moderation-latest", "results": []}),  # no usage: free
            b"{not json\n",
        ]
    )
    for size in (1, 7, 64, len(body)):  # any chunking gives the same answer
        reader = _reader()
        for i in range(0, len(body), size):
            reader.feed(body[i : i + size])
        assert reader.settle(Settled()) != []
        assert _usage(reader) == {"gpt-4o-mini": (200, 80, 20, 2), "gpt-4.1-mini": (100, 0, 10, 2)}
        assert reader.failed == 3  # the 400, the expired request, the broken line


def test_iter_lines_gives_the_same_answer() -> None:
    reader = _reader()
    chat = {"model": "gpt-4o-mini", "usage": CHAT}
    for _ in range(3):
        reader.line(_line(chat).decode().rstrip("\n"))
    assert _usage(reader) == {"gpt-4o-mini": (300, 120, 30, 3)}


def test_not_batch_output_is_dropped_after_its_first_line() -> None:
    reader = _reader()
    reader.feed(b'{"messages": [{"role": "user", "content": "hi"}]}\n' + _line({"model": "m", "usage": CHAT}))
    assert not reader.active
    assert reader.settle(Settled()) == []
