"""Fuzz: malformed API responses through the real SDK over real HTTP, with and without us.

Every case is answered with a body or an SSE stream that carries 1 to 3 malformed values (see
``cases.py``): chat, Responses and embeddings calls, and (``test_sources_*``) the bodies the usage
sources read: Batch objects, fine-tuning jobs and background responses read back, transcripts. The
caller's view (each item its code gets, and the exception it gets, if any) must be the same with and
without the instrumentation; every call must end exactly one span of its own (a read that bills stored
objects adds one span per billed unit, under it); every span must encode to OTLP (an exporter drops a
whole batch of spans that does not); the metrics must stay recordable; and nothing of ours may log a
fault, at any level. Seeded and bounded: ``OTEL_OPENAI_BILLING_FUZZ_SEED`` and
``OTEL_OPENAI_BILLING_FUZZ_CASES`` (cases per test; 2.5 times as many for the sources) widen a run by
hand.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

from .cases import STORED_KINDS, Case, make_case, make_source_case

SEED = int(os.environ.get("OTEL_OPENAI_BILLING_FUZZ_SEED", "1313"))
CASES = int(os.environ.get("OTEL_OPENAI_BILLING_FUZZ_CASES", "60"))
# A stored-object read is cheap (one small body, no stream): its fuzz runs 2.5 times as many cases.
SOURCE_CASES = CASES * 5 // 2
MESSAGES = [{"role": "user", "content": "hi"}]

View = list[str]


def _cases(salt: str, sources: bool = False) -> list[Case]:
    rng = random.Random(f"{SEED}:{salt}")
    # The Responses API arrived in openai 1.66; older SDKs in the matrix fuzz the other endpoints.
    responses = hasattr(openai.resources, "responses")
    if sources:
        return [make_source_case(rng, i, responses) for i in range(SOURCE_CASES)]
    return [make_case(rng, responses) for _ in range(CASES)]


# A transcription's upload: the answer is what the fuzz varies, not the audio.
_AUDIO = ("fuzz.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav")


def _source_call(client: Any, case: Case) -> Any:
    """The SDK call of a usage-source case: its result (sync client) or awaitable (async client)."""
    if case.kind == "batch":
        return client.batches.retrieve("batch_fuzz")
    if case.kind == "batch list":
        return client.batches.list()
    if case.kind == "fine_tuning":
        return client.fine_tuning.jobs.retrieve("ftjob-fuzz")
    if case.kind == "fine_tuning list":
        return client.fine_tuning.jobs.list()
    if case.kind == "response retrieve":
        return client.responses.retrieve("resp_fuzz")
    if case.kind == "batch file":
        return client.files.content(case.ref)
    return client.audio.transcriptions.create(model="gpt-4o-transcribe", file=_AUDIO)


def _arguments(case: Case) -> tuple[Callable[[Any], Any], dict[str, Any]]:
    """The SDK resource for a case (its ``create`` is called), and the arguments."""
    if case.kind == "chat":
        kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "n": 2}
        if case.stream:
            kwargs["stream"] = True
            if case.include_usage:
                kwargs["stream_options"] = {"include_usage": True}
        return (lambda c: c.chat.completions), kwargs
    if case.kind == "responses":
        kwargs = {"model": "gpt-4o-mini", "input": "hi"}
        if case.stream:
            kwargs["stream"] = True
        return (lambda c: c.responses), kwargs
    return (lambda c: c.embeddings), {
        "model": "text-embedding-3-small",
        "input": "hi",
        "encoding_format": "float",
    }


def _failure(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}"


def _seen(result: Any) -> str:
    """A stored-object read's result as the caller sees it (a file's content: its bytes)."""
    content = getattr(result, "content", None)
    return repr(content) if isinstance(content, bytes) else repr(result)


def _call_sync(client: openai.OpenAI, case: Case) -> View:
    if case.kind in STORED_KINDS:
        try:
            return [_seen(_source_call(client, case))]
        except Exception as exc:
            return [_failure(exc)]
    resource, kwargs = _arguments(case)
    view: View = []
    try:
        if case.raw:
            result = resource(client).with_raw_response.create(**kwargs).parse()
        else:
            result = resource(client).create(**kwargs)
        if case.stream:
            for item in result:
                view.append(repr(item))
        else:
            view.append(repr(result))
    except Exception as exc:
        view.append(_failure(exc))
    return view


async def _call_async(client: openai.AsyncOpenAI, case: Case) -> View:
    if case.kind in STORED_KINDS:
        try:
            return [_seen(await _source_call(client, case))]
        except Exception as exc:
            return [_failure(exc)]
    resource, kwargs = _arguments(case)
    view: View = []
    try:
        if case.raw:
            # The async client's with_raw_response returns the legacy raw response: parse() is sync.
            result = (await resource(client).with_raw_response.create(**kwargs)).parse()
        else:
            result = await resource(client).create(**kwargs)
        if case.stream:
            async for item in result:
                view.append(repr(item))
        else:
            view.append(repr(result))
    except Exception as exc:
        view.append(_failure(exc))
    return view


def _metric_problems(tel: Telemetry) -> list[str]:
    """Histogram sums and counter values that an exporter could not carry or a backend would misread."""
    problems = []
    data = tel.reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "sum", None)
                    if value is None:
                        value = point.value
                    if not math.isfinite(value) or abs(value) >= 2**63 or value < 0:
                        problems.append(f"{metric.name} {dict(point.attributes)}: {value!r}")
    return problems


def _faults(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("otel_openai_billing") and "failed" in r.getMessage()
    ]


def _span_problems(spans: list[Any], settles: bool) -> list[str]:
    """What is wrong with the ended spans of one call: not exactly one span of the call's own (plus,
    where the call ``settles`` stored objects, spans under it), or spans OTLP cannot carry."""
    roots = [s for s in spans if s.parent is None]
    problems = []
    if len(roots) != 1:
        problems.append(f"{len(spans)} ended spans, {len(roots)} of the call's own, expected 1")
    else:
        root = roots[0].context.span_id
        under = [s for s in spans if s.parent is not None and s.parent.span_id == root]
        if len(under) != len(spans) - 1 or (under and not settles):
            problems.append(f"{len(spans)} ended spans, expected 1" + (" and its settlements" * settles))
    return problems + encoding_problems(spans)


def encoding_problems(spans: list[Any]) -> list[str]:
    """Span attributes OTLP cannot carry."""
    problems = []
    # OTLP carries 64-bit ints: the exporter drops a bigger one with an error (or fails the batch).
    for span in spans:
        for attributes in (span.attributes, *(e.attributes for e in span.events)):
            for key, value in (attributes or {}).items():
                for item in value if isinstance(value, tuple) else (value,):
                    if type(item) is int and not -(2**63) <= item < 2**63:
                        problems.append(f"{span.name}: {key}={item} does not fit OTLP's 64-bit int")
    try:
        encode_spans(spans)
    except Exception as exc:  # an OTLP exporter would drop the whole batch these spans are in
        problems.append(f"the spans do not encode to OTLP: {exc!r}")
    return problems


class _Run:
    """The two runs of a list of cases: plain first, then instrumented, compared case by case."""

    def __init__(self, server: FakeOpenAI, cases: list[Case], salt: str) -> None:
        self.server = server
        self.cases = cases
        self.salt = salt
        self.tel = Telemetry()
        self.instrumentor = OpenAIBillingInstrumentor()
        self.plain: list[View] = []
        self.mismatches: list[str] = []

    def serve(self, case: Case, instrumented: bool) -> None:
        self.server.clear()
        self.server.raw_next(case.instrumented if instrumented else case.plain, case.content_type)

    def check(self, index: int, view: View, spans_before: int) -> None:
        case = self.cases[index]
        where = case.describe(index, SEED) + f" [{self.salt}]"
        if case.stream and case.kind == "chat" and not case.include_usage:
            sent = self.server.requests[-1].json or {}
            if not (sent.get("stream_options") or {}).get("include_usage"):
                self.mismatches.append(f"{where}: stream usage was not injected")
        plain = self.plain[index]
        if view != plain:
            at = next(
                (i for i, (a, b) in enumerate(zip(plain, view, strict=False)) if a != b),
                min(len(plain), len(view)),
            )
            first = (plain[at:] or ["(nothing)"])[0][:300], (view[at:] or ["(nothing)"])[0][:300]
            self.mismatches.append(
                f"{where}: {len(plain)} items without us, {len(view)} with us; item {at}:\n"
                f"  without us: {first[0]}\n  with us:    {first[1]}"
            )
        spans = self.tel.spans()[spans_before:]
        self.mismatches.extend(f"{where}: {p}" for p in _span_problems(spans, case.kind in STORED_KINDS))

    def verdict(self, caplog: pytest.LogCaptureFixture) -> None:
        problems = self.mismatches + _metric_problems(self.tel) + _faults(caplog)
        assert not problems, f"{len(problems)} problems in {len(self.cases)} cases:\n" + "\n".join(
            problems[:12]
        )


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def strict(request: pytest.FixtureRequest) -> bool:
    """The client's ``_strict_response_validation``: the instrumentation must add no validation."""
    return request.param


def _run_sync(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture, sources: bool) -> None:
    # DEBUG: a fault of a kind another test logged first is logged again at DEBUG only.
    caplog.set_level(logging.DEBUG, logger="otel_openai_billing")
    salt = f"sync-{strict}" + ("-sources" if sources else "")
    run = _Run(server, _cases(salt, sources), salt)
    client = openai.OpenAI(
        api_key="sk-fuzz", base_url=server.base_url, max_retries=0, _strict_response_validation=strict
    )
    with client:
        for case in run.cases:
            run.serve(case, instrumented=False)
            run.plain.append(_call_sync(client, case))
        run.instrumentor.instrument(
            tracer_provider=run.tel.tracer_provider, meter_provider=run.tel.meter_provider
        )
        try:
            for index, case in enumerate(run.cases):
                before = len(run.tel.spans())
                run.serve(case, instrumented=True)
                run.check(index, _call_sync(client, case), before)
        finally:
            run.instrumentor.uninstrument()
    run.verdict(caplog)


async def _run_async(
    server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture, sources: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_openai_billing")
    salt = f"async-{strict}" + ("-sources" if sources else "")
    run = _Run(server, _cases(salt, sources), salt)
    client = openai.AsyncOpenAI(
        api_key="sk-fuzz", base_url=server.base_url, max_retries=0, _strict_response_validation=strict
    )
    async with client:
        for case in run.cases:
            run.serve(case, instrumented=False)
            run.plain.append(await _call_async(client, case))
        run.instrumentor.instrument(
            tracer_provider=run.tel.tracer_provider, meter_provider=run.tel.meter_provider
        )
        try:
            for index, case in enumerate(run.cases):
                before = len(run.tel.spans())
                run.serve(case, instrumented=True)
                run.check(index, await _call_async(client, case), before)
        finally:
            run.instrumentor.uninstrument()
    run.verdict(caplog)


def test_sync(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    _run_sync(server, strict, caplog, sources=False)


async def test_async(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    await _run_async(server, strict, caplog, sources=False)


def test_sources_sync(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    _run_sync(server, strict, caplog, sources=True)


async def test_sources_async(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    await _run_async(server, strict, caplog, sources=True)
