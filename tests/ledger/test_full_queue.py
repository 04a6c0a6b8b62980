"""A full ledger queue drops, counts and warns; it never blocks the caller."""

from __future__ import annotations

import logging
import time

import pytest

from otel_openai_billing import names as n


@pytest.fixture
def ledger_kwargs():
    return {"ledger_queue_size": 2}


def test_a_full_queue_drops_counts_and_warns_but_never_blocks(ledger, client, caplog) -> None:
    # Hold the writer's file lock: it cannot drain, so the queue of 2 fills up.
    ledger.writer.flush()
    with ledger.writer._io_lock, caplog.at_level(logging.WARNING, "otel_openai_billing"):
        started = time.perf_counter()
        for _ in range(5):
            client.embeddings.create(model="text-embedding-3-small", input="x")
        elapsed = time.perf_counter() - started
    assert ledger.writer.dropped == 3
    assert elapsed < 5  # five local calls; a blocked queue would hang here
    assert sum(p.value for p in ledger.metric_points(n.METRIC_LEDGER_DROPPED)) == 3
    assert any("ledger queue is full" in r.getMessage() for r in caplog.records)
    assert len(ledger.records()) == 2
