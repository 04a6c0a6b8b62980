"""Overhead of the instrumentation against a floor and against the official OpenAI instrumentation.

One run measures, each in processes of its own and interleaved (ours, peer, ours, peer, ...):

- per call: a chat completion, uninstrumented and instrumented, and the difference;
- per chunk: streamed chat completions of ``--chunks`` chunks and of a twentieth as many, the same
  way; a chunk's overhead is the slope between the two lengths, so what a stream costs once (its
  call, the usage chunk we ask for, following the stream) cancels out and is printed on its own;
- per chunk, our step alone: chat chunk events through the per-event step of an open stream opened
  without us and of one opened with us, in alternation; the stream's slope moves by more from block to
  block (the SDK decodes SSE and builds a chunk model, a hundred times our step's work) than all of it;
- the floor: one bare span around the call with as many attributes as ours, and the same metric points
  with the same attributes, timed like ours: what any instrumentation that records this much pays in
  the OpenTelemetry SDK;
- memory: RSS and objects tracked by the garbage collector, before and after ``--memory-calls``
  instrumented calls that follow a warm-up;
- start-up: the time to import the instrumentation and call ``instrument()``, in a fresh interpreter
  that has already imported openai and the OpenTelemetry SDK (what the app does anyway).

The peer is ``opentelemetry-instrumentation-genai-openai`` (formerly ``-openai-v2``), run in its own
venv (``.venv-peer``, created on first use with the same openai and OpenTelemetry SDK versions) on the
same in-process transport (the SDK's HTTP library's MockTransport) with the same calls. Times are CPU
time of the measuring process, so other load on the machine counts less; figures are medians of the
repeats, with min-max in brackets. Each timed block starts from a full garbage collection, so a
collection that one-off set-up made due (``instrument()`` builds the price data) does not land in it.

Scenarios (``SCENARIOS``) add a line each for optional features on the hot path; one whose option this
build lacks is skipped with a note.

Run: PYTHONPATH=src python benchmarks/bench_overhead.py  (or: make bench)
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER = "opentelemetry-instrumentation-genai-openai"
PEER_VERSION = "1.3b0"
PEER_VENV = ROOT / ".venv-peer"
# Plain and instrumented blocks alternate this many times in each process: load that comes and goes
# hits both alike.
PAIRS = 9

CHAT_BODY = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "service_tier": "default",
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 350,
        "total_tokens": 1550,
        "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
    },
}
MESSAGES = [{"role": "user", "content": "hi"}]
# The headers of a chat completion from api.openai.com (those of a response recorded with curl, values
# of the same lengths), less content-type, which the handler adds: the SDK, httpx and every
# instrumentation handle about two dozen on each call, not the one or two a hand-made response has.
RESPONSE_HEADERS = [
    ("date", "Tue, 10 Sep 2024 23:58:08 GMT"),
    ("access-control-expose-headers", "X-Request-ID"),
    ("openai-organization", "org-bench"),
    ("openai-processing-ms", "1032"),
    ("openai-project", "proj_bench"),
    ("openai-version", "2020-10-01"),
    ("x-envoy-upstream-service-time", "1035"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "30000000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "29999990"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-reset-tokens", "0s"),
    ("strict-transport-security", "max-age=15552000; includeSubDomains; preload"),
    ("x-request-id", "req_deaa3616cbd15d33b4db96b3ba74d2b4"),
    ("cf-cache-status", "DYNAMIC"),
    (
        "set-cookie",
        "__cf_bm=hYY77LPW86IHCxlt4Ckj5AOaCVUtpjnWSTeqBMAc6dY-1726012688-1.0.1.1-xKRPB4N9yUcQZWhNtNFsM_MRYxNYrx"
        "URn92ocgRONgdPcsRREoF.2HAFjD1kntn0bA.CW7rbzxXJqRZ7NSYkPw; path=/;"
        " expires=Wed, 11-Sep-24 00:28:08 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
    ),
    ("x-content-type-options", "nosniff"),
    (
        "set-cookie",
        "_cfuvid=BWY.Nq8rNtNHMCHMBH0D.4vGEpR8jzpu.fS6z6IeXm0-1726012688465-0.0.1.1-604800000; path=/;"
        " domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
    ),
    ("server", "cloudflare"),
    ("cf-ray", "8c135d3eeec4a97a-SYD"),
    ("alt-svc", 'h3=":443"; ma=86400'),
]


# --- the calls, on an in-process transport ------------------------------------------------------
def _sse(chunks: int, include_usage: bool) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000}
    base["model"] = "gpt-4o-mini-2024-07-18"
    lines = []
    for i in range(chunks):
        choice = {
            "index": 0,
            "delta": {"content": "tok"},
            "finish_reason": "stop" if i == chunks - 1 else None,
        }
        data = {**base, "choices": [choice]}
        if include_usage:
            data["usage"] = None
        lines.append(f"data: {json.dumps(data)}\n\n")
    if include_usage:
        lines.append(f"data: {json.dumps({**base, 'choices': [], 'usage': CHAT_BODY['usage']})}\n\n")
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def make_client(chunks: int) -> Any:
    """An OpenAI client whose HTTP client answers in-process: no sockets, so no socket noise."""
    import openai

    try:  # openai 3.x
        import httpx2 as httpx
    except ImportError:  # openai 1.x / 2.x
        import httpx  # type: ignore[no-redef]

    bodies = {False: _sse(chunks, False), True: _sse(chunks, True)}
    chat = json.dumps(CHAT_BODY).encode()

    def handler(request: Any) -> Any:
        body = json.loads(request.content)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            headers = [("content-type", "text/event-stream"), *RESPONSE_HEADERS]
            return httpx.Response(200, headers=headers, content=bodies[include])
        headers = [("content-type", "application/json"), *RESPONSE_HEADERS]
        return httpx.Response(200, headers=headers, content=chat)

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(api_key="sk-bench", base_url="http://bench.local/v1", http_client=http_client)


def call(client: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def stream(client: Any, **options: Any) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **options):
        pass


# A stream whose caller asks for usage: the API's chunks are the same with and without us, so the
# per-chunk difference is our work alone (where ``stream`` also has the API send ``"usage": null`` in
# every chunk once we ask for usage, which the SDK then decodes).
stream_with_usage = functools.partial(stream, stream_options={"include_usage": True})


# Chunk events per call of an ``Events``.
EVENTS = 10


class Events:
    """``EVENTS`` content chunks through the SDK's per-event step (``_process_response_data``), bound
    the way its stream binds it, for a stream that is open (its first chunk read): what every chunk of
    a stream pays, without the SSE decoding and JSON parsing around it. Ours gets the chunk as the API
    sends it once include_usage is asked for (``"usage": null``), plain without.

    The step is asked for the chunk as a plain object (``cast_to=object``), not as the SDK's chunk
    model: building that model is about 690,000 instructions, none of them ours, and a whole process's
    count moves from run to run by more than our step's few thousand; without it our step is counted
    to within a few instructions."""

    def __init__(self, client: Any, mode: str) -> None:
        self.stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        _join_warm_ups()  # the tokenizer this stream starts loading
        self.chunks = iter(self.stream)
        next(self.chunks)
        self.process = _bound_step(self.stream)
        self.response, self.cast_to = self.stream.response, object
        choice = {"index": 0, "delta": {"content": "tok"}, "finish_reason": None}
        self.event: dict[str, Any] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [choice],
        }
        if mode == "ours":
            self.event["usage"] = None

    def __call__(self, client: Any) -> None:
        for _ in range(EVENTS):
            self.process(data=dict(self.event), cast_to=self.cast_to, response=self.response)

    def finish(self) -> None:
        """Read the stream to its end, usage included: a stream left open would be estimated at exit,
        on text as long as the run, which is not a chunk's work."""
        for _ in self.chunks:
            pass


def _bound_step(stream: Any) -> Any:
    """The per-event step a stream's generator took when it started: a local of the SDK's generator,
    which ours (when instrumented) wraps as its local ``gen``."""
    gen = stream._iterator
    while gen is not None:
        local = gen.gi_frame.f_locals
        if "process_data" in local:
            return local["process_data"]
        gen = local.get("gen")
    raise RuntimeError("no per-event step found in the stream's generators")


def per_call_us(fn: Callable[[Any], None], client: Any, calls: int) -> float:
    # Every block starts from a full collection: otherwise one that set-up made due (instrument()
    # builds the price data, tens of thousands of objects) lands in whichever block comes next, about
    # 60 ms in one block of a few hundred calls. The calls' own garbage is still collected inside the
    # block, and the memory line shows whether they leave any behind.
    gc.collect()
    start = time.process_time()
    for _ in range(calls):
        fn(client)
    return (time.process_time() - start) / calls * 1e6


# --- optional scenarios: one line each ----------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """A configuration of ours with its own per-call line.

    ``option`` is the ``instrument()`` option the feature adds; a build without it prints a note
    instead of a line. ``kwargs`` builds the options from a scratch directory; ``context`` wraps each
    call (e.g. in a billing_context); ``requires_env`` names a variable the scenario needs (a server).
    """

    name: str
    option: str | None
    kwargs: Callable[[Path], dict[str, Any]]
    context: Callable[[], Any] | None = None
    requires_env: str | None = None


def _billing_context() -> Any:
    from otel_openai_billing import billing_context

    return billing_context(customer_id="acme", feature="search")


_BUDGETS = [{"name": "bench", "scope": {"customer_id": "*"}, "window": "day", "limit_usd": "1000000"}]

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("metrics off", "metrics", lambda tmp: {"metrics": False}),
    Scenario(
        "attribution: billing_context, 2 metric keys",
        "metric_attribution_keys",
        lambda tmp: {"metric_attribution_keys": "customer_id,feature"},
        _billing_context,
    ),
    Scenario("ledger on", "ledger", lambda tmp: {"ledger": str(tmp / "ledger")}),
    Scenario("budget in-memory", "budgets", lambda tmp: {"budgets": _BUDGETS}, _billing_context),
    Scenario(
        "budget redis",
        "budget_store",
        lambda tmp: {"budgets": _BUDGETS, "budget_store": os.environ["BENCH_REDIS_URL"]},
        _billing_context,
        requires_env="BENCH_REDIS_URL",
    ),
)


def _scenario_note(scenario: Scenario) -> str | None:
    """Why a scenario cannot run in this build, or None."""
    from otel_openai_billing.config import OPTIONS

    if scenario.option and scenario.option not in {o.name for o in OPTIONS}:
        return f"skipped: this build has no instrument() option {scenario.option!r}"
    if scenario.requires_env and not os.environ.get(scenario.requires_env):
        return f"skipped: set {scenario.requires_env} to run it"
    return None


# --- the worker: one implementation, in its own process ------------------------------------------
def _providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(Discard()))
    return tp, MeterProvider(metric_readers=[InMemoryMetricReader()])


def _instrumentor(impl: str) -> Any:
    if impl == "ours":
        from otel_openai_billing import OpenAIBillingInstrumentor

        return OpenAIBillingInstrumentor()
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


@contextlib.contextmanager
def _instrumented(impl: str, tp: Any, mp: Any, **kwargs: Any) -> Iterator[None]:
    instrumentor = _instrumentor(impl)
    instrumentor.instrument(tracer_provider=tp, meter_provider=mp, **kwargs)
    try:
        yield
    finally:
        instrumentor.uninstrument()


class Floor:
    """The least an instrumentation recording what we record does: our span's attributes on one bare
    span around the call, and our metric points with their attributes. Timed around the same call as
    ours, so it pays for the same cold caches."""

    def __init__(self, tp: Any, mp: Any, client: Any) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        probe_tp = TracerProvider()
        probe_tp.add_span_processor(SimpleSpanProcessor(spans))
        with _instrumented("ours", probe_tp, MeterProvider(metric_readers=[reader])):
            call(client)
        (span,) = spans.get_finished_spans()
        self.name, self.kind, self.attributes = span.name, span.kind, dict(span.attributes or {})
        self.tracer = tp.get_tracer("floor")
        meter = mp.get_meter("floor")
        self.points: list[tuple[Callable[..., None], float, dict[str, Any]]] = []
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    counter = hasattr(metric.data, "is_monotonic")
                    instrument = (meter.create_counter if counter else meter.create_histogram)(metric.name)
                    record = instrument.add if counter else instrument.record
                    for point in metric.data.data_points:
                        value = point.value if counter else point.sum
                        self.points.append((record, value, dict(point.attributes)))

    def __call__(self, client: Any) -> None:
        """The plain call inside one bare span that gets our attributes, then our metric points."""
        span = self.tracer.start_span(self.name, kind=self.kind)
        call(client)
        span.set_attributes(self.attributes)
        span.end()
        for record, value, attributes in self.points:
            record(value, attributes)


def _overhead(
    impl: str,
    fn: Callable[[Any], None],
    client: Any,
    calls: int,
    tp: Any,
    mp: Any,
    floor: Callable[[Any], None] | None = None,
) -> dict[str, float]:
    """Plain, floor (if given) and instrumented blocks in alternation; medians of the differences."""
    block = max(calls // PAIRS, 5)
    plain, instrumented, floored = [], [], []
    for _ in range(PAIRS):
        plain.append(per_call_us(fn, client, block))
        if floor is not None:
            floored.append(per_call_us(floor, client, block))
        with _instrumented(impl, tp, mp):
            per_call_us(fn, client, 3)  # steady state: not the first call after instrument()
            instrumented.append(per_call_us(fn, client, block))
    median = statistics.median
    out = {
        "plain": median(plain),
        "instrumented": median(instrumented),
        "overhead": median(i - p for i, p in zip(instrumented, plain, strict=True)),
    }
    if floor is not None:
        out["floor"] = median(f - p for f, p in zip(floored, plain, strict=True))
    return out


def _chunk_overhead(impl: str, clients: dict[int, Any], streams: int, tp: Any, mp: Any) -> dict[str, float]:
    """Per stream chunk: the slope between streams of two lengths (``clients`` maps chunks to a client
    answering with that many), plain and instrumented blocks in alternation; medians."""
    short, long = sorted(clients)
    block = {long: max(streams // PAIRS, 3), short: max(streams // PAIRS, 3) * 5}
    plain, chunk, once = [], [], []
    for _ in range(PAIRS):
        before = {c: per_call_us(stream, clients[c], block[c]) for c in (long, short)}
        with _instrumented(impl, tp, mp):
            for c in (long, short):  # steady state: neither length's first stream after instrument()
                per_call_us(stream, clients[c], 2)
            after = {c: per_call_us(stream, clients[c], block[c]) for c in (long, short)}
        added = {c: after[c] - before[c] for c in (long, short)}
        slope = (added[long] - added[short]) / (long - short)
        plain.append((before[long] - before[short]) / (long - short))
        chunk.append(slope)
        once.append(added[short] - short * slope)
    median = statistics.median
    return {"plain": median(plain), "overhead": median(chunk), "once": median(once)}


def _step_overhead(client: Any, calls: int, tp: Any, mp: Any) -> dict[str, float]:
    """Per chunk, our step alone, in µs per event: chat chunk events through the per-event step of an
    open stream (``Events``) opened without us and of one opened with us, blocks in alternation;
    medians. No SSE decoding, JSON parsing or chunk model around it, whose CPU time moves by more from
    block to block than the whole of our step."""
    block = max(calls // 5, 20)
    plain = Events(client, "plain")  # opened without us: the SDK's own step
    try:
        with _instrumented("ours", tp, mp):
            ours = Events(client, "ours")  # opened with us: our step in front of the SDK's
            try:
                for _ in range(3):  # steady state
                    plain(client)
                    ours(client)
                sdk, added = [], []
                for _ in range(PAIRS):
                    before = per_call_us(plain, client, block) / EVENTS
                    sdk.append(before)
                    added.append(per_call_us(ours, client, block) / EVENTS - before)
            finally:
                ours.finish()
    finally:
        plain.finish()
    median = statistics.median
    return {"plain": median(sdk), "overhead": median(added)}


def work(impl: str, calls: int, chunks: int) -> dict[str, Any]:
    """One repeat of every timing for one implementation."""
    tp, mp = _providers()
    client = make_client(chunks)
    short = max(chunks // 20, 1)
    clients = {chunks: client, short: make_client(short)}
    streams = max(calls // 5, 10)
    for _ in range(2):  # warm-up: imports, caches, connection pools
        _overhead(impl, call, client, 20, tp, mp)
        _overhead(impl, stream, client, 3, tp, mp)
    _join_warm_ups()
    # The floor is timed in the same alternation as ours (plain, floor, ours, plain, ...), so both
    # meet the same moments of load and their ratio in one process is steadier than either figure.
    floor = Floor(tp, mp, client) if impl == "ours" else None
    out: dict[str, Any] = {
        "call": _overhead(impl, call, client, calls, tp, mp, floor),
        "stream": _chunk_overhead(impl, clients, streams, tp, mp),
    }
    if floor is not None:
        out["floor"] = out["call"]["floor"]
        out["floor_shape"] = {"attributes": len(floor.attributes), "points": len(floor.points)}
        out["step"] = _step_overhead(client, calls, tp, mp)
        out["scenarios"] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for scenario in SCENARIOS:
                note = _scenario_note(scenario)
                if note is None:
                    try:
                        out["scenarios"][scenario.name] = _scenario(
                            scenario, Path(tmp), client, calls, tp, mp
                        )
                        continue
                    except Exception as exc:  # a scenario that cannot start is reported, not fatal
                        note = f"failed: {exc!r}"[:160]
                out["scenarios"][scenario.name] = note
    return out


# Background work of ours that runs once per process: the price data, a tokenizer's encoding.
_ONE_OFF_THREADS = ("otel-openai-billing-prices", "otel-openai-billing:tokenizer")


def _join_warm_ups() -> None:
    """Wait for one-off background work the warm-up started (the price data; a tokenizer, about a
    second of CPU on the first stream): CPU time counts every thread, and the figures are the steady
    state. ``benchmarks/bench_estimate.py`` measures the tokenizer's load."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith(_ONE_OFF_THREADS):
            thread.join()


def _scenario(scenario: Scenario, tmp: Path, client: Any, calls: int, tp: Any, mp: Any) -> dict[str, float]:
    context = scenario.context or contextlib.nullcontext
    block = max(calls // PAIRS, 5)

    def fn(c: Any) -> None:
        with context():
            call(c)

    differences = []
    for _ in range(PAIRS):
        plain = per_call_us(fn, client, block)
        with _instrumented("ours", tp, mp, **scenario.kwargs(tmp)):
            per_call_us(fn, client, 3)
            differences.append(per_call_us(fn, client, block) - plain)
    return {"overhead": statistics.median(differences)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(impl: str, calls: int) -> dict[str, float]:
    """RSS and GC-tracked objects before and after ``calls`` instrumented calls (after a warm-up)."""
    tp, mp = _providers()
    client = make_client(20)
    with _instrumented(impl, tp, mp):
        for _ in range(2000):
            call(client)
        gc.collect()
        rss, objects = _rss_mb(), len(gc.get_objects())
        for _ in range(calls):
            call(client)
        gc.collect()
        return {"rss_mb": _rss_mb() - rss, "objects": len(gc.get_objects()) - objects}


_STARTUP = """
import sys, time
sys.path.insert(0, {bench_dir!r})
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
from bench_overhead import call, make_client
tp, mp = TracerProvider(), MeterProvider()
client = make_client(20)
start = time.perf_counter()
{instrument}
started = time.perf_counter()
call(client)
print((started - start) * 1000, (time.perf_counter() - started) * 1000)
"""
_STARTUP_INSTRUMENT = {
    "plain": "",
    "ours": "from otel_openai_billing import OpenAIBillingInstrumentor\n"
    "OpenAIBillingInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)",
    "peer": "from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor\n"
    "OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)",
}


_STARTUP_WARM: set[tuple[str, str]] = set()


@functools.cache
def _startup_env() -> dict[str, str]:
    """The start-up runs' environment: bytecode written and read, as in a real deployment.

    Without it (PYTHONDONTWRITEBYTECODE set, or an unwritable site-packages) every import recompiles
    from source and the figure measures the compiler. The bytecode goes to a temporary directory,
    removed at exit, so nothing is written next to the sources.
    """
    prefix = tempfile.mkdtemp(prefix="bench-startup-pyc-")
    atexit.register(shutil.rmtree, prefix, ignore_errors=True)
    env = {k: v for k, v in _env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": prefix}


def startup_ms(python: str, impl: str) -> tuple[float, float]:
    """(import + instrument(), the first call) in ms, in a fresh interpreter, from compiled bytecode.

    The first run of each interpreter and implementation compiles the bytecode and is not counted.
    """
    bench_dir = str(Path(__file__).resolve().parent)
    code = _STARTUP.format(bench_dir=bench_dir, instrument=_STARTUP_INSTRUMENT[impl])
    command = [python, "-c", code]
    if (python, impl) not in _STARTUP_WARM:
        subprocess.run(command, check=True, capture_output=True, env=_startup_env())
        _STARTUP_WARM.add((python, impl))
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=_startup_env())
    started, first = out.stdout.strip().splitlines()[-1].split()
    return float(started), float(first)


# --- the orchestrator ------------------------------------------------------------------------------
def ensure_peer(python: str | None) -> str | None:
    """The peer venv's interpreter, created (same openai and OpenTelemetry SDK) if it is missing."""
    if python:
        return python
    from importlib.metadata import version

    peer_python = PEER_VENV / "bin" / "python"
    pins = [
        f"{PEER}=={PEER_VERSION}",
        f"openai=={version('openai')}",
        f"opentelemetry-sdk=={version('opentelemetry-sdk')}",
    ]
    # Written only when the install finished, naming what it installed: an interpreter alone may be a
    # venv whose install was cut short (a peer missing packages), or one made for other versions.
    installed = PEER_VENV / ".installed"
    if peer_python.exists() and installed.exists() and installed.read_text().split() == pins:
        return str(peer_python)
    print(f"creating {PEER_VENV} with {' '.join(pins)} ...", flush=True)
    try:
        # --clear: a half-made venv (an interrupted install, a dangling link) is made again.
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        subprocess.run([str(peer_python), "-m", "pip", "install", "--quiet", *pins], check=True)
        installed.write_text(" ".join(pins) + "\n")
    except subprocess.CalledProcessError as exc:
        print(f"the peer could not be installed ({exc}); measuring ours only")
        return None
    return str(peer_python)


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _worker(python: str, *args: str) -> Any:
    out = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", *args],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(values: Sequence[float], unit: str = "", digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _difference(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key]["overhead"] for r in runs]


def report(args: argparse.Namespace, peer_python: str | None) -> None:
    import openai

    impls = {"ours": sys.executable, **({"peer": peer_python} if peer_python else {})}
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    for _ in range(args.repeats):
        for impl, python in impls.items():  # interleaved, so load on the machine hits both alike
            runs[impl].append(_worker(python, "time", impl, str(args.calls), str(args.chunks)))
    ours = runs["ours"]
    shape = ours[0]["floor_shape"]
    floor = [r["floor"] for r in ours]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"openai {openai.VERSION}; repeats: {args.repeats}; CPU time; medians (min-max); load average {load}"
    )
    if peer_python:
        print(f"peer: {PEER} {PEER_VERSION} ({peer_python})")
    print(
        f"floor      bare span around the call ({shape['attributes']} attributes) + {shape['points']} metric "
        f"points: overhead {fmt(floor, ' µs')}"
    )
    per_call = {impl: _difference(r, "call") for impl, r in runs.items()}
    per_chunk = {impl: _difference(r, "stream") for impl, r in runs.items()}
    for impl, r in runs.items():
        plain = [x["call"]["plain"] for x in r]
        print(f"per call   {impl:4}  plain {fmt(plain, ' µs')}  overhead {fmt(per_call[impl], ' µs')}")
    for impl, r in runs.items():
        plain = [x["stream"]["plain"] for x in r]
        once = [x["stream"]["once"] for x in r]
        print(
            f"per chunk  {impl:4}  plain {fmt(plain, ' µs')}  overhead {fmt(per_chunk[impl], ' µs')}; "
            f"once per stream {fmt(once, ' µs', 0)}"
        )
    step, step_plain = [r["step"]["overhead"] for r in ours], [r["step"]["plain"] for r in ours]
    print(
        f"per chunk  ours  our step alone {fmt(step, ' µs')}; the SDK's same step {fmt(step_plain, ' µs')} "
        "(one chat chunk event, without SSE decoding or the chunk model)"
    )
    median = statistics.median
    # Each process's own ratio first: a process that runs slow (its memory layout, a busy moment) runs
    # slow for ours and the floor alike.
    ratios = [r["call"]["overhead"] / r["floor"] for r in ours if r["floor"] > 0]
    of_medians = median(per_call["ours"]) / median(floor)
    print(
        f"per-call overhead, ours / floor: {median(ratios):.2f}x "
        f"(each process's ratio, median; ratio of the medians {of_medians:.2f}x)"
    )
    if peer_python:
        print(f"per-call overhead, ours / peer:  {median(per_call['ours']) / median(per_call['peer']):.2f}x")
        print(
            f"per-chunk overhead, ours / peer: {median(per_chunk['ours']) / median(per_chunk['peer']):.2f}x"
        )
    for name in ours[0]["scenarios"]:
        results = [r["scenarios"][name] for r in ours]
        if isinstance(results[0], str):
            print(f"scenario   {name}: {results[0]}")
        else:
            overhead = [x["overhead"] for x in results]
            print(f"scenario   {name}: overhead {fmt(overhead, ' µs')}")
    if args.memory_calls:
        for impl, python in impls.items():
            mem = _worker(python, "memory", impl, str(args.memory_calls))
            print(
                f"memory     {impl:4}  {args.memory_calls} calls after warm-up: RSS {mem['rss_mb']:+.1f} MB, "
                f"GC-tracked objects {mem['objects']:+d}"
            )
    if args.startup_runs:
        starts: dict[str, list[tuple[float, float]]] = {impl: [] for impl in ("plain", *impls)}
        for _ in range(args.startup_runs):
            for impl in starts:
                starts[impl].append(startup_ms(impls.get(impl, sys.executable), impl))
        first_plain = statistics.median(first for _, first in starts.pop("plain"))
        for impl, values in starts.items():
            extra = [first - first_plain for _, first in values]
            print(
                f"start-up   {impl:4}  import + instrument(): {fmt([s for s, _ in values], ' ms', 1)}; "
                f"first call, more than uninstrumented: {fmt(extra, ' ms', 1)}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        kind, impl, *rest = argv[1:]
        if kind == "time":
            print(json.dumps(work(impl, int(rest[0]), int(rest[1]))))
        else:
            print(json.dumps(memory(impl, int(rest[0]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Each timing is split into interleaved blocks (PAIRS of them); on a shared VM, blocks of a few
    # dozen calls left the per-chunk slope spread over several µs, blocks of about 170 over one.
    parser.add_argument(
        "--calls", type=int, default=1500, help="calls per timing and repeat, over interleaved blocks"
    )
    parser.add_argument(
        "--chunks", type=int, default=200, help="chunks per long streamed call (short ones: a twentieth)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (one process each)")
    parser.add_argument("--memory-calls", type=int, default=100_000, help="0 skips the memory figures")
    parser.add_argument("--startup-runs", type=int, default=7, help="0 skips the start-up figures")
    parser.add_argument("--peer-python", help="interpreter of a venv with the peer (default: .venv-peer)")
    parser.add_argument("--no-peer", action="store_true", help="measure ours only")
    args = parser.parse_args(argv)
    report(args, None if args.no_peer else ensure_peer(args.peer_python))


if __name__ == "__main__":
    main()
