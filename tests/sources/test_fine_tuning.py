"""Fine-tuning training billed once per job, when the job is seen succeeded (retrieve or list)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest

from otel_openai_billing import names as n
from tests.fakes.openai_server import FakeOpenAI

from .conftest import Billed

FINISHED = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())


def _job(client: openai.OpenAI, server: FakeOpenAI, model: str, method: dict | None = None) -> str:
    training = server.sources.add_file(b'{"messages": []}\n', "fine-tune", "train.jsonl")
    kwargs = {"method": method} if method else {}
    return client.fine_tuning.jobs.create(model=model, training_file=training, suffix="billing", **kwargs).id


def test_supervised_training_billed_once(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    job_id = _job(client, server, "gpt-4o-mini-2024-07-18")
    server.sources.finish_job(job_id, "running")
    assert client.fine_tuning.jobs.retrieve(job_id).status == "running"
    server.sources.finish_job(job_id, "succeeded", trained_tokens=120_000, finished_at=FINISHED)
    for _ in range(5):
        assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
        assert [j.id for j in client.fine_tuning.jobs.list()] == [job_id]
        assert client.fine_tuning.jobs.list_events(job_id).data

    (unit,) = telemetry.units("fine_tuning")
    attrs = unit.attributes
    assert attrs[n.FINE_TUNING_JOB_ID] == job_id
    assert attrs[n.FINE_TUNING_METHOD] == "supervised"
    assert attrs[n.FINE_TUNING_EPOCHS] == 3
    assert attrs[n.FINE_TUNING_BASE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[n.FINE_TUNING_MODEL].startswith("ft:gpt-4o-mini-2024-07-18:")
    assert attrs[n.FINE_TUNING_TRAINED_TOKENS] == 120_000
    # 120,000 trained tokens x $3.00/1M (gpt-4o-mini training rate) = $0.36
    assert attrs[n.COST_AMOUNT] == float(Decimal("0.36"))
    assert telemetry.cost() == float(Decimal("0.36"))


@pytest.mark.sdk_feature("fine_tuning_method")
def test_dpo_training_billed_at_the_dpo_rate(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    method = {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2, "beta": 0.1}}}
    job_id = _job(client, server, "gpt-4.1-mini-2025-04-14", method)
    server.sources.finish_job(job_id, "succeeded", trained_tokens=50_000, finished_at=FINISHED)
    for _ in range(5):
        client.fine_tuning.jobs.retrieve(job_id)
    (unit,) = telemetry.units("fine_tuning")
    assert unit.attributes[n.FINE_TUNING_METHOD] == "dpo"
    assert unit.attributes[n.FINE_TUNING_EPOCHS] == 2
    # 50,000 trained tokens x $5.00/1M (gpt-4.1-mini DPO training rate) = $0.25
    assert unit.attributes[n.COST_AMOUNT] == float(Decimal("0.25"))


@pytest.mark.sdk_feature("fine_tuning_method")
def test_reinforcement_training_is_recorded_unpriced_with_the_reason(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    method = {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {
                "type": "string_check",
                "name": "g",
                "input": "{{sample.output_text}}",
                "reference": "x",
                "operation": "eq",
            }
        },
    }
    job_id = _job(client, server, "o4-mini-2025-04-16", method)
    server.sources.finish_job(job_id, "succeeded", trained_tokens=None, finished_at=FINISHED)
    for _ in range(5):
        client.fine_tuning.jobs.retrieve(job_id)
    (unit,) = telemetry.units("fine_tuning")
    assert unit.attributes[n.COST_STATUS] == "unpriced"
    assert "per hour" in unit.attributes[n.COST_UNPRICED_REASON]
    assert telemetry.metric_sum(n.METRIC_UNPRICED_CALLS) == 1


def test_failed_and_cancelled_jobs_bill_nothing(
    client: openai.OpenAI, server: FakeOpenAI, telemetry: Billed
) -> None:
    failed = _job(client, server, "gpt-4o-mini-2024-07-18")
    server.sources.finish_job(failed, "failed")
    cancelled = _job(client, server, "gpt-4o-mini-2024-07-18")
    assert client.fine_tuning.jobs.cancel(cancelled).status == "cancelled"
    assert {j.status for j in client.fine_tuning.jobs.list()} == {"failed", "cancelled"}
    assert telemetry.units("fine_tuning") == []


def test_inference_on_a_fine_tuned_model_stays_at_fine_tuned_rates(
    client: openai.OpenAI, telemetry: Billed
) -> None:
    client.chat.completions.create(
        model="ft:gpt-4o-mini-2024-07-18:org::abc123", messages=[{"role": "user", "content": "hi"}]
    )
    span = telemetry.only_span()
    # 19 input x $0.30/1M + 10 output x $1.20/1M (fine-tuned gpt-4o-mini) = 0.0000057 + 0.000012 = 0.0000177
    assert span.attributes[n.COST_AMOUNT] == float(Decimal("0.0000177"))
