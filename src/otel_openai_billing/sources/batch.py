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
import re
from typing import Any

from .. import endpoints
from .. import names as n
from .. import usage as usage_mod
from ..record import CallRecord
from . import Settled, add_candidate, count, unix_time

TERMINAL = frozenset(("completed", "failed", "expired", "cancelled"))
# When the work ended, per terminal status: the day whose rates apply.
_ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}
# How far into a file's first line to look for "custom_id" and "response" (Batch output) before
# deciding it is something else (an upload, a training or Batch input file).
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
        status = batch.get("status")
        if type(status) is str and status in TERMINAL and type(batch.get("id")) is str:
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
        self._raw: dict[tuple[str, str], dict[str, Any]] = {}  # (model, shape) -> summed raw usage
        self._lines: dict[str, int] = {}
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
            if not _looks_like_output(data):
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
        raw_line = line.encode() if isinstance(line, str) else line
        if not self._sniffed:
            self._sniffed = True
            self.active = _looks_like_output(raw_line)
        if not self.active or not raw_line or raw_line.isspace():
            return
        found = _fast_line(raw_line)
        if found is None:
            found = self._full_line(raw_line)
            if found is None:
                return
        model, raw = found
        # Raw usage summed per model and shape, normalized once at the end: the sum is linear.
        shape = "chat" if "prompt_tokens" in raw else "responses"
        key = (model, shape)
        total = self._raw.get(key)
        if total is None:
            self._raw[key] = total = {}
        _sum_into(total, raw)
        self._lines[model] = self._lines.get(model, 0) + 1

    def _full_line(self, line: bytes) -> tuple[str, dict[str, Any]] | None:
        # The line the fast path could not read: an error, a non-2xx status, or an unusual layout.
        try:
            item = json.loads(line)
        except ValueError:
            self.failed += 1
            return None
        if type(item) is not dict:
            self.failed += 1
            return None
        response = item.get("response")
        status = response.get("status_code") if type(response) is dict else None
        body = response.get("body") if type(response) is dict else None
        if item.get("error") or type(status) is not int or not 200 <= status < 300 or type(body) is not dict:
            self.failed += 1
            return None
        raw, model = body.get("usage"), body.get("model")
        if type(raw) is not dict or type(model) is not str:
            return None  # a request that reports no usage (moderations are free)
        return model, raw

    @property
    def per_model(self) -> dict[str, tuple[usage_mod.Usage, int]]:
        """Normalized usage and line count per model."""
        result: dict[str, tuple[usage_mod.Usage, int]] = {}
        for (model, shape), raw in self._raw.items():
            # Chat, completions and embeddings report prompt_tokens; Responses reports input_tokens.
            usage = usage_mod.chat_usage(raw) if shape == "chat" else usage_mod.responses_usage(raw)
            total = result[model][0] if model in result else usage_mod.Usage()
            result[model] = (usage_mod.add(total, usage), self._lines[model])
        return result

    def settle(self, settled: Settled) -> list[CallRecord]:
        """The whole body was read: one unit per model, unless the batch or file is billed already."""
        if self._rest and self.active:
            if not self._sniffed and not _looks_like_output(self._rest):
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


# A successful line's status, model and usage, read without decoding the whole response body (its
# content is most of the line). Keys are matched only where JSON puts a key: a quote-delimited name
# followed by a colon; anything unexpected falls back to a full parse of the line.
_STATUS = re.compile(rb'"status_code"\s*:\s*(\d+)')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]+)"')
_USAGE_KEY = b'"usage"'
_DECODER = json.JSONDecoder()


def _looks_like_output(data: bytes) -> bool:
    # The first line of Batch output: a custom_id and a response (an input file has a method and url).
    end = data.find(b"\n", 0, _SNIFF_BYTES)
    head = data[: end if end >= 0 else _SNIFF_BYTES]
    return b'"custom_id"' in head and b'"response"' in head


def _fast_line(line: bytes) -> tuple[str, dict[str, Any]] | None:
    status = _STATUS.search(line)
    if status is None or not 200 <= int(status.group(1)) < 300 or b'"error": {' in line:
        return None
    at = line.rfind(_USAGE_KEY)  # the body's usage comes after its content
    if at < 0:
        return None
    rest = line[at + len(_USAGE_KEY) :].lstrip()
    if not rest.startswith(b":"):
        return None
    try:
        raw, _end = _DECODER.raw_decode(rest[1:].decode().lstrip())
    except (ValueError, UnicodeDecodeError):
        return None
    model = _MODEL.search(line)
    if type(raw) is not dict or model is None:
        return None
    try:
        return model.group(1).decode(), raw
    except UnicodeDecodeError:  # no JSON encoder writes these bytes: the full parse decides
        return None


def _sum_into(total: dict[str, Any], raw: dict[str, Any]) -> None:
    # A count is summed with counts, a detail object with detail objects: a line that has one where the
    # others have the other (junk) adds nothing to that key.
    for key, value in raw.items():
        if type(value) is int:
            current = total.get(key, 0)
            if type(current) is int:
                total[key] = current + value
        elif type(value) is dict:
            current = total.setdefault(key, {})
            if type(current) is dict:
                _sum_into(current, value)


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
    unit.priced_at = unix_time(info.get("ended_at"))  # None: priced at the read's day
    attrs: dict[str, Any] = {n.BATCH_USAGE_SOURCE: source}
    if info.get("status"):
        attrs[n.BATCH_STATUS] = info["status"]
    if info.get("endpoint") and type(info["endpoint"]) is str:
        attrs[n.BATCH_ENDPOINT] = info["endpoint"]
    counts = info.get("counts") or {}
    for key, attr in (
        ("total", n.BATCH_REQUESTS_TOTAL),
        ("completed", n.BATCH_REQUESTS_COMPLETED),
        ("failed", n.BATCH_REQUESTS_FAILED),
    ):
        value = count(counts.get(key))
        if value is not None:
            attrs[attr] = value
    unit.source_attributes = attrs
    return unit
