"""Reconciliation: our billing records against OpenAI's own numbers, cell by cell.

A cell is a UTC day x model (x project, batch, service tier when asked for and both sides have them).
Each cell compares requests, input, cached and output tokens and cost, and gets one status with its
likely cause:

- ``match``: every compared number within tolerance;
- ``only_openai``: OpenAI billed usage we have no record of (uninstrumented processes or keys, lost
  telemetry);
- ``only_local``: we recorded calls OpenAI does not show (another organization's key, data not in yet);
- ``failed_calls``: OpenAI counts more requests, as many as our calls that failed without a response
  (timeouts, dropped connections): OpenAI processed and billed them;
- ``retries``: OpenAI counts more requests, no more than the attempts the SDK retried;
- ``request_mismatch`` / ``token_mismatch``: counts differ with no such explanation;
- ``unpriced``: the cost differs and we have unpriced calls in the cell (their cost is unknown to us,
  never counted as $0);
- ``cost_mismatch``: counts agree but cost does not (each side's implied rate per 1M tokens is shown);
- ``day_boundary``: the difference is matched by the opposite difference on the adjacent day (calls
  around midnight UTC counted on different days);
- ``batch_completion_day``: the same, for Batch usage, which OpenAI bills on the day the batch
  completes;
- ``not_final``: a difference on a day whose OpenAI data is not final yet (``provisional``).

Only ``match`` and the explained shifts are within tolerance; a nightly job fails on the rest
(``Cell.ok``). Pure: rows in, cells out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..openai_usage.types import CostRow, model_base
from ..openai_usage.types import UsageRow as OpenAIRow
from .usage import UsageRow

# Reconciliation dimension -> the OpenAI result field it matches.
EXTRA_DIMENSIONS = {"project": "project", "batch": "batch", "tier": "tier"}
EXPLAINED = ("match", "day_boundary", "batch_completion_day", "not_final")
STATUSES = (
    "match",
    "only_openai",
    "only_local",
    "failed_calls",
    "retries",
    "request_mismatch",
    "token_mismatch",
    "unpriced",
    "cost_mismatch",
    "day_boundary",
    "batch_completion_day",
    "not_final",
)
_MILLION = Decimal(1_000_000)


@dataclass(slots=True)
class Side:
    """One side's numbers in a cell."""

    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = None

    def rate(self) -> Decimal | None:
        """USD per 1M tokens (input + output) this side implies."""
        tokens = self.input_tokens + self.output_tokens
        if self.cost is None or not tokens:
            return None
        return (self.cost * _MILLION / tokens).quantize(Decimal("0.0001"))


@dataclass(slots=True)
class Cell:
    """One reconciled cell."""

    key: tuple[Any, ...]
    local: Side
    openai: Side
    unpriced: int = 0
    estimated: int = 0
    failed: int = 0
    retries: int = 0
    batch_requests: int = 0
    near_midnight: int = 0
    cost_compared: bool = True
    provisional: bool = False
    status: str = "match"
    cause: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Within tolerance, or a difference fully explained by a shift between days."""
        return self.status in EXPLAINED

    def as_dict(self, dims: Sequence[str]) -> dict[str, Any]:
        """A flat row for rendering."""
        out: dict[str, Any] = dict(zip(dims, self.key, strict=True))
        lo, op = self.local, self.openai
        out.update(
            status=self.status,
            local_requests=lo.requests,
            openai_requests=op.requests,
            diff_requests=op.requests - lo.requests,
            local_input=lo.input_tokens,
            openai_input=op.input_tokens,
            local_cached=lo.cached_tokens,
            openai_cached=op.cached_tokens,
            local_output=lo.output_tokens,
            openai_output=op.output_tokens,
            diff_tokens=(op.input_tokens + op.output_tokens) - (lo.input_tokens + lo.output_tokens),
            local_cost=lo.cost,
            openai_cost=op.cost if self.cost_compared else None,
            diff_cost=(op.cost - lo.cost)
            if self.cost_compared and op.cost is not None and lo.cost is not None
            else None,
            local_rate=lo.rate(),
            openai_rate=op.rate() if self.cost_compared else None,
            unpriced=self.unpriced,
            estimated=self.estimated,
            failed=self.failed,
            retries=self.retries,
            provisional=self.provisional,
            ok=self.ok,
            cause=self.cause,
            notes="; ".join(self.notes),
        )
        return out


def _within(a: Decimal | int, b: Decimal | int, tolerance: Decimal) -> bool:
    return abs(Decimal(a) - Decimal(b)) <= tolerance * max(abs(Decimal(a)), abs(Decimal(b)))


def reconcile(
    local: Iterable[UsageRow],
    openai_usage: Iterable[OpenAIRow],
    openai_costs: Iterable[CostRow] | None,
    extra: Sequence[str] = (),
    *,
    tolerance: Decimal = Decimal("0.01"),
    as_of: datetime | None = None,
    settle_hours: float = 24,
) -> list[Cell]:
    """Cells keyed (day, model, *extra) comparing ``local`` (usage rows by the same keys) with OpenAI.

    ``tolerance`` is relative (0.01: 1%). A day is provisional until ``settle_hours`` after its end
    (OpenAI's usage data lags); ``as_of`` is "now" (default: the current time).
    """
    for dim in extra:
        if dim not in EXTRA_DIMENSIONS:
            raise ValueError(f"can reconcile by {', '.join(EXTRA_DIMENSIONS)}, not {dim!r}")
    as_of = as_of or datetime.now(UTC)
    cells: dict[tuple[Any, ...], Cell] = {}

    def cell(key: tuple[Any, ...]) -> Cell:
        c = cells.get(key)
        if c is None:
            c = cells[key] = Cell(key, Side(cost=Decimal(0)), Side())
        return c

    openai_usage = list(openai_usage)
    reported: dict[tuple[Any, ...], set[str]] = {}
    for r in openai_usage:
        if r.model:
            reported.setdefault((r.day, *(getattr(r, EXTRA_DIMENSIONS[d]) for d in extra)), set()).add(
                r.model
            )
    for row in local:
        c = cell(_snapshot_key(row.key, reported))
        lo = c.local
        lo.requests += row.requests
        lo.input_tokens += row.input_tokens
        lo.cached_tokens += row.cached_tokens
        lo.output_tokens += row.output_tokens
        lo.cost = (lo.cost or Decimal(0)) + row.cost
        c.unpriced += row.unpriced
        c.estimated += row.estimated
        c.failed += row.failed
        c.retries += row.retries
        c.batch_requests += row.batch_requests
        c.near_midnight += row.near_midnight
    for r in openai_usage:
        key = (r.day, r.model, *(_openai_value(r, d) for d in extra))
        op = cell(key).openai
        op.requests += r.requests
        op.input_tokens += r.input_tokens
        op.cached_tokens += r.cached_tokens
        op.output_tokens += r.output_tokens
    compare_cost = openai_costs is not None and "tier" not in extra
    if compare_cost:
        _attach_costs(cells, openai_costs or (), extra, cell)
    for c in cells.values():
        c.cost_compared = compare_cost
        if compare_cost and c.openai.cost is None:
            c.openai.cost = Decimal(0)
        day = date.fromisoformat(c.key[0])
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        c.provisional = day_end + timedelta(hours=settle_hours) > as_of
        _classify(c, tolerance)
    _shifts(cells, tolerance)
    for c in cells.values():
        if c.provisional and not c.ok:
            c.notes.insert(0, f"was {c.status}: {c.cause}")
            c.status = "not_final"
            c.cause = "OpenAI's usage data for this day is not final yet (it lags); check again later"
        if c.failed and c.status == "match":
            c.notes.append(f"{c.failed} failed calls, not billed by OpenAI and not counted")
        if c.estimated:
            c.notes.append(f"{c.estimated} calls with estimated usage or price")
    return [cells[k] for k in sorted(cells, key=lambda k: tuple((v is not None, str(v)) for v in k))]


def _openai_value(row: OpenAIRow, dim: str) -> Any:
    value = getattr(row, EXTRA_DIMENSIONS[dim])
    # Only the completions endpoint groups by batch; the others report null, and are counted as
    # synchronous usage (their Batch usage, if any, cannot be told apart).
    return bool(value) if dim == "batch" else value


def _snapshot_key(key: tuple[Any, ...], reported: dict[tuple[Any, ...], set[str]]) -> tuple[Any, ...]:
    # A call that failed before any response has only the model it asked for ("o3-mini"); OpenAI
    # reports the snapshot ("o3-mini-2025-01-31"). Put it with the one snapshot of that name.
    day, model, *rest = key
    models = reported.get((day, *rest), set())
    if model is None or model in models:
        return key
    same = [m for m in models if model_base(m) == model]
    return (day, same[0], *rest) if len(same) == 1 else key


def _attach_costs(
    cells: dict[tuple[Any, ...], Cell], costs: Iterable[CostRow], extra: Sequence[str], cell: Any
) -> None:
    # The Costs API has no model grouping: the model is in the line item's name, and may lack the
    # snapshot date the usage rows carry. Map it to a known model of that day where one fits.
    known: dict[str, set[str]] = {}
    for key in cells:
        if key[1]:
            known.setdefault(key[0], set()).add(key[1])
    for row in costs:
        model = row.model
        if model is not None:
            models = known.get(row.day, set())
            if model not in models:
                same = sorted(
                    m for m in models if model_base(m) == model or model_base(m) == model_base(model)
                )
                model = same[0] if len(same) == 1 else model
        values = {"project": row.project, "batch": row.batch}
        key = (row.day, model, *(values[d] for d in extra))
        c = cell(key)
        c.openai.cost = (c.openai.cost or Decimal(0)) + row.amount


def _classify(c: Cell, tolerance: Decimal) -> None:
    lo, op = c.local, c.openai
    if not lo.requests and not op.requests and not c.failed:
        if c.cost_compared and not _within(lo.cost or 0, op.cost or 0, tolerance):
            c.status, c.cause = (
                "only_openai",
                f"OpenAI billed ${op.cost} with no usage we recorded (a line item)",
            )
        return
    if not lo.requests and op.requests:
        if c.failed and op.requests <= c.failed:
            c.status = "failed_calls"
            c.cause = f"{op.requests} of our {c.failed} failed calls were processed and billed by OpenAI"
            return
        c.status = "only_openai"
        amount = f"${op.cost}" if c.cost_compared else "cost not compared"
        c.cause = (
            f"OpenAI billed {op.requests} requests ({amount}) we have no record of: traffic from "
            "uninstrumented processes or API keys, or lost telemetry"
        )
        return
    if lo.requests and not op.requests:
        c.status = "only_local"
        c.cause = (
            f"we recorded {lo.requests} requests OpenAI does not show: another organization's or "
            "project's key, or OpenAI's data is not in yet"
        )
        return
    extra_requests = op.requests - lo.requests
    if not _within(lo.requests, op.requests, tolerance):
        if 0 < extra_requests <= c.failed:
            c.status = "failed_calls"
            c.cause = (
                f"OpenAI counts {extra_requests} more requests; we have {c.failed} calls that failed "
                "without a response (timeouts, dropped connections) that OpenAI processed and billed"
            )
        elif 0 < extra_requests <= c.retries:
            c.status = "retries"
            c.cause = (
                f"OpenAI counts {extra_requests} more requests; the SDK retried {c.retries} attempts here "
                "(a timed-out attempt OpenAI processed is billed too)"
            )
        else:
            c.status = "request_mismatch"
            c.cause = f"OpenAI counts {extra_requests:+} requests with no explanation in our records"
        return
    for name in ("input_tokens", "cached_tokens", "output_tokens"):
        a, b = getattr(lo, name), getattr(op, name)
        if name == "cached_tokens" and not b:
            continue  # an endpoint or export that does not report cached tokens
        if not _within(a, b, tolerance):
            c.status = "token_mismatch"
            c.cause = f"{name}: ours {a}, OpenAI {b} ({b - a:+})"
            return
    if c.cost_compared and not _within(lo.cost or 0, op.cost or 0, tolerance):
        if c.unpriced:
            c.status = "unpriced"
            c.cause = (
                f"{c.unpriced} of our calls here have no price (unknown model or unit), so our cost "
                f"${lo.cost} leaves them out; OpenAI billed ${op.cost}. Add a price file"
            )
        else:
            c.status = "cost_mismatch"
            c.cause = (
                f"cost ours ${lo.cost}, OpenAI ${op.cost}: rates ${lo.rate()} vs ${op.rate()} per 1M "
                "tokens (a price change, a tier, or a discount our price files do not know)"
            )


def _shifts(cells: dict[tuple[Any, ...], Cell], tolerance: Decimal) -> None:
    """Pair an excess on one day with a shortfall on the next (or, for Batch, the day after)."""
    open_cells = [c for c in cells.values() if not c.ok]
    by_rest: dict[tuple[Any, ...], list[Cell]] = {}
    for c in open_cells:
        by_rest.setdefault(c.key[1:], []).append(c)
    for group in by_rest.values():
        group.sort(key=lambda c: c.key[0])
        for i, first in enumerate(group):
            if first.status in ("day_boundary", "batch_completion_day"):
                continue
            for second in group[i + 1 :]:
                gap = (date.fromisoformat(second.key[0]) - date.fromisoformat(first.key[0])).days
                batch = bool(first.batch_requests or second.batch_requests)
                if second.status in ("day_boundary", "batch_completion_day") or gap > (2 if batch else 1):
                    continue
                if _nets_out(first, second, tolerance):
                    status = "batch_completion_day" if batch else "day_boundary"
                    cause = _shift_cause(first, second, batch)
                    for c in (first, second):
                        c.status, c.cause = status, cause
                    break


def _shift_cause(first: Cell, second: Cell, batch: bool) -> str:
    moved = first.openai.requests - first.local.requests
    ours, theirs = (first.key[0], second.key[0]) if moved < 0 else (second.key[0], first.key[0])
    why = (
        "OpenAI bills a Batch on the day it completes"
        if batch
        else f"{first.near_midnight + second.near_midnight} of our calls were within 5 min of midnight UTC"
    )
    return (
        f"{abs(moved)} requests counted on {ours} by us and on {theirs} by OpenAI; the two days agree ({why})"
    )


def _nets_out(a: Cell, b: Cell, tolerance: Decimal) -> bool:
    da = a.openai.requests - a.local.requests
    db = b.openai.requests - b.local.requests
    if not da or da != -db:
        return False
    pairs = [
        (a.local.requests + b.local.requests, a.openai.requests + b.openai.requests),
        (a.local.input_tokens + b.local.input_tokens, a.openai.input_tokens + b.openai.input_tokens),
        (a.local.output_tokens + b.local.output_tokens, a.openai.output_tokens + b.openai.output_tokens),
    ]
    if a.cost_compared:
        pairs.append(((a.local.cost or 0) + (b.local.cost or 0), (a.openai.cost or 0) + (b.openai.cost or 0)))
    return all(_within(x, y, tolerance) for x, y in pairs)
