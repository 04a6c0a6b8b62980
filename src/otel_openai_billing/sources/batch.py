"""Batch jobs: one settlement per batch (per model), at Batch rates, billed once.

Two places report what a batch used:
- the Batch object (``batches.create/retrieve/list/cancel``): batches created after 2025-09-07 carry
  ``model`` and ``usage``; it is settled the first time a read sees the batch in a terminal state;
- its output file (``files.content(output_file_id)``): one JSONL line per request with the response
  body's ``model`` and ``usage``; lines with an ``error`` or a non-2xx status are not billed. Read only
  when the Batch object did not settle the batch already (older batches report no usage).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .. import endpoints
from .. import names as n
from .. import usage as usage_mod
from ..record import CallRecord
from . import Settled, add_candidate

TERMINAL = frozenset(("completed", "failed", "expired", "cancelled"))
# When the work ended, per terminal status: the day whose rates apply.
_ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}
# How far into a file to look for the first line's "custom_id" before deciding it is no Batch output.
_SNIFF_BYTES = 4096


def observe(rec: CallRecord, data: Any) -> None:
    """A Batch object or a list of them in a response body: settle each terminal one after the read."""
    if type(data) is not dict:
        return
    if data.get("object") == "list" and type(data.get("data")) is list:
        batches = [b for b in data["data"] if type(b) is dict and b.get("object") == "batch"]
    elif data.get("object") == "batch":
        batches = [data]
    else:
        return
    for batch in batches:
        if batch.get("status") in TERMINAL and type(batch.get("id")) is str:
            add_candidate(rec, _from_object(rec, _summary(batch)))


def _summary(batch: dict[str, Any]) -> dict[str, Any]:
    # Only what a bill needs, so a candidate never keeps a large list body alive.
    status = batch.get("status")
    counts = batch.get("request_counts") if type(batch.get("request_counts")) is dict else {}
    return {
        "id": batch["id"],
        "status": status,
        "endpoint": batch.get("endpoint"),
        "model": batch.get("model") if type(batch.get("model")) is str else None,
        "usage": batch.get("usage") if type(batch.get("usage")) is dict else None,
        "output_file_id": batch.get("output_file_id"),
        "ended_at": batch.get(_ENDED_AT.get(status, "")) or batch.get("in_progress_at"),
        "counts": counts,
    }


def _from_object(read: CallRecord, info: dict[str, Any]) -> Any:
    def settle(settled: Settled) -> list[CallRecord]:
        usage = info["usage"]
        output_file = info["output_file_id"]
        if usage is None or info["model"] is None:
            # An older batch reports no usage: its output file settles it when the app reads it.
            if isinstance(output_file, str) and f"batch:{info['id']}" not in settled:
                settled.claim(f"pending-file:{output_file}", info)
            return []
        if not settled.claim(f"batch:{info['id']}"):
            return []
        if isinstance(output_file, str):
            settled.claim(f"file:{output_file}")  # reading the output file later adds nothing
        unit = _unit(read, info, info["model"], usage_mod.responses_usage(usage), "batch_object")
        return [unit]

    return settle


def open_output_file(read: CallRecord, settled: Settled) -> OutputFile | None:
    """A reader for the body of ``files.content``, or None when the file needs no reading (settled)."""
    file_id = read.object_id
    if file_id is None or f"file:{file_id}" in settled:
        return None
    return OutputFile(read, file_id, settled.get(f"pending-file:{file_id}"))


class OutputFile:
    """Per-model usage of a Batch output file, read line by line as its bytes arrive.

    Holds only the current partial line, never the file. A file that does not start like Batch
    output (a training file, an upload) is dropped after its first chunk.
    """

    def __init__(self, read: CallRecord, file_id: str, info: Any) -> None:
        self._read = read
        self._file_id = file_id
        self._info = info if isinstance(info, dict) else None
        self._rest = b""
        self._sniffed = self._info is not None  # a file a Batch object named needs no sniffing
        self.active = True
        self.per_model: dict[str, tuple[usage_mod.Usage, int]] = {}
        self.failed = 0

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the body."""
        if not self.active:
            return
        data = self._rest + chunk if self._rest else chunk
        if not self._sniffed:
            if len(data) < _SNIFF_BYTES and b"\n" not in data:
                self._rest = data
                return
            self._sniffed = True
            if b'"custom_id"' not in data[:_SNIFF_BYTES]:
                self.active, self._rest = False, b""
                return
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self.line(data[start:end])
            start = end + 1
        self._rest = data[start:]

    def line(self, line: bytes | str) -> None:
        """One JSONL line (from ``iter_lines``, or split out of ``feed``)."""
        if not self._sniffed:
            self._sniffed = True
            self.active = b'"custom_id"' in (line.encode() if isinstance(line, str) else line)[:_SNIFF_BYTES]
        if not self.active:
            return
        if not line.strip():
            return
        try:
            item = json.loads(line)
        except ValueError:
            self.failed += 1
            return
        response = item.get("response") if type(item) is dict else None
        status = response.get("status_code") if type(response) is dict else None
        body = response.get("body") if type(response) is dict else None
        if item.get("error") or type(status) is not int or not 200 <= status < 300 or type(body) is not dict:
            self.failed += 1
            return
        raw, model = body.get("usage"), body.get("model")
        if type(raw) is not dict or type(model) is not str:
            return  # a request that reports no usage (moderations are free)
        # Chat, completions and embeddings report prompt_tokens; Responses reports input_tokens.
        usage = usage_mod.chat_usage(raw) if "prompt_tokens" in raw else usage_mod.responses_usage(raw)
        total, lines = self.per_model.get(model, (usage_mod.Usage(), 0))
        self.per_model[model] = (usage_mod.add(total, usage), lines + 1)

    def settle(self, settled: Settled) -> list[CallRecord]:
        """The whole body was read: one unit per model, unless the batch or file is billed already."""
        if self._rest and self.active:
            if not self._sniffed and b'"custom_id"' not in self._rest[:_SNIFF_BYTES]:
                self.active = False
            else:
                self.line(self._rest)
        self._rest = b""
        if not self.active:
            return []
        info = self._info
        key = f"batch:{info['id']}" if info is not None else f"file:{self._file_id}"
        if not settled.claim(key):
            return []
        settled.claim(f"file:{self._file_id}")
        if info is None:
            info = {"id": None, "status": None, "endpoint": None, "ended_at": None, "counts": {}}
        units = []
        for model, (usage, lines) in self.per_model.items():
            unit = _unit(self._read, info, model, usage, "output_file")
            unit.source_attributes[n.BATCH_OUTPUT_FILE_ID] = self._file_id  # type: ignore[index]
            unit.source_attributes[n.BATCH_LINES_BILLED] = lines  # type: ignore[index]
            unit.source_attributes[n.BATCH_LINES_FAILED] = self.failed  # type: ignore[index]
            units.append(unit)
        return units


def _unit(
    read: CallRecord, info: dict[str, Any], model: str, usage: usage_mod.Usage, source: str
) -> CallRecord:
    unit = CallRecord(endpoints.BATCH_RESULTS)
    unit.kind = "batch"
    unit.batch = True
    unit.batch_id = info["id"]
    unit.request_model = model
    unit.response_model = model
    unit.usage = usage
    unit.provider, unit.provider_name = read.provider, read.provider_name
    unit.server_address, unit.server_port = read.server_address, read.server_port
    unit.data_residency = read.data_residency
    unit.attribution = read.attribution
    ended = info.get("ended_at")
    if isinstance(ended, int | float) and not isinstance(ended, bool):
        unit.priced_at = datetime.fromtimestamp(ended, UTC)
    attrs: dict[str, Any] = {n.BATCH_USAGE_SOURCE: source}
    if info.get("status"):
        attrs[n.BATCH_STATUS] = info["status"]
    if info.get("endpoint"):
        attrs[n.BATCH_ENDPOINT] = info["endpoint"]
    counts = info.get("counts") or {}
    for key, attr in (
        ("total", n.BATCH_REQUESTS_TOTAL),
        ("completed", n.BATCH_REQUESTS_COMPLETED),
        ("failed", n.BATCH_REQUESTS_FAILED),
    ):
        if type(counts.get(key)) is int:
            attrs[attr] = counts[key]
    unit.source_attributes = attrs
    return unit
