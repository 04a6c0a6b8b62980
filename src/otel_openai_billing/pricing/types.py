"""The pricing engine's inputs and outputs: plain values, no OpenTelemetry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ..values import Value

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


class PriceQuery(Value):
    """Everything besides usage that decides the price of one call.

    Not frozen: one is built for every call, and a frozen dataclass costs three times as much to build.
    Treat it as a value all the same (``query.replace(...)`` for a variant).
    """

    __slots__ = (  # noqa: RUF023  (the fields in __init__ order: positions, repr)
        "model",  # the model to price: the response's model when it has one, else the request's
        "request_model",  # what the caller asked for (an Azure deployment name, an alias)
        "endpoint",  # endpoints.Endpoint.key
        "provider",  # "openai" | "azure" | another host's provider id
        "service_tier",  # from the response ("default", "flex", "priority", ...)
        "batch",  # priced at Batch API rates
        "data_residency",  # region of a regional endpoint ("eu", "us", ...), None if global
        "timestamp",  # request start, UTC; None means now (priced by its UTC day)
        "image_size",  # request "size" (legacy per-image prices)
        "image_quality",  # request "quality"
        "free",  # the endpoint is not charged (moderations)
        "training_method",  # fine-tuning: "supervised" | "dpo" | "reinforcement"
        "tool_image_model",  # the image model of a Responses call's image_generation tool
    )

    def __init__(
        self,
        model: str | None,
        request_model: str | None = None,
        endpoint: str = "POST /chat/completions",
        provider: str = "openai",
        service_tier: str | None = None,
        batch: bool = False,
        data_residency: str | None = None,
        timestamp: datetime | None = None,
        image_size: str | None = None,
        image_quality: str | None = None,
        free: bool = False,
        training_method: str | None = None,
        tool_image_model: str | None = None,
    ) -> None:
        self.model = model
        self.request_model = request_model
        self.endpoint = endpoint
        self.provider = provider
        self.service_tier = service_tier
        self.batch = batch
        self.data_residency = data_residency
        self.timestamp = timestamp
        self.image_size = image_size
        self.image_quality = image_quality
        self.free = free
        self.training_method = training_method
        self.tool_image_model = tool_image_model


class Cost(Value):
    """The result of pricing one call."""

    __slots__ = (  # noqa: RUF023  (the fields in __init__ order: positions, repr)
        "status",  # "priced" | "unpriced" | "estimated" | "free" | "inconsistent"  (names.COST_STATUS_*)
        "amount",  # USD; None whenever status is "unpriced"
        "components",  # e.g. {"input": ..., "cached_input": ...}
        "layer",  # "override" | "supplement" | "genai-prices@0.2.3"
        "tier",  # the tier the rates were taken at ("default", "flex", ...)
        "batch",
        "reason",  # why unpriced, or a note on a fallback
        "estimate_method",  # how usage was estimated ("tiktoken:o200k_base"), if it was
    )

    def __init__(
        self,
        status: str,
        amount: Decimal | None = None,
        components: dict[str, Decimal] | None = None,
        layer: str | None = None,
        tier: str | None = None,
        batch: bool = False,
        reason: str | None = None,
        estimate_method: str | None = None,
    ) -> None:
        self.status = status
        self.amount = amount
        self.components = {} if components is None else components
        self.layer = layer
        self.tier = tier
        self.batch = batch
        self.reason = reason
        self.estimate_method = estimate_method
