"""A Realtime API WebSocket endpoint on 127.0.0.1, speaking the documented event protocol.

`client.realtime.connect(model=...)` (GA) and `client.beta.realtime.connect(...)` reach it when the
client's `websocket_base_url` is `server.base_url`. Each connection is a new server session
(`session.created` first). Client events handled: `session.update`, `conversation.item.create`,
`input_audio_buffer.append/commit` (with input transcription when the session configures it) and
`response.create` (text deltas, then `response.done` with usage). A test sets the usage of the next
responses and transcriptions, and can drop the socket right after a `response.created` to make the
SDK reconnect (close code 1011, which the SDK treats as recoverable), and queue raw frames (`junk`)
that no real server sends.

`/responses` is the Responses API over a WebSocket (`client.responses.connect()`): each
`response.create` is answered with the Responses streaming events, `response.completed` last.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections import deque
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

DEFAULT_RESPONSE_USAGE: dict[str, Any] = {
    "total_tokens": 60,
    "input_tokens": 40,
    "output_tokens": 20,
    "input_token_details": {
        "text_tokens": 40,
        "audio_tokens": 0,
        "image_tokens": 0,
        "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 20, "audio_tokens": 0},
}


class FakeRealtime:
    """The Realtime WebSocket API; `base_url` is what to give the client as `websocket_base_url`."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.response_usage: deque[dict[str, Any]] = deque()
        self.transcription_usage: deque[dict[str, Any]] = deque()
        self.drop_after_response_created = 0  # how many next responses die with their socket
        self.sessions: list[str] = []  # session ids, one per accepted connection
        self.received: list[dict[str, Any]] = []  # client events, in order
        self.junk: deque[str] = deque()  # raw frames sent, as they are, after the next session.updated

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/v1"

    def start(self) -> Self:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="FakeRealtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self._lock:
            self.response_usage.clear()
            self.transcription_usage.clear()
            self.drop_after_response_created = 0
            self.sessions.clear()
            self.received.clear()
            self.junk.clear()

    # -- protocol --------------------------------------------------------------------------------

    def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        path = urlsplit(request.path if request is not None else "/")
        if path.path.endswith("/responses"):
            self._responses_api(ws)
            return
        if not path.path.endswith("/realtime"):
            ws.close(1008, "unknown path")
            return
        model = (parse_qs(path.query).get("model") or ["gpt-realtime"])[0]
        beta = (request.headers.get("OpenAI-Beta") or "") if request is not None else ""
        session = _session(model, beta.startswith("realtime="))
        with self._lock:
            self.sessions.append(session["id"])
        ws.send(_event("session.created", session=session))
        try:
            for message in ws:
                event = json.loads(message)
                with self._lock:
                    self.received.append(event)
                if not self._answer(ws, session, event):
                    return
        except ConnectionClosed:
            return

    def _answer(self, ws: ServerConnection, session: dict[str, Any], event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "session.update":
            _merge(session, event.get("session") or {})
            ws.send(_event("session.updated", session=session))
            with self._lock:
                junk, self.junk = list(self.junk), deque()
            for frame in junk:
                ws.send(frame)
        elif kind == "conversation.item.create":
            item = {**(event.get("item") or {}), "id": "item_" + secrets.token_hex(8), "status": "completed"}
            ws.send(_event("conversation.item.added", previous_item_id=None, item=item))
            ws.send(_event("conversation.item.done", previous_item_id=None, item=item))
        elif kind == "input_audio_buffer.commit":
            self._commit(ws, session)
        elif kind == "response.create":
            return self._respond(ws)
        return True

    def _commit(self, ws: ServerConnection, session: dict[str, Any]) -> None:
        item_id = "item_" + secrets.token_hex(8)
        ws.send(_event("input_audio_buffer.committed", previous_item_id=None, item_id=item_id))
        model = _transcription_model(session)
        if model is None:
            return
        with self._lock:
            usage = self.transcription_usage.popleft() if self.transcription_usage else None
        if usage is None:
            usage = (
                {"type": "duration", "seconds": 2}
                if model == "whisper-1"
                else {
                    "type": "tokens",
                    "input_tokens": 30,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": 30},
                    "output_tokens": 6,
                    "total_tokens": 36,
                }
            )
        ws.send(
            _event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript="Hello there.",
                usage=usage,
            )
        )

    def _respond(self, ws: ServerConnection) -> bool:
        response_id = "resp_" + secrets.token_hex(8)
        base = {
            "id": response_id,
            "object": "realtime.response",
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": "conv_" + secrets.token_hex(8),
            "output_modalities": ["text"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
            "usage": None,
            "metadata": None,
        }
        ws.send(_event("response.created", response=base))
        with self._lock:
            drop = self.drop_after_response_created > 0
            if drop:
                self.drop_after_response_created -= 1
            usage = (
                self.response_usage.popleft()
                if self.response_usage
                else copy.deepcopy(DEFAULT_RESPONSE_USAGE)
            )
        if drop:
            ws.close(1011, "internal error")  # recoverable: the SDK reconnects
            return False
        item_id = "item_" + secrets.token_hex(8)
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        for piece in ("Hello", " there", "."):
            ws.send(_event("response.output_text.delta", **where, delta=piece))
        ws.send(_event("response.output_text.done", **where, text="Hello there."))
        item = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello there."}],
        }
        done = {**base, "status": "completed", "output": [item], "usage": usage}
        ws.send(_event("response.done", response=done))
        return True

    def _responses_api(self, ws: ServerConnection) -> None:
        try:
            for message in ws:
                event = json.loads(message)
                with self._lock:
                    self.received.append(event)
                if event.get("type") != "response.create":
                    continue
                if not self._responses_answer(ws, event):
                    return
        except ConnectionClosed:
            return

    def _responses_answer(self, ws: ServerConnection, request: dict[str, Any]) -> bool:
        response_id = "resp_" + secrets.token_hex(12)
        base = {
            "id": response_id,
            "object": "response",
            "created_at": 1_767_225_600,
            "status": "in_progress",
            "model": request.get("model"),
            "output": [],
            "service_tier": "default",
            "tools": request.get("tools", []),
            "usage": None,
        }
        seq = 0

        def send(kind: str, **fields: Any) -> None:
            nonlocal seq
            ws.send(json.dumps({"type": kind, "sequence_number": seq, **fields}))
            seq += 1

        send("response.created", response=base)
        with self._lock:
            drop = self.drop_after_response_created > 0
            if drop:
                self.drop_after_response_created -= 1
            usage = (
                self.response_usage.popleft() if self.response_usage else copy.deepcopy(RESPONSES_WS_USAGE)
            )
        if drop:
            ws.close(1011, "internal error")
            return False
        item_id = "msg_" + secrets.token_hex(12)
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        for piece in ("Hello", " there."):
            send("response.output_text.delta", **where, delta=piece, logprobs=[])
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello there.", "annotations": [], "logprobs": []}],
        }
        send("response.completed", response={**base, "status": "completed", "output": [item], "usage": usage})
        return True


RESPONSES_WS_USAGE: dict[str, Any] = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 100},
    "output_tokens": 30,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 150,
}


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": "event_" + secrets.token_hex(8), **fields})


def _session(model: str, beta: bool) -> dict[str, Any]:
    session_id = "sess_" + secrets.token_hex(8)
    if beta:
        # The beta protocol's session shape (input_audio_transcription at the top level).
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": model,
            "modalities": ["text", "audio"],
            "input_audio_transcription": None,
            "voice": "alloy",
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
        "expires_at": 0,
    }


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _transcription_model(session: dict[str, Any]) -> str | None:
    node = ((session.get("audio") or {}).get("input") or {}).get("transcription")
    if not isinstance(node, dict):
        node = session.get("input_audio_transcription")
    return node.get("model") if isinstance(node, dict) else None
