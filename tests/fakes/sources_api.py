"""The fake server's Batch, Files, fine-tuning and image-edit endpoints, shaped like the real API.

The API runs batches and jobs on its own schedule; here a test moves them along explicitly:

    batch = client.batches.create(...)                      # "validating"
    server.sources.advance_batch(batch.id, "in_progress")
    server.sources.complete_batch(batch.id, results=[...])  # writes output/error files, "completed"

Output and error files are JSONL in the documented shape (one line per request: ``id``,
``custom_id``, ``response.{status_code, request_id, body}``, ``error``).
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

_BATCH_TIMESTAMPS = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
}


def batch_result(
    custom_id: str,
    model: str,
    usage: dict[str, Any] | None,
    status_code: int = 200,
    endpoint: str = "/v1/chat/completions",
) -> dict[str, Any]:
    """One request's result, as ``complete_batch`` takes it: a body shaped like ``endpoint``'s."""
    return {
        "custom_id": custom_id,
        "model": model,
        "usage": usage,
        "status_code": status_code,
        "url": endpoint,
    }


class SourcesAPI:
    """State and handlers for the endpoints usage sources read; mounted by ``FakeOpenAI``."""

    def __init__(self, api: Any) -> None:
        self._api = api  # the FakeOpenAI: its json/error helpers
        self._lock = threading.Lock()
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_events: dict[str, list[dict[str, Any]]] = {}
        # Hosted image_generation tool usage for the next Responses call (None: no tool ran).
        self.next_tool_usage: dict[str, Any] | None = None

    def rules(self) -> list[Rule]:
        return [
            Rule("/v1/files", methods=["POST"], endpoint=self._upload),
            Rule("/v1/files/<file_id>", methods=["GET"], endpoint=self._file),
            Rule("/v1/files/<file_id>/content", methods=["GET"], endpoint=self._file_content),
            Rule("/v1/batches", methods=["POST"], endpoint=self._create_batch),
            Rule("/v1/batches", methods=["GET"], endpoint=self._list_batches),
            Rule("/v1/batches/<batch_id>", methods=["GET"], endpoint=self._batch),
            Rule("/v1/batches/<batch_id>/cancel", methods=["POST"], endpoint=self._cancel_batch),
            Rule("/v1/fine_tuning/jobs", methods=["POST"], endpoint=self._create_job),
            Rule("/v1/fine_tuning/jobs", methods=["GET"], endpoint=self._list_jobs),
            Rule("/v1/fine_tuning/jobs/<job_id>", methods=["GET"], endpoint=self._job),
            Rule("/v1/fine_tuning/jobs/<job_id>/events", methods=["GET"], endpoint=self._job_events),
            Rule("/v1/fine_tuning/jobs/<job_id>/cancel", methods=["POST"], endpoint=self._cancel_job),
            Rule("/v1/images/edits", methods=["POST"], endpoint=self._image_edit),
        ]

    def clear(self) -> None:
        with self._lock:
            self.files.clear()
            self.batches.clear()
            self.jobs.clear()
            self.job_events.clear()
            self.next_tool_usage = None

    # -- test controls ---------------------------------------------------------------------------

    def add_file(self, content: bytes, purpose: str, filename: str) -> str:
        """Store a file as the API would after an upload; returns its id."""
        file_id = "file-" + secrets.token_hex(12)
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "expires_at": None,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        with self._lock:
            self.files[file_id] = (meta, content)
        return file_id

    def advance_batch(self, batch_id: str, status: str) -> None:
        """Move a batch to a non-final status (in_progress, finalizing, cancelling) or to failed/expired."""
        with self._lock:
            batch = self.batches[batch_id]
            batch["status"] = status
            if status in _BATCH_TIMESTAMPS:
                batch[_BATCH_TIMESTAMPS[status]] = int(time.time())
            if status == "failed":
                batch["errors"] = {
                    "object": "list",
                    "data": [
                        {"code": "invalid_json_line", "message": "Invalid JSON.", "param": None, "line": 1}
                    ],
                }

    def complete_batch(
        self,
        batch_id: str,
        results: list[dict[str, Any]],
        *,
        status: str = "completed",
        report_usage: bool = True,
        completed_at: int | None = None,
    ) -> None:
        """Finish a batch: output file (2xx lines), error file (the rest), counts, and usage.

        ``report_usage=False`` leaves ``model`` and ``usage`` off the Batch object, as for batches
        created before 2025-09-07. ``status`` may be "completed", "expired" or "cancelled".
        """
        ok_lines, error_lines = [], []
        totals = {"input": 0, "cached": 0, "output": 0, "reasoning": 0}
        models = []
        for result in results:
            line_id = "batch_req_" + secrets.token_hex(12)
            request_id = "req_" + secrets.token_hex(16)
            if 200 <= result["status_code"] < 300:
                body = _result_body(result)
                ok_lines.append(
                    {
                        "id": line_id,
                        "custom_id": result["custom_id"],
                        "response": {
                            "status_code": result["status_code"],
                            "request_id": request_id,
                            "body": body,
                        },
                        "error": None,
                    }
                )
                usage = result["usage"] or {}
                totals["input"] += usage.get("prompt_tokens", usage.get("input_tokens", 0))
                totals["output"] += usage.get("completion_tokens", usage.get("output_tokens", 0))
                details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
                totals["cached"] += details.get("cached_tokens", 0)
                out_details = (
                    usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
                )
                totals["reasoning"] += out_details.get("reasoning_tokens", 0)
                models.append(result["model"])
            else:
                error_lines.append(
                    {
                        "id": line_id,
                        "custom_id": result["custom_id"],
                        "response": {
                            "status_code": result["status_code"],
                            "request_id": request_id,
                            "body": self._api.error_body(result["status_code"]),
                        },
                        "error": None,
                    }
                )
        ended = completed_at if completed_at is not None else int(time.time())
        output_id = (
            self.add_file(_jsonl(ok_lines), "batch_output", "batch_output.jsonl") if ok_lines else None
        )
        error_id = (
            self.add_file(_jsonl(error_lines), "batch_output", "batch_error.jsonl") if error_lines else None
        )
        with self._lock:
            batch = self.batches[batch_id]
            batch.update(
                status=status,
                output_file_id=output_id,
                error_file_id=error_id,
                request_counts={
                    "total": len(results),
                    "completed": len(ok_lines),
                    "failed": len(error_lines),
                },
            )
            batch["finalizing_at"] = ended
            batch[_BATCH_TIMESTAMPS[status]] = ended
            if report_usage:
                batch["model"] = models[0] if models else None
                batch["usage"] = {
                    "input_tokens": totals["input"],
                    "input_tokens_details": {"cached_tokens": totals["cached"]},
                    "output_tokens": totals["output"],
                    "output_tokens_details": {"reasoning_tokens": totals["reasoning"]},
                    "total_tokens": totals["input"] + totals["output"],
                }

    def finish_job(
        self, job_id: str, status: str, trained_tokens: int | None = None, finished_at: int | None = None
    ) -> None:
        """Move a fine-tuning job on: "running", or to its end ("succeeded", "failed", "cancelled")."""
        with self._lock:
            job = self.jobs[job_id]
            job["status"] = status
            if status in ("succeeded", "failed", "cancelled"):
                job["finished_at"] = finished_at if finished_at is not None else int(time.time())
                job["estimated_finish"] = None
            if status == "succeeded":
                suffix = job["user_provided_suffix"] or ""
                job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{secrets.token_hex(4)}"
                job["trained_tokens"] = trained_tokens
                job["result_files"] = ["file-" + secrets.token_hex(12)]
                hyper = job["method"][job["method"]["type"]]["hyperparameters"]
                if hyper.get("n_epochs") in (None, "auto"):
                    hyper["n_epochs"] = 3  # what "auto" resolves to once the job has run
                job["hyperparameters"]["n_epochs"] = hyper["n_epochs"]
            if status == "failed":
                job["error"] = {"code": "invalid_training_file", "message": "Invalid file.", "param": None}
            self.job_events[job_id].insert(0, _job_event(f"Job status changed to {status}"))

    # -- handlers --------------------------------------------------------------------------------

    def _upload(self, req: Any) -> Response:
        if "file" not in req.files:
            return self._api.error_response(400, "Missing required parameter: 'file'.", "file")
        file_id = self.add_file(req.files["file"], req.form.get("purpose", "batch"), "upload.jsonl")
        return self._api.json_response(self.files[file_id][0])

    def _file(self, req: Any, file_id: str) -> Response:
        found = self.files.get(file_id)
        if found is None:
            return self._api.error_response(404, f"No such File object: {file_id}")
        return self._api.json_response(found[0])

    def _file_content(self, req: Any, file_id: str) -> Response:
        found = self.files.get(file_id)
        if found is None:
            return self._api.error_response(404, f"No such File object: {file_id}")
        return Response(found[1], content_type="application/octet-stream")

    def _create_batch(self, req: Any) -> Response:
        body = req.json or {}
        if body.get("input_file_id") not in self.files:
            return self._api.error_response(400, "Invalid 'input_file_id'.", "input_file_id")
        now = int(time.time())
        batch = {
            "id": "batch_" + secrets.token_hex(12),
            "object": "batch",
            "endpoint": body.get("endpoint"),
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        with self._lock:
            self.batches[batch["id"]] = batch
        return self._api.json_response(copy.deepcopy(batch))

    def _batch(self, req: Any, batch_id: str) -> Response:
        with self._lock:
            batch = copy.deepcopy(self.batches.get(batch_id))
        if batch is None:
            return self._api.error_response(404, f"No batch found with id '{batch_id}'.")
        return self._api.json_response(batch)

    def _list_batches(self, req: Any) -> Response:
        with self._lock:
            items = [copy.deepcopy(b) for b in reversed(self.batches.values())]  # newest first
        return self._api.json_response(_page(items, req.query))

    def _cancel_batch(self, req: Any, batch_id: str) -> Response:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return self._api.error_response(404, f"No batch found with id '{batch_id}'.")
            batch["status"] = "cancelling"
            batch["cancelling_at"] = int(time.time())
            answer = copy.deepcopy(batch)
        return self._api.json_response(answer)

    def _create_job(self, req: Any) -> Response:
        body = req.json or {}
        method = copy.deepcopy(body.get("method")) or {"type": "supervised", "supervised": {}}
        kind = method["type"]
        method.setdefault(kind, {})
        hyper = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
        hyper.update((method[kind] or {}).get("hyperparameters") or body.get("hyperparameters") or {})
        if kind == "dpo":
            hyper.setdefault("beta", "auto")
        method[kind] = {**(method[kind] or {}), "hyperparameters": hyper}
        job = {
            "id": "ftjob-" + secrets.token_hex(12),
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {k: hyper[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")},
            "model": body.get("model"),
            "organization_id": "org-fake",
            "result_files": [],
            "seed": body.get("seed", 42),
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": body.get("training_file"),
            "validation_file": body.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": body.get("metadata"),
            "method": method,
            "user_provided_suffix": body.get("suffix"),
        }
        with self._lock:
            self.jobs[job["id"]] = job
            self.job_events[job["id"]] = [_job_event("Validating training file")]
        return self._api.json_response(copy.deepcopy(job))

    def _job(self, req: Any, job_id: str) -> Response:
        with self._lock:
            job = copy.deepcopy(self.jobs.get(job_id))
        if job is None:
            return self._api.error_response(404, f"Could not find fine-tune: {job_id}")
        return self._api.json_response(job)

    def _list_jobs(self, req: Any) -> Response:
        with self._lock:
            items = [copy.deepcopy(j) for j in reversed(self.jobs.values())]
        return self._api.json_response(_page(items, req.query))

    def _job_events(self, req: Any, job_id: str) -> Response:
        with self._lock:
            events = copy.deepcopy(self.job_events.get(job_id, []))
        return self._api.json_response(_page(events, req.query))

    def _cancel_job(self, req: Any, job_id: str) -> Response:
        self.finish_job(job_id, "cancelled")
        return self._job(req, job_id)

    def _image_edit(self, req: Any) -> Response:
        # gpt-image edits: the uploaded image(s) count as image input tokens.
        if not any(name.startswith("image") for name in req.files):
            return self._api.error_response(400, "Missing required parameter: 'image'.", "image")
        return self._api.image_response(req.form, image_tokens=self.image_input_tokens(req))

    @staticmethod
    def image_input_tokens(req: Any) -> int:
        """Image input tokens of an edit: 65 per uploaded image at low fidelity (OpenAI's image guide)."""
        return 65 * sum(1 for name in req.files if name.startswith("image"))


def _result_body(result: dict[str, Any]) -> dict[str, Any]:
    created = int(time.time())
    usage = result["usage"]
    if result["url"] == "/v1/embeddings":
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 0.5]}],
            "model": result["model"],
            "usage": usage,
        }
    if result["url"] == "/v1/responses":
        return {
            "id": "resp_" + secrets.token_hex(12),
            "object": "response",
            "created_at": created,
            "status": "completed",
            "model": result["model"],
            "output": [],
            "usage": usage,
        }
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": created,
        "model": result["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_fake0batch",
    }


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(query.get("limit", 20))
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }


def _job_event(message: str) -> dict[str, Any]:
    return {
        "id": "ftevent-" + secrets.token_hex(12),
        "object": "fine_tuning.job.event",
        "created_at": int(time.time()),
        "level": "info",
        "message": message,
        "data": {},
        "type": "message",
    }
