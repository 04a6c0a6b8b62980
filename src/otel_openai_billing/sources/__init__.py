"""Usage sources: billed units that are not one HTTP call, fed into the same record -> usage ->
pricing -> emission line as every call.

- ``batch``: a Batch job, settled once at Batch rates from the Batch object or its output file.
- ``fine_tuning``: a fine-tuning job's training, settled once when the job is seen ``succeeded``.
- ``responses``: a background response, settled once when a read sees it finished.
- ``realtime``: each ``response.done`` (and input-audio transcription) of a realtime session.
- ``audio``: the uploaded audio's duration (transcripts without usage) and speech SSE usage.

A stored object is read many times (retrieve, list, polling); :class:`Settled` remembers in this
process which ids are billed, and every settlement carries its id so queries dedupe across processes.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..record import CallRecord
from ..usage import MAX_COUNT

# Ids remembered per process. A batch or job is polled for hours but settled once; beyond this many
# distinct ids the oldest are forgotten (a forgotten id read again would be billed again: the id on
# the record is what dedupes then, see docs/pricing.md).
SETTLED_LIMIT = 100_000


class Settled:
    """A bounded, thread-safe set of the units already billed in this process."""

    def __init__(self, limit: int = SETTLED_LIMIT) -> None:
        self._ids: OrderedDict[str, Any] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def claim(self, key: str, value: Any = True) -> bool:
        """True the first time ``key`` is claimed (the caller bills it), False after."""
        with self._lock:
            if key in self._ids:
                self._ids.move_to_end(key)
                return False
            self._ids[key] = value
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def get(self, key: str) -> Any:
        """What was stored with ``key`` (None if it was never claimed or was forgotten)."""
        with self._lock:
            return self._ids.get(key)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._ids


def count(value: Any) -> int | None:
    """``value`` if it is a count a stored object can carry (an int in [0, MAX_COUNT]), else None.

    A source's counts go on spans as they are: one past 64 bits would make the OTLP exporter drop the
    attribute with an error, so junk is left off like the implausible usage counts are.
    """
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def unix_time(value: Any) -> datetime | None:
    """The UTC moment of a Unix timestamp in a stored object (seconds, an int or a float), or None
    when it is none a real object carries (junk, not positive, past what a datetime holds)."""
    if type(value) not in (int, float) or not (math.isfinite(value) and value > 0):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        return None


# A settlement candidate seen in a response body: builds its billed units if its id is unclaimed.
Candidate = Callable[[Settled], list[CallRecord]]


def add_candidate(rec: CallRecord, candidate: Candidate) -> None:
    """Remember a stored object seen by this read; it is settled when the read ends."""
    if rec.settlements is None:
        rec.settlements = []
    rec.settlements.append(candidate)


# The image model of the Responses API's hosted image_generation tool when the request names none
# (API reference, tools[].model of image_generation: "Default: gpt-image-1").
DEFAULT_IMAGE_TOOL_MODEL = "gpt-image-1"


def image_tool_model(tools: Any) -> tuple[str, bool] | None:
    """(model, assumed) of a Responses request's image_generation tool, or None without one."""
    if not isinstance(tools, list):
        return None
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "image_generation":
            model = tool.get("model")
            return (model, False) if isinstance(model, str) else (DEFAULT_IMAGE_TOOL_MODEL, True)
    return None


def object_id(url: str) -> str | None:
    """The id in a stored-object URL (``/batches/{id}``, ``/files/{id}/content``), or None."""
    path = url.split("?", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1].partition("/")[2]
    parts = path.strip("/").split("/")
    if parts and parts[0] == "v1":
        parts = parts[1:]
    return parts[1] if len(parts) >= 2 and parts[1] else None
