"""Fuzz: malformed API responses through the real SDK over real HTTP, with and without us.

Every case is answered with a body or an SSE stream that carries 1 to 3 malformed values (see
``cases.py``). The caller's view (each item its code gets, and the exception it gets, if any) must be
the same with and without the instrumentation, every call must end exactly one span, and the metrics
must stay recordable. Seeded and bounded: ``OTEL_OPENAI_BILLING_FUZZ_SEED`` and
``OTEL_OPENAI_BILLING_FUZZ_CASES`` (cases per test) widen a run by hand.
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

from otel_openai_billing import OpenAIBillingInstrumentor
from tests.core.conftest import Telemetry
from tests.fakes.openai_server import FakeOpenAI

from .cases import Case, make_case

SEED = int(os.environ.get("OTEL_OPENAI_BILLING_FUZZ_SEED", "1313"))
CASES = int(os.environ.get("OTEL_OPENAI_BILLING_FUZZ_CASES", "60"))
MESSAGES = [{"role": "user", "content": "hi"}]

View = list[str]


def _cases(salt: str) -> list[Case]:
    rng = random.Random(f"{SEED}:{salt}")
    # The Responses API arrived in openai 1.66; older SDKs in the matrix fuzz the other endpoints.
    responses = hasattr(openai.resources, "responses")
    return [make_case(rng, responses) for _ in range(CASES)]


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


def _call_sync(client: openai.OpenAI, case: Case) -> View:
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
        if len(spans) != 1 or spans[0].end_time is None:
            self.mismatches.append(f"{where}: {len(spans)} ended spans, expected 1")

    def verdict(self, caplog: pytest.LogCaptureFixture) -> None:
        problems = self.mismatches + _metric_problems(self.tel) + _faults(caplog)
        assert not problems, f"{len(problems)} problems in {len(self.cases)} cases:\n" + "\n".join(
            problems[:12]
        )


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def strict(request: pytest.FixtureRequest) -> bool:
    """The client's ``_strict_response_validation``: the instrumentation must add no validation."""
    return request.param


def test_sync(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_openai_billing")
    salt = f"sync-{strict}"
    run = _Run(server, _cases(salt), salt)
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


async def test_async(server: FakeOpenAI, strict: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_openai_billing")
    salt = f"async-{strict}"
    run = _Run(server, _cases(salt), salt)
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
