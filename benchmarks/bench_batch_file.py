"""What reading a Batch output file costs: downloading it with and without the instrumentation.

Run: PYTHONPATH=src:. python benchmarks/bench_batch_file.py
A 20,000-line chat output file (about 17 MB) from the local fake server, downloaded with
``files.content`` and streamed with ``with_streaming_response``: plain; instrumented with the file
not yet settled (every line read); instrumented with the batch already settled (nothing read).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from tests.fakes.openai_server import FakeOpenAI

from otel_openai_billing import OpenAIBillingInstrumentor

LINES = 20_000
_USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
_BODY = {"object": "chat.completion", "model": "gpt-4o-mini-2024-07-18", "usage": _USAGE}


def _file() -> bytes:
    lines = []
    for i in range(LINES):
        choice = {"index": 0, "message": {"role": "assistant", "content": "x" * 400}, "finish_reason": "stop"}
        body = {"id": f"chatcmpl-{i}", **_BODY, "choices": [choice]}
        response = {"status_code": 200, "request_id": f"req_{i}", "body": body}
        lines.append(
            json.dumps({"id": f"batch_req_{i}", "custom_id": f"r{i}", "response": response, "error": None})
        )
    return ("\n".join(lines) + "\n").encode()


def _median_ms(run: Callable[[str], None], new_file: Callable[[], str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        file_id = new_file()
        start = time.perf_counter()
        run(file_id)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(repeat: int = 7) -> None:
    body = _file()
    with FakeOpenAI() as server:
        client = openai.OpenAI(api_key="sk-bench", base_url=server.base_url)

        def new_file() -> str:
            return server.sources.add_file(body, "batch_output", "out.jsonl")

        def content(file_id: str) -> None:
            assert client.files.content(file_id).content

        def streamed(file_id: str) -> None:
            with client.files.with_streaming_response.content(file_id) as response:
                for _chunk in response.iter_bytes():
                    pass

        settled = new_file()
        print(f"openai {openai.VERSION}; {LINES} lines, {len(body) / 1e6:.1f} MB; median of {repeat}")
        for label in ("plain", "instrumented, read", "instrumented, settled"):
            if label != "plain" and not OpenAIBillingInstrumentor().is_instrumented_by_opentelemetry:
                OpenAIBillingInstrumentor().instrument(
                    tracer_provider=TracerProvider(), meter_provider=MeterProvider()
                )
                content(settled)  # settles this file: later downloads of it are not read
            files = (lambda: settled) if label.endswith("settled") else new_file
            print(
                f"{label:24} files.content {_median_ms(content, files, repeat):7.1f} ms"
                f"   streamed {_median_ms(streamed, files, repeat):7.1f} ms"
            )
        OpenAIBillingInstrumentor().uninstrument()


if __name__ == "__main__":
    main()
