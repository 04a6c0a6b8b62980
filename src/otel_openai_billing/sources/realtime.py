"""Realtime sessions over WebSocket: one billed record (and span) per ``response.done``, and one per
input-audio transcription, all carrying the session id. Also ``responses.connect()`` (Responses API
over a WebSocket): one record per response, at its ``response.completed``/``incomplete``/``failed``.

The hooks see the SDK's connection classes (``parse_event``, which every ``recv()`` calls, and
``close``), not the socket library. A session's state lives on its connection object, so it survives
the reconnects of openai 3.x (one connection object, several sockets). Why one span per response
rather than one per session: each response is billed on its own the moment it is done, so a process
that dies or a socket that drops mid-session loses nothing already billed (a session span would be
exported only when it ends); see docs/pricing.md.
"""

from __future__ import annotations

import json
import weakref
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .. import endpoints
from .. import names as n
from ..record import CallRecord
from . import image_tool_model

# The server events that carry what a bill needs; every other event costs one set look-up.
WATCHED = frozenset(
    (
        "session.created",
        "session.updated",
        "transcription_session.created",
        "transcription_session.updated",
        "response.created",
        "response.done",
        "conversation.item.input_audio_transcription.completed",
        # responses.connect(): the terminal events of each response carry its usage.
        "response.completed",
        "response.incomplete",
        "response.failed",
    )
)
_RESPONSES_TERMINAL = frozenset(("response.completed", "response.incomplete", "response.failed"))
_STATE_ATTR = "_otel_openai_billing_session"


class Session:
    """What one connection has told us: the session's model, ids, and responses still open."""

    __slots__ = (
        "__weakref__",
        "finalizer",
        "model",
        "open",
        "responses_api",
        "server",
        "session_id",
        "transcription_model",
    )

    def __init__(self, responses_api: bool = False) -> None:
        self.responses_api = responses_api  # a responses.connect() connection, not a realtime one
        self.model: str | None = None
        self.session_id: str | None = None
        self.transcription_model: str | None = None
        self.open: dict[str, CallRecord] = {}
        self.server: tuple[str | None, int | None] = (None, None)
        self.finalizer: Any = None


def session_of(conn: Any, on_abandoned: Any, responses_api: bool = False) -> Session:
    """The connection's session state, created (with a finalizer for abrupt ends) on first use."""
    state = getattr(conn, _STATE_ATTR, None)
    if state is None:
        state = Session(responses_api)
        state.model, state.server = _from_handshake(conn)
        setattr(conn, _STATE_ATTR, state)
        # The connection is never closed and is collected: end what was open with what it had.
        state.finalizer = weakref.finalize(conn, on_abandoned, state)
    return state


def existing(conn: Any) -> Session | None:
    """The connection's session state, if it has one."""
    return getattr(conn, _STATE_ATTR, None)


def _from_handshake(conn: Any) -> tuple[str | None, tuple[str | None, int | None]]:
    # connect(model=...) is in the handshake URL's query; the server's address is the socket's peer.
    model = None
    server: tuple[str | None, int | None] = (None, None)
    ws = getattr(conn, "_connection", None)
    request = getattr(ws, "request", None)
    path = getattr(request, "path", None)
    if isinstance(path, str):
        values = parse_qs(urlsplit(path).query).get("model")
        model = values[0] if values else None
    headers = getattr(request, "headers", None)
    host = headers.get("Host") if headers is not None else None
    if isinstance(host, str):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        server = (name, int(port) if port.isdigit() else None)
    return model, server


def on_event(state: Session, etype: str, data: Any, open_record: Any) -> list[CallRecord]:
    """Fold one watched server event into the session; returns the records it completes."""
    event = json.loads(data) if isinstance(data, str | bytes | bytearray) else data
    if type(event) is not dict:
        return []
    if state.responses_api:
        return _responses_event(state, etype, event, open_record)
    if etype.endswith(("session.created", "session.updated")):
        return _session(state, event, etype.endswith("created"))
    if etype == "response.created":
        response = event.get("response")
        rid = response.get("id") if type(response) is dict else None
        if type(rid) is str and rid not in state.open:
            state.open[rid] = open_record(_new(state, endpoints.REALTIME_RESPONSE, rid))
        return []
    if etype == "response.done":
        response = event.get("response")
        if type(response) is not dict:
            return []
        rid = response.get("id")
        rec = state.open.pop(rid, None) if type(rid) is str else None
        if rec is None:
            rec = open_record(_new(state, endpoints.REALTIME_RESPONSE, rid if type(rid) is str else None))
        usage = response.get("usage")
        if type(usage) is dict:
            rec.raw_usage = usage
        status = response.get("status")
        if type(status) is str:
            details = response.get("status_details")
            reason = details.get("reason") if type(details) is dict else None
            rec.finish_reasons = {0: reason if type(reason) is str else status}
        return [rec]
    # An input-audio transcription: billed at the session's transcription model.
    usage = event.get("usage")
    if type(usage) is not dict:
        return []
    rec = open_record(_new(state, endpoints.REALTIME_TRANSCRIPTION, None, state.transcription_model))
    rec.raw_usage = usage
    item = event.get("item_id")
    if type(item) is str:
        rec.source_attributes = {**(rec.source_attributes or {}), n.REALTIME_ITEM_ID: item}
    return [rec]


def _responses_event(state: Session, etype: str, event: dict[str, Any], open_record: Any) -> list[CallRecord]:
    # A Responses API response over the WebSocket: the same body as over HTTP, model included.
    response = event.get("response")
    if type(response) is not dict:
        return []
    rid = response.get("id")
    if etype == "response.created":
        if type(rid) is str and rid not in state.open:
            rec = CallRecord(endpoints.RESPONSES_WEBSOCKET)
            rec.absorb(event)
            rec.request_model = rec.response_model
            rec.server_address, rec.server_port = state.server
            state.open[rid] = open_record(rec)
        return []
    if etype not in _RESPONSES_TERMINAL:
        return []
    rec = state.open.pop(rid, None) if type(rid) is str else None
    if rec is None:
        rec = CallRecord(endpoints.RESPONSES_WEBSOCKET)
        rec.server_address, rec.server_port = state.server
        rec = open_record(rec)
    rec.absorb(event)
    rec.request_model = rec.request_model or rec.response_model
    rec.tool_image_model = image_tool_model(response.get("tools"))  # the response echoes its tools
    return [rec]


def _session(state: Session, event: dict[str, Any], created: bool) -> list[CallRecord]:
    session = event.get("session")
    if type(session) is not dict:
        return []
    ended: list[CallRecord] = []
    sid = session.get("id")
    if created and type(sid) is str and state.session_id is not None and sid != state.session_id:
        # A reconnect opened a new server session: responses left open on the old socket never finish.
        ended = close_open(state, "reconnected")
    if type(sid) is str:
        state.session_id = sid
    model = session.get("model")
    if type(model) is str:
        state.model = model
    transcription = _transcription_model(session)
    if transcription is not None:
        state.transcription_model = transcription
    return ended


def _transcription_model(session: dict[str, Any]) -> str | None:
    # GA: session.audio.input.transcription.model; beta: session.input_audio_transcription.model.
    for path in (("audio", "input", "transcription"), ("input_audio_transcription",)):
        node: Any = session
        for key in path:
            node = node.get(key) if type(node) is dict else None
        model = node.get("model") if type(node) is dict else None
        if type(model) is str:
            return model
    return None


def _new(state: Session, endpoint: Any, response_id: str | None, model: str | None = None) -> CallRecord:
    rec = CallRecord(endpoint)
    rec.kind = "realtime"
    rec.session_id = state.session_id
    rec.response_id = response_id
    rec.request_model = model if endpoint is endpoints.REALTIME_TRANSCRIPTION else state.model
    rec.server_address, rec.server_port = state.server
    return rec


def close_open(state: Session, how: str) -> list[CallRecord]:
    """End the responses still open (the session closed, dropped or was collected) as they are."""
    ended = []
    for rec in list(state.open.values()):
        rec.ended_by = how
        ended.append(rec)
    state.open.clear()
    return ended
