"""What usage estimation costs per call, and how close it is to the usage the API reported.

Run: PYTHONPATH=src python benchmarks/bench_estimate.py

Cost: microseconds to estimate one call that ended without usage (request counted + received text
counted), on the recorded exchanges in tests/estimate/recorded_exchanges.json, after the encoding is
loaded; the one-off load time is printed apart. Also the per-chunk cost of keeping the received text
(what every streamed chunk pays while estimation is on), against a record with it off.
Accuracy: median and worst relative error of the estimate against the usage OpenAI reported for the
same exchanges (real responses recorded in public VCR cassettes; each entry cites its source).
"""

from __future__ import annotations

import json
import statistics
import time
import timeit
from pathlib import Path

from otel_openai_billing.endpoints import lookup
from otel_openai_billing.estimate import Estimator, collect_text
from otel_openai_billing.record import CallRecord

DATA = Path(__file__).resolve().parents[1] / "tests" / "estimate" / "recorded_exchanges.json"


def main(repeat: int = 7, number: int = 2_000) -> None:
    exchanges = json.loads(DATA.read_text())["exchanges"]
    est = Estimator()
    started = time.perf_counter()
    est.encoding("gpt-4o")
    print(f"{'load o200k_base (once per process)':<44} {(time.perf_counter() - started) * 1e3:8.1f} ms")

    cases = []
    errors_in, errors_out = [], []
    for ex in exchanges:
        received: list[str] = []
        collect_text(received, {"choices": [{"message": ex["response"]}]})
        cases.append((ex["response_model"], ex["request"], received))
        usage, _ = est.estimate(ex["response_model"], ex["request"], received)
        errors_in.append(
            abs(usage.input_tokens - ex["usage"]["prompt_tokens"]) / ex["usage"]["prompt_tokens"]
        )
        errors_out.append(
            abs(usage.output_tokens - ex["usage"]["completion_tokens"]) / ex["usage"]["completion_tokens"]
        )

    def estimate_all() -> None:
        for model, body, received in cases:
            est.estimate(model, body, received)

    runs = timeit.repeat(estimate_all, repeat=repeat, number=number // len(cases))
    per_call = statistics.median(runs) / (number // len(cases) * len(cases)) * 1e6
    label = "estimate one call (request + received text)"
    print(f"{label:<44} {per_call:8.1f} us/call  ({len(cases)} exchanges)")

    chunk = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}],
    }
    endpoint = lookup("POST", "/chat/completions")
    # Interleaved, best of the repeats: the difference is small next to a shared machine's noise.
    off, on = CallRecord(endpoint), CallRecord(endpoint)
    on.received_text = []
    n = 100_000
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(repeat):
        for label, rec in (("off", off), ("on", on)):
            best[label] = min(best[label], timeit.timeit(lambda rec=rec: rec.absorb(chunk), number=n) / n)
            on.received_text = []
    for label, seconds in best.items():
        print(
            f"{'absorb one chunk, estimation ' + label:<44} {seconds * 1e9:8.0f} ns/chunk (best of {repeat})"
        )

    print(
        f"accuracy over {len(exchanges)} recorded exchanges: "
        f"input median {statistics.median(errors_in):.1%}, worst {max(errors_in):.1%}; "
        f"output median {statistics.median(errors_out):.1%}, worst {max(errors_out):.1%}"
    )


if __name__ == "__main__":
    main()
