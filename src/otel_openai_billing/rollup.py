"""Cost roll-up: each OpenAI call's cost also summed onto the local root span of its trace.

The local root is the first span of a trace in this process (its parent is absent or remote): the
server span of a web request, a worker's job span. A span processor learns each span's local root when
the span starts and forgets it when it ends; a call looks up its root when it starts, in the caller's
context, and adds its cost when it ends, wherever that happens.

Limit: a call that ends after its root ended (a stream read after the response was sent, fire-and-forget
work) is in no roll-up: an ended span cannot be changed.
"""

from __future__ import annotations

import threading
import weakref
from decimal import Decimal

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import Span as ApiSpan

from . import names as n
from .pricing.types import Cost


class Root:
    """The running totals of one local root span."""

    __slots__ = ("calls", "cost", "span", "unpriced")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.cost = Decimal(0)
        self.calls = 0
        self.unpriced = 0


class RollupProcessor(SpanProcessor):
    """Tracks the local root of every recording span, and keeps the roll-up on each root."""

    def __init__(self) -> None:
        self.enabled = True
        # (trace id, span id) of each started, not yet ended span -> its local root. Single dict
        # operations are atomic, so starting and ending spans take no lock.
        self._roots: dict[tuple[int, int], Root] = {}
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if not self.enabled:
            return
        # An OpenAI call's own span is never a roll-up root: a call looks its root up in the caller's
        # context, and no call starts inside another's (a nested request() is part of the outer call, a
        # stream is read outside the call's context). Skipping them saves a Root and a dictionary insert
        # per call. A span under one of ours (an HTTP client's) becomes a root of its own, never used.
        scope = span.instrumentation_scope
        if scope is not None and scope.name == n.INSTRUMENTATION_SCOPE:
            return
        parent = span.parent
        root = None
        if parent is not None and not parent.is_remote:
            root = self._roots.get((parent.trace_id, parent.span_id))
        # A parent that is not tracked (ended already, or started before instrumentation) leaves
        # this span the topmost one still open: it becomes a root.
        ctx = span.context
        self._roots[(ctx.trace_id, ctx.span_id)] = root if root is not None else Root(span)

    def on_end(self, span: ReadableSpan) -> None:
        # (An OpenAI call's own span was never tracked: the pop misses, as cheaply as checking first.)
        ctx = span.context
        self._roots.pop((ctx.trace_id, ctx.span_id), None)

    def root_of(self, span: ApiSpan) -> Root | None:
        """The local root of ``span`` while it is running; None if untracked or not recording."""
        ctx = span.get_span_context()
        return self._roots.get((ctx.trace_id, ctx.span_id))

    def add(self, root: Root, cost: Cost | None) -> None:
        """Add one finished call to its root's totals and write them on the root span."""
        with self._lock:
            # An ended root is exported already. (A root that ends between this check and the write
            # below drops the write, and the SDK logs a warning.)
            if not root.span.is_recording():
                return
            root.calls += 1
            if cost is not None:
                if cost.amount is not None:
                    root.cost += cost.amount
                else:
                    root.unpriced += 1
            root.span.set_attributes(
                {
                    n.ROLLUP_COST: float(root.cost),
                    n.ROLLUP_CALLS: root.calls,
                    n.ROLLUP_UNPRICED_CALLS: root.unpriced,
                }
            )


# One processor per provider, however often the instrumentation is switched on and off: the SDK has
# no way to remove a span processor.
_PROCESSORS: weakref.WeakKeyDictionary[TracerProvider, RollupProcessor] = weakref.WeakKeyDictionary()
_PROCESSORS_LOCK = threading.Lock()


def processor_for(provider: TracerProvider) -> RollupProcessor:
    """The roll-up processor registered on ``provider`` (registered now if it is not), enabled."""
    with _PROCESSORS_LOCK:
        processor = _PROCESSORS.get(provider)
        if processor is None:
            processor = _PROCESSORS[provider] = RollupProcessor()
            provider.add_span_processor(processor)
        processor.enabled = True
        return processor
