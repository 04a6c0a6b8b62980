"""OpenAI's numbers, normalized: one row per UTC day and group, whichever way they were obtained."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

# The Usage API endpoints whose results carry a model and a request count, and what each counts.
USAGE_ENDPOINTS = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
)


@dataclass(slots=True)
class UsageRow:
    """Usage OpenAI reports for one UTC day and group (None where a group key was not asked for)."""

    day: str  # YYYY-MM-DD (UTC)
    endpoint: str  # completions, embeddings, ... (the Usage API endpoint it came from)
    model: str | None
    project: str | None = None
    batch: bool | None = None
    tier: str | None = None
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    characters: int = 0
    seconds: int = 0


@dataclass(slots=True)
class CostRow:
    """One Costs API line for one UTC day (and project, when grouped by it)."""

    day: str
    line_item: str | None
    amount: Decimal
    currency: str = "usd"
    project: str | None = None
    quantity: Decimal | None = None

    @property
    def model(self) -> str | None:
        """The model the line item is for (the Costs API has no model grouping: it is in the name)."""
        return line_item_model(self.line_item)

    @property
    def batch(self) -> bool:
        """The line item is Batch API usage."""
        return bool(self.line_item) and "batch" in self.line_item.lower()  # type: ignore[union-attr]


_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def line_item_model(line_item: str | None) -> str | None:
    """``"gpt-4o-mini-2024-07-18, input"`` -> ``"gpt-4o-mini-2024-07-18"``; display names such as
    ``"GPT-4o mini"`` -> ``"gpt-4o-mini"``. Line items that are not a model (``"Web search tool
    calls"`` has no comma but several words) are returned lowercased and hyphenated too, and simply
    match no model."""
    if not line_item:
        return None
    name = line_item.split(",", 1)[0].strip().lower()
    return "-".join(name.split())


def model_base(model: str) -> str:
    """A model without its snapshot date: ``gpt-4o-2024-08-06`` -> ``gpt-4o``."""
    return _DATE_SUFFIX.sub("", model)
