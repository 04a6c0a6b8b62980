"""Background responses: billed once, when a read (``responses.retrieve``, polling, ``cancel``) first
sees one finished. A response billed at its create (its usage came back there) is never billed again.
"""

from __future__ import annotations

from typing import Any

from .. import endpoints
from ..record import CallRecord
from . import Settled, add_candidate

_TERMINAL = frozenset(("completed", "incomplete", "failed", "cancelled"))


def key(response_id: str) -> str:
    """The settled-set key of a response."""
    return f"response:{response_id}"


def observe(rec: CallRecord, data: Any) -> None:
    """A stored response read back: a finished background response is settled after the read."""
    if (
        type(data) is dict
        and data.get("object") == "response"
        and data.get("background") is True
        and type(data.get("status")) is str
        and data["status"] in _TERMINAL
        and type(data.get("id")) is str
        and type(data.get("usage")) is dict
    ):
        add_candidate(rec, _candidate(rec, data))


def _candidate(read: CallRecord, body: dict[str, Any]) -> Any:
    # Keep only the top-level fields the record reads, not the output.
    kept = {k: body.get(k) for k in ("id", "model", "usage", "tool_usage", "service_tier", "status")}
    kept["incomplete_details"] = body.get("incomplete_details")

    def settle(settled: Settled) -> list[CallRecord]:
        if not settled.claim(key(kept["id"])):
            return []
        unit = CallRecord(endpoints.lookup("POST", "/responses"))
        unit.absorb(kept)
        unit.request_model = unit.response_model
        unit.status_code = read.status_code
        unit.request_id = read.request_id
        unit.provider, unit.provider_name = read.provider, read.provider_name
        unit.server_address, unit.server_port = read.server_address, read.server_port
        unit.data_residency = read.data_residency
        unit.attribution = read.attribution
        return [unit]

    return settle
