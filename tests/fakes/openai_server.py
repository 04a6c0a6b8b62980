"""An OpenAI-compatible HTTP API on 127.0.0.1, for driving the real `openai` SDK in tests.

Bodies are shaped as OpenAI's API reference documents them; content and usage are
deterministic. Tests control the server through `fail_next`, `cut_next_stream`, `stall_next_stream`,
`next_usage`, `reply_text`, `delay` and `raw_next` (a body served verbatim, however malformed), and
inspect what it received in `requests`.

    with FakeOpenAI() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        server.requests[-1].response_request_id  # the x-request-id the SDK saw
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import BackgroundServer
from .sources_api import SourcesAPI

# Aliases resolve to the snapshot the API reports in `model`; unknown models are echoed back.
MODEL_SNAPSHOTS: dict[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "omni-moderation-latest": "omni-moderation-2024-09-26",
    "text-moderation-latest": "text-moderation-007",
}

DEFAULT_REPLY = "Hello from the fake OpenAI server."
EMBEDDING_DIMENSIONS = 8  # real models return 1536+; a short vector keeps assertions readable
SYSTEM_FINGERPRINT = "fp_fake0openai"

# Default usage per endpoint, returned when `next_usage` is not set. Fixed numbers, so a test can
# write its expectation by hand.
CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
COMPLETION_USAGE: dict[str, Any] = {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15}
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 19,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 10,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 29,
}
EMBEDDINGS_USAGE: dict[str, Any] = {"prompt_tokens": 8, "total_tokens": 8}
IMAGE_PROMPT_TOKENS = 12
SPEECH_INPUT_TOKENS = 14  # gpt-4o-mini-tts SSE: text tokens of the input
SPEECH_OUTPUT_TOKENS = 250  # audio tokens of the speech
TRANSCRIPTION_SECONDS = 3
TRANSCRIPTION_TOKENS_USAGE: dict[str, Any] = {
    "type": "tokens",
    "input_tokens": 40,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 40},
    "output_tokens": 9,
    "total_tokens": 49,
}

# gpt-image-1 output tokens per image, from OpenAI's image-generation guide.
_IMAGE_OUTPUT_TOKENS: dict[tuple[str, str], int] = {
    ("1024x1024", "low"): 272,
    ("1024x1024", "medium"): 1056,
    ("1024x1024", "high"): 4160,
    ("1024x1536", "low"): 408,
    ("1024x1536", "medium"): 1584,
    ("1024x1536", "high"): 6240,
    ("1536x1024", "low"): 400,
    ("1536x1024", "medium"): 1568,
    ("1536x1024", "high"): 6208,
}

# A valid 1x1 transparent PNG, so b64_json decodes to something image libraries accept.
_PNG_1X1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()

_SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# (type, code, message) per status, as the real API words them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Request not allowed."),
    404: ("invalid_request_error", None, "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}


@dataclass
class RecordedRequest:
    """One request as the server received it, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers  # case-insensitive lookups
    body: bytes
    json: Any | None  # the decoded JSON body; None when the body is not JSON
    form: dict[str, str] = field(default_factory=dict)  # multipart fields, files excluded
    files: dict[str, bytes] = field(default_factory=dict)
    response_status: int | None = None
    response_request_id: str | None = None


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None
    retry_after_ms: float | None
    body: dict[str, Any] | None


class _ApiError(Exception):
    """Raised by a handler to answer with an OpenAI-shaped error."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.response = error_response(status, message=message, param=param)


def error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The `{"error": {...}}` body the real API sends for `status`."""
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    err_type, code, default_message = _ERRORS.get(status, (default_type, None, f"HTTP {status}"))
    return {"error": {"message": message or default_message, "type": err_type, "param": param, "code": code}}


def error_response(status: int, message: str | None = None, param: str | None = None) -> Response:
    """A JSON error response shaped like the real API's."""
    return _json_response(error_body(status, message, param), status=status)


def resolve_model(model: str) -> str:
    """The snapshot name the API reports for a requested model."""
    return MODEL_SNAPSHOTS.get(model, model)


class FakeOpenAI(BackgroundServer):
    """OpenAI-compatible API on 127.0.0.1; `base_url` ends in `/v1`."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.reply_text: str = DEFAULT_REPLY
        self.next_usage: dict[str, Any] | None = None
        self.delay: float = 0.0
        # Sent back as openai-organization / openai-project unless the request names its own (as the
        # real API does with the OpenAI-Organization / OpenAI-Project request headers).
        self.organization = "user-fake0org"
        self.project = "proj_fake0default"
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._failures_at: dict[int, _Failure] = {}
        # Streams to cut short: (events sent first, seconds of silence before the connection drops).
        self._cuts: deque[tuple[int, float]] = deque()
        self._raw: deque[tuple[bytes, str, int]] = deque()
        self._stored_responses: dict[str, dict[str, Any]] = {}
        self._stopping = threading.Event()
        self.sources = SourcesAPI(self)  # batches, files, fine-tuning jobs, image edits
        self._urls = Map(
            [
                Rule("/v1/chat/completions", methods=["POST"], endpoint=self._chat_completions),
                Rule("/v1/completions", methods=["POST"], endpoint=self._completions),
                Rule("/v1/responses", methods=["POST"], endpoint=self._responses),
                Rule("/v1/responses/<response_id>", methods=["GET"], endpoint=self._retrieve_response),
                Rule("/v1/embeddings", methods=["POST"], endpoint=self._embeddings),
                Rule("/v1/moderations", methods=["POST"], endpoint=self._moderations),
                Rule("/v1/images/generations", methods=["POST"], endpoint=self._images),
                Rule("/v1/audio/transcriptions", methods=["POST"], endpoint=self._transcriptions),
                Rule("/v1/audio/translations", methods=["POST"], endpoint=self._translations),
                Rule("/v1/audio/speech", methods=["POST"], endpoint=self._speech),
                Rule("/v1/models", methods=["GET"], endpoint=self._models),
                Rule("/v1/models/<model_id>", methods=["GET"], endpoint=self._model),
                Rule("/v1/files", methods=["GET"], endpoint=self._files),
                *self.sources.rules(),
            ]
        )

    @property
    def base_url(self) -> str:
        """What to pass as `OpenAI(base_url=...)`."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Self:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        # Wakes handlers sleeping in `delay`, so stop() does not wait them out.
        self._stopping.set()
        super().stop()

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
        retry_after_ms: float | None = 1,
    ) -> None:
        """Answer the next `n` requests (any path) with `status` and an OpenAI-shaped error body.

        `retry_after_ms` defaults to 1 so the SDK's own retries do not sleep for real; pass None to
        leave the header out (then `retry_after`, in seconds, or the SDK's backoff applies).
        `body` replaces the whole JSON body.
        """
        failure = _Failure(status, retry_after, retry_after_ms, body)
        with self._lock:
            self._failures.extend([failure] * n)

    def fail_request_number(self, index: int, status: int = 429) -> None:
        """Answer the request with this 0-based index (counted since start or `clear()`) with `status`.

        For a program run as a whole (the zero-code test, the demo) whose nth call should fail.
        """
        with self._lock:
            self._failures_at[index] = _Failure(status, None, 1, None)

    def cut_next_stream(self, after_chunks: int) -> None:
        """Make the next streamed response send `after_chunks` SSE events, then drop the connection."""
        with self._lock:
            self._cuts.append((after_chunks, 0.0))

    def stall_next_stream(self, after_chunks: int, seconds: float) -> None:
        """Make the next streamed response send `after_chunks` SSE events, then send nothing for
        `seconds` (past a client's read timeout) and drop the connection."""
        with self._lock:
            self._cuts.append((after_chunks, seconds))

    def raw_next(self, content: bytes, content_type: str = "application/json", status: int = 200) -> None:
        """Answer the next request (any path) with `content` verbatim (status 200 unless given):
        malformed bodies and SSE event lists for the fuzz suite."""
        with self._lock:
            self._raw.append((content, content_type, status))

    def clear(self) -> None:
        """Forget received requests and pending failures, cuts and usage; keep the server running."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._failures_at.clear()
            self._cuts.clear()
            self._raw.clear()
            self.next_usage = None
            self.delay = 0.0
        self.sources.clear()

    # -- serving -------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # Closing the request releases the temporary files werkzeug spools multipart uploads to.
        with Request(environ) as request:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        started = time.monotonic()
        recorded = _record(request)
        recorded.response_request_id = "req_" + secrets.token_hex(16)
        with self._lock:
            failure = self._failures_at.pop(len(self.requests), None)
            self.requests.append(recorded)
            if failure is None and self._failures:
                failure = self._failures.popleft()
            raw = self._raw.popleft() if failure is None and self._raw else None
        if self.delay:
            self._stopping.wait(self.delay)
        if raw is not None:
            response = Response(raw[0], status=raw[2], content_type=raw[1])
        else:
            response = _failure_response(failure) if failure else self._dispatch(request, recorded)
        recorded.response_status = response.status_code
        response.headers["x-request-id"] = recorded.response_request_id
        response.headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        response.headers["openai-version"] = "2020-10-01"
        headers = request.headers
        response.headers["openai-organization"] = headers.get("OpenAI-Organization") or self.organization
        response.headers["openai-project"] = headers.get("OpenAI-Project") or self.project
        return response

    def _dispatch(self, request: Request, recorded: RecordedRequest) -> Response:
        try:
            endpoint, args = self._urls.bind_to_environ(request.environ).match()
        except HTTPException:
            # The real API answers unknown paths and wrong methods alike with this 404.
            return error_response(404, f"Invalid URL ({request.method} {request.path})")
        try:
            return endpoint(recorded, **args)
        except _ApiError as exc:
            return exc.response

    def _take_usage(self, default: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            usage, self.next_usage = self.next_usage, None
        return copy.deepcopy(usage if usage is not None else default)

    def _sse(self, events: list[str], done_marker: bool) -> Response:
        with self._lock:
            cut_after, silence = self._cuts.popleft() if self._cuts else (None, 0.0)

        def body() -> Iterator[bytes]:
            for index, event in enumerate(events):
                if index == cut_after:
                    time.sleep(silence)
                    break
                yield event.encode()
            if cut_after is not None:
                # werkzeug treats a ConnectionError from the app as a dropped client: it closes
                # the socket without the terminating zero-length chunk, so the SDK sees a body cut
                # short, as when a connection dies mid-stream.
                raise ConnectionAbortedError("FakeOpenAI.cut_next_stream")
            if done_marker:
                yield b"data: [DONE]\n\n"

        return Response(body(), content_type="text/event-stream; charset=utf-8")

    # -- endpoints -----------------------------------------------------------------------------

    def _chat_completions(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        model = resolve_model(_required(body, "model"))
        n = int(body.get("n") or 1)
        common = {
            "id": "chatcmpl-" + _random_id(29),
            "created": int(time.time()),
            "model": model,
            "service_tier": _applied_tier(body),
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.reply_text, "refusal": None, "annotations": []}
            choices = [
                {"index": i, "message": message, "logprobs": None, "finish_reason": "stop"} for i in range(n)
            ]
            completion = {"object": "chat.completion", **common, "choices": choices}
            return _json_response({**completion, "usage": self._take_usage(CHAT_USAGE)})

        include_usage = _include_usage(body)

        def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
            data = {"object": "chat.completion.chunk", **common, "choices": choices}
            # The real API adds `"usage": null` to every chunk only when usage was asked for.
            return {**data, "usage": None} if include_usage else data

        def choice(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        chunks = []
        for i in range(n):
            chunks.append(chunk([choice(i, {"role": "assistant", "content": "", "refusal": None})]))
            chunks.extend(chunk([choice(i, {"content": piece})]) for piece in _pieces(self.reply_text))
            chunks.append(chunk([choice(i, {}, "stop")]))
        if include_usage:
            chunks.append({**chunk([]), "usage": self._take_usage(CHAT_USAGE)})
        return self._sse([_data_event(c) for c in chunks], done_marker=True)

    def _completions(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        n = int(body.get("n") or 1)
        common = {
            "id": "cmpl-" + _random_id(29),
            "object": "text_completion",
            "created": int(time.time()),
            "model": resolve_model(_required(body, "model")),
        }

        def choice(index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
            return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}

        if not body.get("stream"):
            choices = [choice(i, self.reply_text, "stop") for i in range(n)]
            return _json_response({**common, "choices": choices, "usage": self._take_usage(COMPLETION_USAGE)})

        include_usage = _include_usage(body)
        extra = {"usage": None} if include_usage else {}
        chunks = []
        for i in range(n):
            chunks.extend(
                {**common, "choices": [choice(i, p, None)], **extra} for p in _pieces(self.reply_text)
            )
            chunks.append({**common, "choices": [choice(i, "", "stop")], **extra})
        if include_usage:
            chunks.append({**common, "choices": [], "usage": self._take_usage(COMPLETION_USAGE)})
        return self._sse([_data_event(c) for c in chunks], done_marker=True)

    def _responses(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        response_id = "resp_" + secrets.token_hex(24)
        message_id = "msg_" + secrets.token_hex(24)
        base = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "background": bool(body.get("background", False)),
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": resolve_model(_required(body, "model")),
            "output": [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "service_tier": _applied_tier(body),
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }
        text_part = {"type": "output_text", "text": self.reply_text, "annotations": [], "logprobs": []}
        item = {"id": message_id, "type": "message", "status": "completed", "role": "assistant"}
        done_item = {**item, "content": [text_part]}
        completed = {
            **base,
            "status": "completed",
            "output": [done_item],
            "usage": self._take_usage(RESPONSES_USAGE),
        }
        tool_usage, self.sources.next_tool_usage = self.sources.next_tool_usage, None
        if tool_usage is not None:
            completed["tool_usage"] = tool_usage
        with self._lock:
            self._stored_responses[response_id] = completed
        if body.get("background") and not body.get("stream"):
            # A background response is queued: its usage shows only when it is read back finished.
            return _json_response({**base, "status": "queued"})
        if not body.get("stream"):
            return _json_response(completed)

        where = {"item_id": message_id, "output_index": 0, "content_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": base},
            {"type": "response.in_progress", "response": base},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            },
            {"type": "response.content_part.added", **where, "part": {**text_part, "text": ""}},
            *(
                {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
                for piece in _pieces(self.reply_text)
            ),
            {"type": "response.output_text.done", **where, "text": self.reply_text, "logprobs": []},
            {"type": "response.content_part.done", **where, "part": text_part},
            {"type": "response.output_item.done", "output_index": 0, "item": done_item},
            {"type": "response.completed", "response": completed},
        ]
        sse = [
            f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': seq})}\n\n"
            for seq, event in enumerate(events)
        ]
        # The Responses API ends its stream after the terminal event; it sends no [DONE].
        return self._sse(sse, done_marker=False)

    def _retrieve_response(self, req: RecordedRequest, response_id: str) -> Response:
        with self._lock:
            stored = self._stored_responses.get(response_id)
        if stored is None:
            raise _ApiError(404, f"Response with id '{response_id}' not found.")
        return _json_response(stored)

    def _embeddings(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        model = _required(body, "model")
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(_embedding_inputs(_required(body, "input"))):
            vector = embedding_vector(text, dimensions)
            encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append(
                {"object": "embedding", "index": index, "embedding": encoded if as_base64 else vector}
            )
        usage = self._take_usage(EMBEDDINGS_USAGE)
        return _json_response({"object": "list", "data": data, "model": model, "usage": usage})

    def _moderations(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        result = {
            "flagged": False,
            "categories": dict.fromkeys(_MODERATION_CATEGORIES, False),
            "category_scores": dict.fromkeys(_MODERATION_CATEGORIES, 0.0001),
            "category_applied_input_types": {name: ["text"] for name in _MODERATION_CATEGORIES},
        }
        return _json_response(
            {
                "id": "modr-" + secrets.token_hex(16),
                "model": resolve_model(body.get("model") or "omni-moderation-latest"),
                "results": [result] * count,
            }
        )

    def _images(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        _required(body, "prompt")
        model = body.get("model") or "dall-e-2"
        n = int(body.get("n") or 1)
        created = int(time.time())
        if model.startswith("dall-e"):
            # DALL·E reports no usage; it is priced per image from the request.
            if body.get("response_format") == "b64_json":
                image: dict[str, Any] = {"b64_json": _PNG_1X1}
            else:
                image = {"url": f"https://images.fake-openai.invalid/img-{secrets.token_hex(8)}.png"}
            if model == "dall-e-3":
                image["revised_prompt"] = body["prompt"]
            return _json_response({"created": created, "data": [image] * n})

        return self.image_response(body)

    def image_response(self, body: Any, image_tokens: int = 0) -> Response:
        """A gpt-image answer (generation or edit) for request fields `body` (JSON or multipart form)."""
        n = int(body.get("n") or 1)
        created = int(time.time())
        size = body.get("size") if body.get("size") not in (None, "auto") else "1024x1024"
        quality = body.get("quality") if body.get("quality") not in (None, "auto") else "medium"
        output_tokens = _IMAGE_OUTPUT_TOKENS.get((size, quality), 1056) * n
        default_usage = {
            "input_tokens": IMAGE_PROMPT_TOKENS + image_tokens,
            "input_tokens_details": {"text_tokens": IMAGE_PROMPT_TOKENS, "image_tokens": image_tokens},
            "output_tokens": output_tokens,
            "total_tokens": IMAGE_PROMPT_TOKENS + image_tokens + output_tokens,
        }
        return _json_response(
            {
                "created": created,
                "background": "opaque",
                "data": [{"b64_json": _PNG_1X1}] * n,
                "output_format": body.get("output_format") or "png",
                "quality": quality,
                "size": size,
                "usage": self._take_usage(default_usage),
            }
        )

    def _transcriptions(self, req: RecordedRequest) -> Response:
        model = _audio_request(req)
        response_format = req.form.get("response_format", "json")
        if response_format in ("text", "srt", "vtt"):
            return _text_response(self.reply_text, response_format)
        if model == "whisper-1":
            usage = self._take_usage({"type": "duration", "seconds": TRANSCRIPTION_SECONDS})
        else:
            usage = self._take_usage(TRANSCRIPTION_TOKENS_USAGE)
        if response_format == "diarized_json":
            segment = {
                "type": "transcript.text.segment",
                "id": "seg_0",
                "start": 0.0,
                "end": float(TRANSCRIPTION_SECONDS),
                "text": self.reply_text,
                "speaker": "A",
            }
            return _json_response(
                {
                    "task": "transcribe",
                    "duration": float(TRANSCRIPTION_SECONDS),
                    "text": self.reply_text,
                    "segments": [segment],
                    "usage": usage,
                }
            )
        if response_format == "verbose_json":
            return _json_response(
                {
                    "task": "transcribe",
                    "language": req.form.get("language", "english"),
                    "duration": float(TRANSCRIPTION_SECONDS),
                    "text": self.reply_text,
                    "segments": [],
                    "usage": usage,
                }
            )
        return _json_response({"text": self.reply_text, "usage": usage})

    def _translations(self, req: RecordedRequest) -> Response:
        _audio_request(req)
        response_format = req.form.get("response_format", "json")
        if response_format in ("text", "srt", "vtt"):
            return _text_response(self.reply_text, response_format)
        if response_format == "verbose_json":
            # A translation reports its duration but no usage.
            return _json_response(
                {
                    "task": "translate",
                    "language": "english",
                    "duration": float(TRANSCRIPTION_SECONDS),
                    "text": self.reply_text,
                    "segments": [],
                }
            )
        return _json_response({"text": self.reply_text})

    def _speech(self, req: RecordedRequest) -> Response:
        body = _json_body(req)
        _required(body, "model")
        _required(body, "input")
        audio_format = body.get("response_format") or "mp3"
        if body.get("stream_format") == "sse":
            return self._speech_sse(body)
        # An ID3 tag header then silence: enough for the SDK, which never decodes audio.
        audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(1024)
        return Response(audio, content_type=_SPEECH_CONTENT_TYPES.get(audio_format, "audio/mpeg"))

    def _speech_sse(self, body: dict[str, Any]) -> Response:
        # gpt-4o-mini-tts streams base64 audio deltas, then speech.audio.done with the usage.
        if body.get("model") in ("tts-1", "tts-1-hd"):
            raise _ApiError(
                400, "stream_format 'sse' is not supported for tts-1 and tts-1-hd.", "stream_format"
            )
        chunk = base64.b64encode(bytes(480)).decode()
        default_usage = {
            "input_tokens": SPEECH_INPUT_TOKENS,
            "output_tokens": SPEECH_OUTPUT_TOKENS,
            "total_tokens": SPEECH_INPUT_TOKENS + SPEECH_OUTPUT_TOKENS,
        }
        events = [_data_event({"type": "speech.audio.delta", "audio": chunk}) for _ in range(3)]
        events.append(_data_event({"type": "speech.audio.done", "usage": self._take_usage(default_usage)}))
        return self._sse(events, done_marker=False)

    # Helpers the mounted endpoint groups (sources_api) answer with.
    json_response = staticmethod(lambda payload, status=200: _json_response(payload, status))
    error_response = staticmethod(
        lambda status, message=None, param=None: error_response(status, message, param)
    )
    error_body = staticmethod(lambda status: error_body(status))

    def _models(self, req: RecordedRequest) -> Response:
        data = [
            _model_object(name) for name in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "whisper-1")
        ]
        return _json_response({"object": "list", "data": data})

    def _model(self, req: RecordedRequest, model_id: str) -> Response:
        return _json_response(_model_object(model_id))

    def _files(self, req: RecordedRequest) -> Response:
        files = [
            {
                "id": f"file-{index:024d}",
                "object": "file",
                "bytes": 1024 * index,
                "created_at": 1_700_000_000 + index,
                "expires_at": None,
                "filename": f"train-{index}.jsonl",
                "purpose": "fine-tune",
                "status": "processed",
                "status_details": None,
            }
            for index in range(1, 4)
        ]
        after = req.query.get("after")
        if after is not None:
            ids = [f["id"] for f in files]
            files = files[ids.index(after) + 1 :] if after in ids else []
        limit = int(req.query.get("limit", 10000))
        page, has_more = files[:limit], len(files) > limit
        first_id = page[0]["id"] if page else None
        last_id = page[-1]["id"] if page else None
        return _json_response(
            {"object": "list", "data": page, "first_id": first_id, "last_id": last_id, "has_more": has_more}
        )


# -- helpers -----------------------------------------------------------------------------------


def _record(request: Request) -> RecordedRequest:
    raw = request.get_data(cache=True)
    parsed: Any | None = None
    if request.mimetype == "application/json" and raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    form: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # The body is cached above, so werkzeug parses the form from the cached bytes.
        form = dict(request.form.items())
        files = {name: storage.read() for name, storage in request.files.items()}
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.args.items()),
        headers=Headers(list(request.headers.items())),
        body=raw,
        json=parsed,
        form=form,
        files=files,
    )


def _failure_response(failure: _Failure) -> Response:
    response = _json_response(failure.body or error_body(failure.status), status=failure.status)
    if failure.retry_after is not None:
        response.headers["retry-after"] = f"{failure.retry_after:g}"
    if failure.retry_after_ms is not None:
        response.headers["retry-after-ms"] = f"{failure.retry_after_ms:g}"
    return response


def _json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def _text_response(text: str, response_format: str) -> Response:
    content_type = {"srt": "application/x-subrip", "vtt": "text/vtt"}.get(response_format, "text/plain")
    end = f"00:00:{TRANSCRIPTION_SECONDS:02d}"
    # One cue spanning the clip, in each format's own syntax.
    body = {
        "srt": f"1\n00:00:00,000 --> {end},000\n{text}\n\n",
        "vtt": f"WEBVTT\n\n00:00:00.000 --> {end}.000\n{text}\n\n",
    }.get(response_format, text + "\n")
    return Response(body, content_type=f"{content_type}; charset=utf-8")


def _json_body(req: RecordedRequest) -> dict[str, Any]:
    if not isinstance(req.json, dict):
        raise _ApiError(400, "We could not parse the JSON body of your request.")
    return req.json


def _required(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise _ApiError(400, f"Missing required parameter: '{name}'.", param=name)
    return value


def _audio_request(req: RecordedRequest) -> str:
    if "file" not in req.files:
        raise _ApiError(400, "Missing required parameter: 'file'.", param="file")
    model = req.form.get("model")
    if not model:
        raise _ApiError(400, "Missing required parameter: 'model'.", param="model")
    return model


def _applied_tier(body: dict[str, Any]) -> str:
    # The response reports the tier actually used; "auto" resolves to the default tier.
    requested = body.get("service_tier")
    return "default" if requested in (None, "auto") else requested


def _include_usage(body: dict[str, Any]) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


def _pieces(text: str) -> list[str]:
    # Word-sized deltas with their leading space, the way tokenized output streams.
    return re.findall(r"\s*\S+", text) or [text]


def _data_event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _random_id(length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _embedding_inputs(value: Any) -> list[str]:
    # Accepts a string, a list of strings, a token list, or a list of token lists.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [json.dumps(value)]
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    raise _ApiError(400, "Invalid type for 'input'.", param="input")


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The vector the server returns for `text`: deterministic, exact in float32 (multiples of 1/16)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % len(digest)] % 32) - 16) / 16 for i in range(dimensions)]


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
