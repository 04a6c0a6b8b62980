"""Attribution: which customer, feature and labels each OpenAI call was for.

Three sources, merged per call, the more specific winning: a ``billing_context`` in the code, then
request fields (opt-in), then OpenTelemetry Baggage from an upstream service. Everything is read at
the start of the call, in the caller's context, because the call may end elsewhere (a stream read in
another thread or task).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Meter

from . import names as n
from .config import Config
from .pricing.types import Cost
from .rollup import RollupProcessor, Root

logger = logging.getLogger("otel_openai_billing")

F = TypeVar("F", bound=Callable[..., Any])

CUSTOMER_ID = "customer_id"
FEATURE = "feature"
_ATTRIBUTE_NAMES = {CUSTOMER_ID: n.CUSTOMER_ID, FEATURE: n.FEATURE}
_METADATA = "metadata."

_KEY = otel_context.create_key("otel_openai_billing.billing_context")
_modules = sys.modules


def attribute_name(key: str) -> str:
    """The span and metric attribute for an attribution key: customer_id, feature, or a label."""
    return _ATTRIBUTE_NAMES.get(key) or n.LABEL_PREFIX + key


class _Frame:
    """One entered billing context: the merged values, and the token that restores the outer ones."""

    __slots__ = ("owner", "token", "values")

    def __init__(self, owner: BillingContext, values: dict[str, str]) -> None:
        self.owner = owner
        self.values = values
        self.token: Any = None


class BillingContext:
    """Attribution for the OpenAI calls made inside it: a context manager and a decorator.

    One instance may be entered many times, concurrently too: each entry keeps its own state in the
    OpenTelemetry context, not on the instance.
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def __enter__(self) -> BillingContext:
        outer = otel_context.get_value(_KEY)
        values = {**outer.values, **self._values} if isinstance(outer, _Frame) else self._values
        frame = _Frame(self, values)
        frame.token = otel_context.attach(otel_context.set_value(_KEY, frame))
        return self

    def __exit__(self, *exc_info: object) -> None:
        frame = otel_context.get_value(_KEY)
        if isinstance(frame, _Frame) and frame.owner is self:
            otel_context.detach(frame.token)
        else:
            # Exits out of order (a `with` held open across a generator's yield); detaching a token
            # of another context would corrupt it, so the context is left as it is.
            logger.warning("otel-openai-billing: billing_context exited out of order; left in place")

    def __call__(self, func: F) -> F:
        """Decorate a function, coroutine function, generator or async generator function."""
        if inspect.isasyncgenfunction(func):
            wrapper: Callable[..., Any] = self._async_generator(func)
        elif inspect.iscoroutinefunction(func):
            wrapper = self._coroutine(func)
        elif inspect.isgeneratorfunction(func):
            wrapper = self._generator(func)
        else:
            wrapper = self._function(func)
        return functools.wraps(func)(wrapper)  # type: ignore[return-value]

    def _function(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper

    def _coroutine(self, func: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return await func(*args, **kwargs)

        return wrapper

    # A generator runs in whichever context resumes it, so the context is entered around each step
    # only: the generator's body sees it, its consumer does not.
    def _generator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            gen = func(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            try:
                while True:
                    with self:
                        try:
                            item = gen.send(sent) if thrown is None else gen.throw(thrown)
                        except StopIteration as stop:
                            return stop.value
                    try:
                        sent, thrown = (yield item), None
                    except GeneratorExit:
                        raise
                    except BaseException as exc:
                        sent, thrown = None, exc
            finally:
                with self:
                    gen.close()

        return wrapper

    def _async_generator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            agen = func(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            try:
                while True:
                    with self:
                        try:
                            step = agen.asend(sent) if thrown is None else agen.athrow(thrown)
                            item = await step
                        except StopAsyncIteration:
                            return
                    try:
                        sent, thrown = (yield item), None
                    except GeneratorExit:
                        raise
                    except BaseException as exc:
                        sent, thrown = None, exc
            finally:
                with self:
                    await agen.aclose()

        return wrapper


def billing_context(
    customer_id: str | None = None, feature: str | None = None, **labels: object
) -> BillingContext:
    """Attribute the OpenAI calls made inside to a customer, a feature and free-form labels.

    Use as ``with billing_context(customer_id="acme"):`` or as a decorator. Nested contexts merge:
    inner values win, outer ones are kept. A value of None keeps the outer value. Values are strings.
    """
    values = {CUSTOMER_ID: customer_id, FEATURE: feature, **labels}
    return BillingContext({key: str(value) for key, value in values.items() if value is not None})


class Captured:
    """What a call was for, read at its start: attribution values and the roll-up root."""

    __slots__ = ("root", "values")

    def __init__(self, values: Mapping[str, str], root: Root | None) -> None:
        self.values = values
        self.root = root


class Attribution:
    """What the hooks ask at each call's start (``capture``) and end (``attributes``, ``settled``)."""

    def __init__(self, config: Config, meter: Meter | None, rollup: RollupProcessor | None) -> None:
        self._baggage_keys = config.baggage_keys
        self._fields = _request_fields(config.request_field_attribution)
        self._hash = config.hash_request_fields
        self._rollup = rollup
        self._guard = (
            CardinalityGuard(config.metric_attribution_keys, config.metric_attribution_limit, meter)
            if meter is not None and config.metric_attribution_keys
            else None
        )

    def capture(self, body: Mapping[str, Any] | None) -> Captured | None:
        """Read the call's attribution from the current context and its request body; None if none."""
        ctx = otel_context.get_current()
        values: dict[str, str] = {}
        if self._baggage_keys:
            # Baggage exists only once something has imported opentelemetry.baggage (its API, or the
            # W3C propagator opentelemetry-instrument installs): until then no context carries any, so
            # we do not import it ourselves, which keeps its start-up cost off apps that use none.
            module = _modules.get("opentelemetry.baggage")
            entries = module.get_all(ctx) if module is not None else None
            if entries:
                for entry, key in self._baggage_keys:
                    value = entries.get(entry)
                    if value is not None:
                        values[key] = str(value)
        if self._fields and body is not None:
            self._read_fields(body, values)
        frame = otel_context.get_value(_KEY, ctx)
        if isinstance(frame, _Frame):
            values = {**values, **frame.values} if values else frame.values
        root = self._rollup.root_of(trace.get_current_span(ctx)) if self._rollup is not None else None
        if not values and root is None:
            return None
        return Captured(values, root)

    def _read_fields(self, body: Mapping[str, Any], values: dict[str, str]) -> None:
        for field, metadata_key, key in self._fields:
            value = body.get(field)
            if metadata_key is not None:
                value = value.get(metadata_key) if isinstance(value, Mapping) else None
            if isinstance(value, str) and value:
                values[key] = pseudonym(value) if self._hash else value

    def attributes(self, captured: Captured) -> tuple[dict[str, str], dict[str, str] | None]:
        """Span attributes (all attribution) and metric attributes (enabled keys, bounded)."""
        span_attrs = {attribute_name(key): value for key, value in captured.values.items()}
        metric_attrs = self._guard.bound(captured.values) if self._guard is not None else None
        return span_attrs, metric_attrs

    def settled(self, captured: Captured, cost: Cost | None) -> None:
        """The call is over: add its cost to its root span's roll-up."""
        if captured.root is not None and self._rollup is not None:
            self._rollup.add(captured.root, cost)


def pseudonym(value: str) -> str:
    """The first 16 hex digits of the SHA-256 of a value: stable, but not reversible by reading."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _request_fields(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str | None, str], ...]:
    """``(field, metadata key or None, attribution key)`` per configured (and validated) field."""
    return tuple(
        ("metadata", field[len(_METADATA) :], key) if field.startswith(_METADATA) else (field, None, key)
        for field, key in pairs
    )


class CardinalityGuard:
    """Bounds the distinct values per attribution key on metrics; later values go to one bucket.

    The first ``limit`` distinct values of each key are kept for the life of the process (with cumulative
    temporality the SDK keeps every series it has seen for as long anyway), so a series never changes
    meaning.
    """

    def __init__(self, keys: Iterable[str], limit: int, meter: Meter) -> None:
        self._keys = tuple((key, attribute_name(key)) for key in keys)
        self._limit = limit
        self._admitted: dict[str, set[str]] = {key: set() for key, _ in self._keys}
        self._lock = threading.Lock()
        self._overflow = meter.create_counter(
            n.METRIC_ATTRIBUTION_OVERFLOW,
            unit="{call}",
            description=f"Calls whose attribution value was recorded on metrics as {n.OVERFLOW_VALUE}.",
        )

    def bound(self, values: Mapping[str, str]) -> dict[str, str] | None:
        """Metric attributes for the enabled keys present in ``values``; None if there are none."""
        attrs: dict[str, str] = {}
        for key, name in self._keys:
            value = values.get(key)
            if value is None:
                continue
            admitted = self._admitted[key]
            # The hot path is a set look-up without the lock; only a new value takes it.
            attrs[name] = value if value in admitted else self._admit(key, value, admitted)
        return attrs or None

    def _admit(self, key: str, value: str, admitted: set[str]) -> str:
        with self._lock:
            if value in admitted:
                return value
            if len(admitted) < self._limit:
                admitted.add(value)
                return value
        self._overflow.add(1, {n.ATTRIBUTION_KEY: key})
        return n.OVERFLOW_VALUE
