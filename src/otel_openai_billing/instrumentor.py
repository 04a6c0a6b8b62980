"""``OpenAIBillingInstrumentor``: wiring, configuration, instrument and uninstrument."""

from __future__ import annotations

import atexit
import importlib
import logging
import re
import sys
from collections.abc import Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from wrapt import register_post_import_hook, wrap_function_wrapper

from . import hooks, rollup
from . import names as n
from .attribution import Attribution
from .budgets.setup import make_guard
from .config import Config, resolve
from .emit import Emitter
from .pricing.background import BackgroundPricer
from .version import __version__

logger = logging.getLogger("otel_openai_billing")
# BaseInstrumentor's own messages (already instrumented, dependency conflict) keep its logger.
_base_logger = logging.getLogger("opentelemetry.instrumentation.instrumentor")

# The openai versions instrumented: at least _OPENAI_MIN, below _OPENAI_BELOW.
_OPENAI_MIN = (1, 30, 0)
_OPENAI_BELOW = (4,)
_INSTRUMENTS = (f"openai >= {'.'.join(map(str, _OPENAI_MIN))}, < {'.'.join(map(str, _OPENAI_BELOW))}",)
_FINAL_RELEASE = re.compile(r"\d+(\.\d+)*")
# Targets in these modules are patched when the SDK first imports them (see _instrument).
_LAZY_PREFIX = "openai.resources."

# (module, class, method, wrapper, required). Optional targets appeared in later SDK versions.
_TARGETS: tuple[tuple[str, str, str, Any, bool], ...] = (
    ("openai._base_client", "SyncAPIClient", "request", hooks.request_sync, True),
    ("openai._base_client", "AsyncAPIClient", "request", hooks.request_async, True),
    ("openai._base_client", "BaseClient", "_build_request", hooks.build_request, True),
    ("openai._base_client", "SyncAPIClient", "_process_response", hooks.process_response_sync, True),
    ("openai._base_client", "AsyncAPIClient", "_process_response", hooks.process_response_async, True),
    ("openai._base_client", "BaseClient", "_process_response_data", hooks.process_response_data, True),
    ("openai._streaming", "Stream", "__stream__", hooks.stream_sync, True),
    ("openai._streaming", "AsyncStream", "__stream__", hooks.stream_async, True),
    ("openai._streaming", "Stream", "close", hooks.stream_close_sync, False),
    ("openai._streaming", "AsyncStream", "close", hooks.stream_close_async, False),
    # Retries: a loop calling _sleep_for_retry since 1.76, recursion through _retry_request before.
    ("openai._base_client", "SyncAPIClient", "_sleep_for_retry", hooks.sleep_for_retry_sync, False),
    ("openai._base_client", "AsyncAPIClient", "_sleep_for_retry", hooks.sleep_for_retry_async, False),
    ("openai._base_client", "SyncAPIClient", "_retry_request", hooks.retry_request_sync, False),
    ("openai._base_client", "AsyncAPIClient", "_retry_request", hooks.retry_request_async, False),
    # Bodies read through with_streaming_response (a Batch output file, speech SSE), as they pass. (Read
    # whole, they are billed by Core.returned and a read set on the response: see hooks._watch.)
    ("openai._response", "APIResponse", "iter_bytes", hooks.body_iter_sync, False),
    ("openai._response", "APIResponse", "iter_lines", hooks.body_iter_sync, False),
    ("openai._response", "AsyncAPIResponse", "iter_bytes", hooks.body_iter_async, False),
    ("openai._response", "AsyncAPIResponse", "iter_lines", hooks.body_iter_async, False),
    # Realtime over WebSocket (GA since 1.105, beta since 1.58): every server event, and the end.
    *(
        target
        for module in ("openai.resources.realtime.realtime", "openai.resources.beta.realtime.realtime")
        for target in (
            (module, "RealtimeConnection", "parse_event", hooks.realtime_parse_event, False),
            (module, "AsyncRealtimeConnection", "parse_event", hooks.realtime_parse_event, False),
            (module, "RealtimeConnection", "close", hooks.realtime_close_sync, False),
            (module, "AsyncRealtimeConnection", "close", hooks.realtime_close_async, False),
        )
    ),
    # responses.connect() (2.30+; beta.responses.connect in 3.x): Responses API over a WebSocket.
    *(
        target
        for module in ("openai.resources.responses.responses", "openai.resources.beta.responses.responses")
        for target in (
            (module, "ResponsesConnection", "parse_event", hooks.responses_ws_parse_event, False),
            (module, "AsyncResponsesConnection", "parse_event", hooks.responses_ws_parse_event, False),
            (module, "ResponsesConnection", "close", hooks.realtime_close_sync, False),
            (module, "AsyncResponsesConnection", "close", hooks.realtime_close_async, False),
        )
    ),
)

# Methods other OpenAI instrumentations wrap; a wrapper found on one of them is named in a warning.
_OTHER_INSTRUMENTATION_PROBES = (
    ("openai.resources.chat.completions", "Completions", "create"),
    ("openai.resources.chat.completions", "AsyncCompletions", "create"),
    ("openai.resources.responses", "Responses", "create"),
    ("openai.resources.embeddings", "Embeddings", "create"),
    ("openai._base_client", "SyncAPIClient", "request"),
    ("openai._base_client", "AsyncAPIClient", "request"),
)


class OpenAIBillingInstrumentor:
    """Instruments the ``openai`` SDK: one billing span (and metric points) per API call.

    ``instrument()`` takes ``tracer_provider``, ``meter_provider`` and the options in
    :data:`otel_openai_billing.config.OPTIONS` (each also settable by an ``OTEL_OPENAI_BILLING_*``
    environment variable).

    An OpenTelemetry ``BaseInstrumentor`` (``isinstance`` says so), with its contract: one instance
    per class, ``instrument``/``uninstrument`` once each, the dependency check unless
    ``skip_dep_check``. It does not inherit from it: importing ``opentelemetry.instrumentation``'s
    base module pulls in ``packaging`` and its semantic-convention machinery (about 20 ms, as much as
    the rest of our start-up) for a check that reading ``openai.__version__`` does in microseconds.
    """

    _instance: OpenAIBillingInstrumentor | None = None
    _is_instrumented_by_opentelemetry = False
    _patched: list[tuple[type, str]]
    _generation: object | None = None  # this instrument()'s token: later import hooks check it
    _rollup: rollup.RollupProcessor | None = None
    _ledger: Any = None

    def __new__(cls, *args: Any, **kwargs: Any) -> OpenAIBillingInstrumentor:
        # One instance per class, as BaseInstrumentor: instrument() in one place, uninstrument() in another.
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return self._is_instrumented_by_opentelemetry

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def instrument(self, **kwargs: Any) -> None:
        """Patch the SDK (see the class docstring for the keywords); a second call only warns.

        ``skip_dep_check`` skips the openai version check; ``raise_exception_on_conflict`` raises
        OpenTelemetry's ``DependencyConflictError`` instead of logging the conflict.
        """
        if self._is_instrumented_by_opentelemetry:
            _base_logger.warning("Attempting to instrument while already instrumented")
            return None
        skip_dep_check = kwargs.pop("skip_dep_check", False)
        raise_exception_on_conflict = kwargs.pop("raise_exception_on_conflict", False)
        if not skip_dep_check:
            conflict = self._check_dependency_conflicts()
            if conflict:
                if raise_exception_on_conflict:
                    from opentelemetry.instrumentation.dependencies import DependencyConflictError

                    raise DependencyConflictError(conflict)
                _base_logger.error(conflict._format_message(type(self).__name__))
                return None
        result = self._instrument(**kwargs)
        self._is_instrumented_by_opentelemetry = True
        return result

    def uninstrument(self, **kwargs: Any) -> None:
        """Restore every patched method; without a prior instrument() it only warns."""
        if self._is_instrumented_by_opentelemetry:
            result = self._uninstrument(**kwargs)
            self._is_instrumented_by_opentelemetry = False
            return result
        _base_logger.warning("Attempting to uninstrument while already uninstrumented")
        return None

    def _check_dependency_conflicts(self) -> Any:
        """None when the installed openai is in range, else OpenTelemetry's ``DependencyConflict``."""
        if _openai_in_range():
            return None
        # Anything else (openai missing, out of range, a pre- or post-release): OpenTelemetry's own
        # check decides, and words the conflict as every other instrumentation does.
        from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

        return get_dependency_conflicts(self.instrumentation_dependencies())

    def _instrument(self, **kwargs: Any) -> None:
        config = resolve(kwargs)
        _warn_other_instrumentations()
        tracer = trace.get_tracer(n.INSTRUMENTATION_SCOPE, __version__, kwargs.get("tracer_provider"))
        meter = (
            metrics.get_meter(n.INSTRUMENTATION_SCOPE, __version__, kwargs.get("meter_provider"))
            if config.metrics
            else None
        )
        self._rollup = _rollup_processor(config, kwargs.get("tracer_provider"))
        self._ledger = _ledger_writer(config, kwargs.get("meter_provider"))
        pricer = _make_pricer(config)
        estimator = _make_estimator(config)
        hooks.ACTIVE.core = hooks.Core(
            emitter=Emitter(tracer, meter),
            pricer=pricer,
            config=config,
            **_sdk_types(),
            attribution=Attribution(config, meter, self._rollup),
            estimator=estimator,
            ledger=self._ledger,
            budgets=make_guard(config, pricer, meter, estimator),
        )
        self._patched = []
        # The SDK's resource modules (realtime, responses.connect) cost up to a second of pydantic
        # model building to import: they are patched when the SDK imports them, never imported here.
        self._generation = generation = object()
        deferred: dict[str, list[tuple[str, str, Any, bool]]] = {}
        for module_name, cls_name, method, wrapper, required in _TARGETS:
            if module_name.startswith(_LAZY_PREFIX):
                deferred.setdefault(module_name, []).append((cls_name, method, wrapper, required))
                continue
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None  # a module of an API this SDK version does not have
            self._patch(module, module_name, cls_name, method, wrapper, required)
        for module_name, targets in deferred.items():
            register_post_import_hook(self._patch_later(generation, module_name, targets), module_name)
        # Last, so the build does not compete with the rest of instrument() for the interpreter.
        pricer.start()

    def _patch_later(
        self, generation: object, module_name: str, targets: list[tuple[str, str, Any, bool]]
    ) -> Any:
        def hook(module: Any) -> None:
            # Import hooks cannot be removed: one registered by an earlier instrument() does nothing.
            if self._generation is not generation:
                return
            try:
                for cls_name, method, wrapper, required in targets:
                    self._patch(module, module_name, cls_name, method, wrapper, required)
            except Exception as exc:  # never break the app's import
                hooks.log_once(f"patching {module_name}", exc)

        return hook

    def _patch(
        self, module: Any, module_name: str, cls_name: str, method: str, wrapper: Any, required: bool
    ) -> None:
        cls = getattr(module, cls_name, None) if module is not None else None
        if cls is None or not hasattr(cls, method):
            if required:
                logger.warning(
                    "otel-openai-billing: openai has no %s.%s.%s; this SDK version is not supported "
                    "and some calls will not be recorded.",
                    module_name,
                    cls_name,
                    method,
                )
            return
        if getattr(getattr(cls, method), "_self_wrapper", None) is wrapper:
            return  # inherited from a class already patched (a subclass, or the same class re-exported)
        wrap_function_wrapper(cls, method, wrapper)
        self._patched.append((cls, method))

    def _uninstrument(self, **kwargs: Any) -> None:
        hooks.ACTIVE.core = None
        self._generation = None
        if self._rollup is not None:
            self._rollup.enabled = False
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        for cls, method in getattr(self, "_patched", ()):
            wrapper = cls.__dict__.get(method)
            # The wrapt wrapper on top comes off, as OpenTelemetry's unwrap() does it.
            if getattr(wrapper, "_self_wrapper", None) is not None:
                setattr(cls, method, wrapper.__wrapped__)
        self._patched = []


def _openai_in_range() -> bool:
    """True when the importable openai is a final release in the instrumented range (the usual case)."""
    try:
        from openai import __version__ as version
    except ImportError:
        return False
    if not _FINAL_RELEASE.fullmatch(version):
        return False
    release = tuple(int(part) for part in version.split("."))
    return _OPENAI_MIN <= release < _OPENAI_BELOW


def _register_as_base_instrumentor(module: Any) -> None:
    # isinstance(OpenAIBillingInstrumentor(), BaseInstrumentor) holds wherever that class is in use.
    module.BaseInstrumentor.register(OpenAIBillingInstrumentor)


# Run at once if that module is already imported (as under opentelemetry-instrument), else when it is.
register_post_import_hook(_register_as_base_instrumentor, "opentelemetry.instrumentation.instrumentor")


def _rollup_processor(config: Config, tracer_provider: Any) -> rollup.RollupProcessor | None:
    if not config.cost_rollup:
        return None
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if isinstance(provider, SdkTracerProvider):
        return rollup.processor_for(provider)
    logger.warning(
        "otel-openai-billing: the tracer provider is a %s, not the OpenTelemetry SDK's TracerProvider, "
        "so cost roll-up onto request spans is unavailable. Set the SDK provider before instrument(), "
        "or pass cost_rollup=False.",
        type(provider).__name__,
    )
    return None


def _ledger_writer(config: Config, meter_provider: Any) -> Any:
    if not config.ledger:
        return None
    from .ledger.writer import LedgerWriter

    # The dropped-records counter is recorded even with metrics=False: a lost bill must be visible.
    meter = metrics.get_meter(n.INSTRUMENTATION_SCOPE, __version__, meter_provider)
    return LedgerWriter(config.ledger, queue_size=config.ledger_queue_size, meter=meter)


def _make_pricer(config: Config) -> BackgroundPricer:
    """The pricer, built on a thread (``start()`` it): instrument() does not wait for the price data."""
    price_files = list(config.price_files)

    def build() -> Any:
        from .pricing import Pricer, datacache

        return Pricer(price_files=price_files, price_cache=datacache.resolve_dir(config.price_cache))

    return BackgroundPricer(build, _report_pricer)


def _report_pricer(pricer: Any) -> None:
    for error in pricer.errors:
        # Not raised: the app keeps running. The calls this file would have priced carry a warning.
        logger.error("otel-openai-billing: price file not applied: %s", error)
    for warning in pricer.warnings:
        logger.warning("otel-openai-billing: %s", warning)
    # Override entries that never matched a call are reported when the process exits.
    atexit.register(pricer.report_unmatched)


def _make_estimator(config: Config) -> Any:
    if not config.estimate_usage:
        return None
    from .estimate import Estimator

    return Estimator(config.tokenizer_dir)


def _sdk_types() -> dict[str, Any]:
    import openai

    deferred: list[type] = []
    for module_name, cls_name in (
        ("openai._response", "BaseAPIResponse"),
        ("openai._legacy_response", "LegacyAPIResponse"),
    ):
        try:
            deferred.append(getattr(importlib.import_module(module_name), cls_name))
        except (ImportError, AttributeError):
            continue
    try:
        from openai.lib.azure import BaseAzureClient

        azure: tuple[type, ...] = (BaseAzureClient,)
    except ImportError:
        azure = ()
    return {
        "stream_types": (openai.Stream, openai.AsyncStream),
        "deferred_types": tuple(deferred),
        "azure_types": azure,
    }


def _warn_other_instrumentations() -> None:
    for module_name, cls_name, method in _OTHER_INSTRUMENTATION_PROBES:
        # Only modules already imported: one that another instrumentation patched was imported by it,
        # and importing the SDK's resource modules here would add a quarter second to start-up.
        cls = getattr(sys.modules.get(module_name), cls_name, None)
        if cls is None:
            continue
        owner = _wrapper_owner(cls.__dict__.get(method))
        # The SDK decorates its own methods (functools.wraps); only a foreign wrapper counts.
        if owner and owner.split(".", 1)[0] not in ("openai", "otel_openai_billing"):
            logger.warning(
                "otel-openai-billing: another OpenAI instrumentation (%s) already wraps %s.%s. Both "
                "will record the same calls (double spans, double-counted cost). Disable one, e.g. "
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai.",
                owner,
                cls_name,
                method,
            )
            return


def _wrapper_owner(attr: Any) -> str | None:
    """The module of whatever wraps a method, or None if it is the SDK's own function."""
    if attr is None or not hasattr(attr, "__wrapped__"):
        return None
    wrapper = getattr(attr, "_self_wrapper", None)  # a wrapt FunctionWrapper
    target = wrapper if wrapper is not None else attr
    module = getattr(target, "__module__", None) or type(target).__module__
    return module if isinstance(module, str) else None
