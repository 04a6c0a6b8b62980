"""The genai-prices layer: its model lookup and rate cards, converted to our per-unit ``RateSet``.

Only the lookup is used (``find_provider_model`` and ``ModelInfo.get_prices``); the arithmetic is ours,
because ``calc_price`` costs ~80 us per call and falls back silently where we must say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import ModelInfo, TieredPrices

from .pricefile import RateSet

VERSION: str = genai_prices.__version__
LAYER = f"genai-prices@{VERSION}"

# genai-prices price key -> (our rate key, power of ten its price is quoted per).
_KEYS: dict[str, tuple[str, int]] = {
    "input_mtok": ("input", 6),
    "output_mtok": ("output", 6),
    "cache_read_mtok": ("cached_input", 6),
    "cache_write_mtok": ("cache_write", 6),
    "input_audio_mtok": ("input_audio", 6),
    "cache_audio_read_mtok": ("cached_input_audio", 6),
    "output_audio_mtok": ("output_audio", 6),
    "input_image_mtok": ("input_image", 6),
    "cache_image_read_mtok": ("cached_input_image", 6),
    "output_image_mtok": ("output_image", 6),
    "input_mchars": ("characters", 6),
    "web_searches_kcount": ("web_search", 3),
    "storage_searches_kcount": ("file_search", 3),
}
# Per hour of audio; whisper-1 carries both with the same value.
_HOUR_KEYS = ("audio_hours", "input_audio_hours")


def find_model(model: str, provider: str, snapshot: DataSnapshot | None = None) -> ModelInfo | None:
    """genai-prices' entry for ``model`` at ``provider`` in ``snapshot`` (default: bundled data), or None."""
    provider_id = "azure" if provider in ("azure", "azure.ai.openai") else provider
    snap = snapshot if snapshot is not None else data_snapshot.get_snapshot()
    try:
        _, info = snap.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    # Its matchers include e.g. starts_with "ft:gpt-4-0" on the base gpt-4 entry: a fine-tuned model must
    # never be priced at a base rate, so only a fine-tune entry may price an ft: model.
    if model.lower().startswith("ft:") and not info.id.startswith("ft:"):
        return None
    return info


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def convert(prices: Mapping[str, Any]) -> RateSet:
    """A genai-prices ``ModelPrice.__dict__`` as per-unit rates (long-context tiers split out)."""
    unit: dict[str, Decimal] = {}
    long_unit: dict[str, Decimal] = {}
    threshold: int | None = None
    for attr, value in prices.items():
        if value is None:
            continue
        if attr in _HOUR_KEYS:
            if attr == "audio_hours" or "audio_seconds" not in unit:
                unit["audio_seconds"] = Decimal(value) / 3600
            continue
        mapped = _KEYS.get(attr)
        if mapped is None:
            continue
        key, power = mapped
        if isinstance(value, TieredPrices):
            unit[key] = value.base.scaleb(-power)
            if value.tiers:
                # OpenAI has one cliff; the first tier is the one that applies above its threshold.
                threshold = value.tiers[0].start
                long_unit[key] = value.tiers[0].price.scaleb(-power)
        else:
            unit[key] = Decimal(value).scaleb(-power)
    return RateSet(unit=unit, long_threshold=threshold, long_unit=long_unit)


def standard(info: ModelInfo, day: date) -> RateSet:
    """Standard rates in force on ``day``."""
    return convert(info.get_prices(_at(day)).__dict__)


def variant(info: ModelInfo, day: date, when: dict[str, str]) -> RateSet | None:
    """The overrides of a price variant (tier or Batch) in force on ``day``, or None if it has none.

    genai-prices applies a variant silently or not at all; we need to know which, to say so.
    """
    found: dict[str, Any] = {}
    moment = _at(day)
    for v in info.price_variants or ():
        if v.when != when or (v.constraint is not None and not v.constraint.active(moment)):
            continue
        for key, price in v.prices.__dict__.items():
            if price is not None:
                found.setdefault(key, price)
    if not found:
        return None
    return convert(found)
