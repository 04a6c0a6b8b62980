"""Seeded generation of malformed API responses: valid JSON with any value in any field, and a few
bodies that are no JSON at all.

Each case is one call and the raw bytes the server answers it with, in two variants: what the API
sends when the caller's own request goes out (plain), and what it sends when the instrumentation asked
for stream usage on the caller's behalf (instrumented: ``"usage": null`` on every chunk and one usage
chunk at the end). Where the variants differ, the fuzz mutates only what exists in both, or the usage
chunk, whose absence the caller must not notice.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from typing import Any

# Values nobody should send, in every JSON type: null, wrong types, negative and huge numbers (past
# 64 bits and float64's exact range), non-finite floats (Python's json reads NaN and Infinity), junk.
JUNK: tuple[Any, ...] = (
    None,
    "abc",
    "",
    -1,
    0,
    True,
    1.5,
    2**63,
    2**70,
    -(2**64),
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    [],
    {},
    [None, {"x": [1, "y"]}],
    {"a": {"b": None}, "prompt_tokens": -3},
    "9" * 40,
)

MODEL = "gpt-4o-mini-2024-07-18"
CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 350,
    "total_tokens": 1550,
    "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
}
RESPONSES_USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 2},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 1},
    "total_tokens": 15,
}
_CHUNK = {
    "id": "chatcmpl-fuzz",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": MODEL,
    "service_tier": "default",
    "system_fingerprint": "fp_fuzz",
}


def chat_body() -> dict[str, Any]:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": f"choice {i}", "refusal": None},
            "logprobs": None,
            "finish_reason": reason,
        }
        for i, reason in enumerate(("stop", "length"))
    ]
    return {**_CHUNK, "object": "chat.completion", "choices": choices, "usage": copy.deepcopy(CHAT_USAGE)}


def responses_body() -> dict[str, Any]:
    text = {"type": "output_text", "text": "hi", "annotations": []}
    message = {
        "type": "message",
        "id": "msg_fuzz",
        "status": "completed",
        "role": "assistant",
        "content": [text],
    }
    return {
        "id": "resp_fuzz",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": MODEL,
        "output": [message],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": "default",
        "metadata": {},
        "usage": copy.deepcopy(RESPONSES_USAGE),
    }


def embeddings_body() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def chat_chunks() -> list[dict[str, Any]]:
    chunks = []
    for i, reason in enumerate(("stop", "length")):
        for delta, finish in (
            ({"role": "assistant", "content": ""}, None),
            ({"content": "hi"}, None),
            ({}, reason),
        ):
            choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
            chunks.append({**_CHUNK, "choices": [choice]})
    return chunks


def responses_events() -> list[dict[str, Any]]:
    done = responses_body()
    started = {**done, "status": "in_progress", "output": [], "usage": None}
    where = {"item_id": "msg_fuzz", "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "sequence_number": 0, "response": started},
        {"type": "response.output_text.delta", "sequence_number": 1, **where, "delta": "hi", "logprobs": []},
        {"type": "response.completed", "sequence_number": 2, "response": done},
    ]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


# The fields the instrumentation reads: half the mutations go to one of them, so a short run reaches
# the code that matters as well as the junk around it.
READ_KEYS = frozenset(
    (
        "index",
        "finish_reason",
        "choices",
        "usage",
        "model",
        "id",
        "service_tier",
        "system_fingerprint",
        "status",
        "incomplete_details",
        "response",
        "data",
        "type",
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
    )
)


def mutate(
    rng: random.Random, doc: Any, count: int, allowed: Any = None, read_keys: frozenset[str] = READ_KEYS
) -> list[str]:
    """Replace or delete ``count`` values in ``doc`` (in place); returns what was done."""
    done = []
    for _ in range(count):
        paths = [p for p in _paths(doc) if allowed is None or allowed(p)]
        read = [p for p in paths if p[-1] in read_keys]
        if read and rng.random() < 0.5:
            paths = read
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
            done.append(f"del {path}")
        else:
            value = copy.deepcopy(rng.choice(JUNK))
            parent[path[-1]] = value
            done.append(f"{path}={value!r}")
    return done


# Bodies that are no JSON at all, or not what their content type says: (content type, bytes).
NOT_JSON: tuple[tuple[str, bytes], ...] = (
    ("application/json", b""),
    ("application/json", b"{not json"),
    ("application/json", b'{"id": "chatcmpl-fuzz", "usage": {"prompt_tokens": 12'),
    ("application/json", b"\xff\xfe{}"),
    ("text/plain", b"upstream timed out"),
    ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
)


@dataclass
class Case:
    """One call and the server's raw answers to it."""

    kind: str  # chat | responses | embeddings
    stream: bool
    include_usage: bool  # the caller asked for stream usage itself
    plain: bytes
    instrumented: bytes
    content_type: str
    what: str  # the mutations, for a failure message
    raw: bool = False  # called through with_raw_response and parsed in the same expression
    ref: str = ""  # the id a stored-object read asks for (its URL), where the case needs its own

    def describe(self, index: int, seed: int) -> str:
        flags = "stream" if self.stream else "body"
        if self.include_usage:
            flags += "+include_usage"
        if self.raw:
            flags += " raw"
        return f"case {index} (seed {seed}) {self.kind} {flags}: {self.what}"


def _dumps(doc: Any) -> str:
    return json.dumps(doc)


def _sse(events: list[dict[str, Any]], done: bool, named: bool = False) -> bytes:
    lines = [
        (f"event: {e.get('type') if isinstance(e, dict) else 'x'}\n" if named else "")
        + f"data: {_dumps(e)}\n\n"
        for e in events
    ]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _not_choices_shape(path: tuple[Any, ...]) -> bool:
    # In an injected stream every content chunk gains "usage": null, so a chunk stays an object, and
    # the shape of its "choices" (what tells it from a usage chunk) is left alone: any value inside.
    return len(path) >= 2 and (path[1] != "choices" or len(path) >= 3)


def make_case(rng: random.Random, responses: bool = True) -> Case:
    """A random call with 1 to 3 malformed values in its answer (Responses API calls if ``responses``)."""
    count = rng.randint(1, 3)
    stream = rng.random() < 0.5
    kinds = ("chat", "chat", "responses") if stream else ("chat", "responses", "embeddings")
    kind = rng.choice(kinds if responses else tuple(k for k in kinds if k != "responses"))
    if not stream:
        # A raw response parsed in one expression (``with_raw_response.create(...).parse()``): nothing
        # but the parse holds the response.
        raw_mode = rng.random() < 0.3
        if rng.random() < 0.1:
            content_type, raw = rng.choice(NOT_JSON)
            return Case(kind, False, False, raw, raw, content_type, f"not JSON: {raw[:40]!r}", raw_mode)
        body = {"chat": chat_body, "responses": responses_body, "embeddings": embeddings_body}[kind]()
        what = mutate(rng, body, count)
        raw = _dumps(body).encode()
        return Case(kind, False, False, raw, raw, "application/json", "; ".join(what), raw_mode)
    if kind == "responses":
        events = responses_events()
        what = mutate(rng, events, count)
        raw = _sse(events, done=False, named=True)
        return Case(kind, True, False, raw, raw, "text/event-stream", "; ".join(what))
    chunks = chat_chunks()
    include_usage = rng.random() < 0.3
    if include_usage:
        # The caller asked for usage: both runs get the same stream, any chunk may be broken.
        chunks = [{**c, "usage": None} for c in chunks] + [
            {**_CHUNK, "choices": [], "usage": copy.deepcopy(CHAT_USAGE)}
        ]
        what = mutate(rng, chunks, count)
        raw = _sse(chunks, done=True)
        return Case(kind, True, True, raw, raw, "text/event-stream", "; ".join(what))
    # Injected: the usage chunk (which the caller never asked for) is broken, and maybe a content chunk.
    usage_chunk = {**_CHUNK, "choices": [], "usage": copy.deepcopy(CHAT_USAGE)}
    what = ["usage chunk: " + "; ".join(mutate(rng, usage_chunk, count))]
    choices = usage_chunk.get("choices")
    if isinstance(choices, list) and choices:
        # What marks the usage chunk is that it has no choice to show: with choices, it would be a
        # content chunk the caller gets either way, whatever else it carries.
        usage_chunk["choices"] = []
        what.append("choices back to []")
    if rng.random() < 0.5:
        what.append("content: " + "; ".join(mutate(rng, chunks, 1, _not_choices_shape)))
    plain = _sse(chunks, done=True)
    instrumented = _sse([{**c, "usage": None} for c in chunks] + [usage_chunk], done=True)
    return Case(kind, True, False, plain, instrumented, "text/event-stream", " | ".join(what))


# --- stored objects read back, and transcripts: the usage sources' bodies ---------------------------
def batch_body(n: int) -> dict[str, Any]:
    """A completed Batch object as batches.retrieve returns it (one created after 2025-09-07: usage)."""
    return {
        "id": f"batch_fuzz_{n}",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "model": MODEL,
        "errors": None,
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": "completed",
        "output_file_id": f"file-out-{n}",
        "error_file_id": None,
        "created_at": 1714508499,
        "in_progress_at": 1714508500,
        "expires_at": 1714594899,
        "finalizing_at": 1714508600,
        "completed_at": 1714508700,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 100, "completed": 95, "failed": 5},
        "usage": copy.deepcopy(RESPONSES_USAGE),  # a Batch reports usage in the Responses shape
        "metadata": None,
    }


def fine_tuning_body(n: int) -> dict[str, Any]:
    """A succeeded fine-tuning job as fine_tuning.jobs.retrieve returns it."""
    hyper = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    return {
        "object": "fine_tuning.job",
        "id": f"ftjob-fuzz{n}",
        "model": MODEL,
        "created_at": 1721764800,
        "finished_at": 1721768400,
        "fine_tuned_model": f"ft:{MODEL}:org::fuzz{n}",
        "organization_id": "org-fuzz",
        "result_files": ["file-result"],
        "status": "succeeded",
        "validation_file": None,
        "training_file": "file-train",
        "hyperparameters": dict(hyper),
        "trained_tokens": 12000,
        "error": None,
        "seed": 42,
        "estimated_finish": None,
        "integrations": [],
        "method": {"type": "supervised", "supervised": {"hyperparameters": dict(hyper)}},
        "metadata": None,
    }


def background_response_body(n: int) -> dict[str, Any]:
    """A finished background response as responses.retrieve returns it: billed by this read."""
    return {**responses_body(), "id": f"resp_fuzz_{n}", "background": True}


def transcription_body(rng: random.Random) -> dict[str, Any]:
    """A transcript with usage: tokens (gpt-4o-transcribe) or seconds (whisper-1)."""
    if rng.random() < 0.5:
        usage: dict[str, Any] = {"type": "duration", "seconds": 3}
    else:
        usage = {
            "type": "tokens",
            "input_tokens": 14,
            "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
            "output_tokens": 45,
            "total_tokens": 59,
        }
    return {"text": "hello", "usage": usage}


def batch_output_lines(n: int) -> list[dict[str, Any]]:
    """The lines of a Batch output file (files.content of a batch's output_file_id): chat responses,
    one of them from a second model."""
    lines = []
    for i, model in enumerate((MODEL, MODEL, "gpt-4o-2024-08-06")):
        body = {**chat_body(), "id": f"chatcmpl-b{n}-{i}", "model": model}
        response = {"status_code": 200, "request_id": f"req_b{n}_{i}", "body": body}
        lines.append({"id": f"batch_req_{n}_{i}", "custom_id": f"r{i}", "response": response, "error": None})
    return lines


# Lines a Batch output file should not have, put among the real ones: no JSON, bytes that are no UTF-8.
JUNK_LINES: tuple[bytes, ...] = (
    b"{not json",
    b'{"custom_id": "x", "response": {"status_code": 200, "body": {"model": "\xff\xfe", "usage": {}}}}',
    b'{"custom_id": "x", "response": {"status_code": 200, "body": {"model": "g\xff", "usage": 5}}}',
    b"\xff\xfe\x00",
)


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "first_id": None, "last_id": None, "has_more": False}


# The fields the usage sources read, for the mutations aimed at what matters (as READ_KEYS above).
SOURCE_READ_KEYS = READ_KEYS | frozenset(
    (
        "object",
        "background",
        "endpoint",
        "request_counts",
        "total",
        "completed",
        "failed",
        "output_file_id",
        "in_progress_at",
        "completed_at",
        "failed_at",
        "expired_at",
        "cancelled_at",
        "finished_at",
        "trained_tokens",
        "fine_tuned_model",
        "method",
        "supervised",
        "hyperparameters",
        "n_epochs",
        "tool_usage",
        "seconds",
        "input_token_details",
        "audio_tokens",
        "text_tokens",
    )
)
STORED_KINDS = (
    "batch",
    "batch list",
    "fine_tuning",
    "fine_tuning list",
    "response retrieve",
    "transcription",
    "batch file",
)


def make_source_case(rng: random.Random, n: int, responses: bool = True) -> Case:
    """A read of stored objects (or a transcription) whose answer has 1 to 3 malformed values; ``n``
    numbers the objects, so every case bills objects of its own."""
    kinds = STORED_KINDS if responses else tuple(k for k in STORED_KINDS if k != "response retrieve")
    kind = rng.choice(kinds)
    if kind == "batch":
        body: Any = batch_body(n)
    elif kind == "batch list":
        body = _listed([batch_body(n), batch_body(n + 100_000)])
    elif kind == "fine_tuning":
        body = fine_tuning_body(n)
    elif kind == "fine_tuning list":
        body = _listed([fine_tuning_body(n), fine_tuning_body(n + 100_000)])
    elif kind == "response retrieve":
        body = background_response_body(n)
    elif kind == "batch file":
        lines = batch_output_lines(n)
        what = mutate(rng, lines, rng.randint(1, 3), read_keys=SOURCE_READ_KEYS | {"status_code", "body"})
        raw_lines = [_dumps(line).encode() for line in lines]
        if rng.random() < 0.3:
            junk = rng.choice(JUNK_LINES)
            raw_lines.insert(rng.randint(1, len(raw_lines)), junk)
            what.append(f"junk line {junk[:30]!r}")
        raw = b"\n".join(raw_lines) + b"\n"
        return Case(
            kind, False, False, raw, raw, "application/octet-stream", "; ".join(what), ref=f"file-{n}"
        )
    else:
        body = transcription_body(rng)
    what = mutate(rng, body, rng.randint(1, 3), read_keys=SOURCE_READ_KEYS)
    raw = _dumps(body).encode()
    return Case(kind, False, False, raw, raw, "application/json", "; ".join(what))
