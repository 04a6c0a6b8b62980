"""The pricing engine's inputs and outputs: plain values, no OpenTelemetry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

NS_PER_DAY = 86_400 * 10**9
# The engine prices by UTC day (the price in force that day), so a query for a call can carry its day's
# midnight: one datetime per day, shared by every call of the day, instead of one built per call.
_day: tuple[int, datetime] = (-1, datetime.fromtimestamp(0, UTC))


def pricing_day(start_ns: int) -> datetime:
    """Midnight (UTC) of the day of ``start_ns`` (nanoseconds after the epoch): a query's timestamp."""
    global _day
    today = start_ns // NS_PER_DAY
    day, midnight = _day
    if today != day:
        midnight = datetime.fromtimestamp(today * 86_400, UTC)
        _day = (today, midnight)  # replaced whole: a thread that reads it sees one day or the other
    return midnight


@dataclass(slots=True)
class PriceQuery:
    """Everything besides usage that decides the price of one call.

    Not frozen: one is built for every call, and a frozen dataclass costs three times as much to build.
    Treat it as a value all the same (``dataclasses.replace`` for a variant).
    """

    model: str | None  # the model to price: the response's model when it has one, else the request's
    request_model: str | None = None  # what the caller asked for (an Azure deployment name, an alias)
    endpoint: str = "POST /chat/completions"  # endpoints.Endpoint.key
    provider: str = "openai"  # "openai" | "azure" | another host's provider id
    service_tier: str | None = None  # from the response ("default", "flex", "priority", ...)
    batch: bool = False  # priced at Batch API rates
    data_residency: str | None = None  # region of a regional endpoint ("eu", "us", ...), None if global
    timestamp: datetime | None = None  # request start, UTC; None means now (priced by its UTC day)
    image_size: str | None = None  # request "size" (legacy per-image prices)
    image_quality: str | None = None  # request "quality"
    free: bool = False  # the endpoint is not charged (moderations)
    training_method: str | None = None  # fine-tuning: "supervised" | "dpo" | "reinforcement"
    tool_image_model: str | None = None  # the image model of a Responses call's image_generation tool


@dataclass(slots=True)
class Cost:
    """The result of pricing one call."""

    status: str  # "priced" | "unpriced" | "estimated" | "free" | "inconsistent"  (names.COST_STATUS_*)
    amount: Decimal | None = None  # USD; None whenever status is "unpriced"
    components: dict[str, Decimal] = field(default_factory=dict)  # e.g. {"input": ..., "cached_input": ...}
    layer: str | None = None  # "override" | "supplement" | "genai-prices@0.2.3"
    tier: str | None = None  # the tier the rates were taken at ("default", "flex", ...)
    batch: bool = False
    reason: str | None = None  # why unpriced, or a note on a fallback
    estimate_method: str | None = None  # how usage was estimated ("tiktoken:o200k_base"), if it was
