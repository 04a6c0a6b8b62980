"""Fine-tuning jobs: training billed once per job, when a read sees the job ``succeeded``.

Supervised and DPO training are ``trained_tokens`` x the base model's training rate for the method.
Reinforcement fine-tuning is billed per wall-clock training hour, which the job object does not
report: its settlement is recorded unpriced with that reason (the Costs API has the amount).
"""

from __future__ import annotations

from typing import Any

from .. import endpoints
from .. import names as n
from ..record import CallRecord
from ..usage import Usage
from . import Settled, add_candidate, count, unix_time


def observe(rec: CallRecord, data: Any) -> None:
    """A job object or a list of them in a response body: settle each succeeded job after the read."""
    if type(data) is not dict:
        return
    if data.get("object") == "list" and type(data.get("data")) is list:
        jobs = [j for j in data["data"] if type(j) is dict and j.get("object") == "fine_tuning.job"]
    elif data.get("object") == "fine_tuning.job":
        jobs = [data]
    else:
        return
    for job in jobs:
        if job.get("status") == "succeeded" and type(job.get("id")) is str:
            add_candidate(rec, _candidate(rec, _summary(job)))


def _summary(job: dict[str, Any]) -> dict[str, Any]:
    method = job.get("method") if type(job.get("method")) is dict else {}
    kind = method.get("type") if type(method.get("type")) is str else "supervised"  # legacy jobs
    detail = method.get(kind) if type(method.get(kind)) is dict else {}
    hyper = detail.get("hyperparameters") if type(detail.get("hyperparameters")) is dict else None
    if hyper is None and type(job.get("hyperparameters")) is dict:
        hyper = job["hyperparameters"]
    epochs = (hyper or {}).get("n_epochs")
    return {
        "id": job["id"],
        "model": job.get("model") if type(job.get("model")) is str else None,
        "fine_tuned_model": job.get("fine_tuned_model"),
        "trained_tokens": job.get("trained_tokens"),
        "method": kind,
        "epochs": count(epochs),
        "finished_at": job.get("finished_at"),
    }


def _candidate(read: CallRecord, info: dict[str, Any]) -> Any:
    def settle(settled: Settled) -> list[CallRecord]:
        if not settled.claim(f"fine_tuning:{info['id']}"):
            return []
        unit = CallRecord(endpoints.FINE_TUNING_TRAINING)
        unit.kind = "fine_tuning"
        unit.job_id = info["id"]
        unit.request_model = info["model"]  # priced at the base model's training rate
        unit.training_method = info["method"]
        tokens = info["trained_tokens"]
        unit.usage = Usage(trained_tokens=tokens) if type(tokens) is int else None
        unit.provider, unit.provider_name = read.provider, read.provider_name
        unit.server_address, unit.server_port = read.server_address, read.server_port
        unit.attribution = read.attribution
        unit.priced_at = unix_time(info["finished_at"])  # None: priced at the read's day
        attrs: dict[str, Any] = {n.FINE_TUNING_METHOD: info["method"]}
        if info["model"]:
            attrs[n.FINE_TUNING_BASE_MODEL] = info["model"]
        if isinstance(info["fine_tuned_model"], str):
            attrs[n.FINE_TUNING_MODEL] = info["fine_tuned_model"]
        if info["epochs"] is not None:
            attrs[n.FINE_TUNING_EPOCHS] = info["epochs"]
        if count(tokens) is not None:  # junk stays off the span (the usage check flags it)
            attrs[n.FINE_TUNING_TRAINED_TOKENS] = tokens
        unit.source_attributes = attrs
        return [unit]

    return settle
