"""Pricing: normalized usage + call context -> USD cost. Pure; no OpenTelemetry.

``Pricer`` reads user override files, the shipped supplement and genai-prices, in that order.
The names below load on first use: the hot path imports only ``pricing.types``, and the engine (with
genai-prices) is loaded off the start-up path (see ``pricing.background``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Line, Pricer, RateCard, normalize_tier
    from .pricefile import PriceFile, PriceFileError, load_price_file
    from .types import Cost, PriceQuery

# public name -> the submodule that defines it
_LAZY = {
    "Cost": "types",
    "Line": "engine",
    "PriceFile": "pricefile",
    "PriceFileError": "pricefile",
    "PriceQuery": "types",
    "Pricer": "engine",
    "RateCard": "engine",
    "load_price_file": "pricefile",
    "normalize_tier": "engine",
}

__all__ = [
    "Cost",
    "Line",
    "PriceFile",
    "PriceFileError",
    "PriceQuery",
    "Pricer",
    "RateCard",
    "load_price_file",
    "normalize_tier",
]


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{submodule}", __name__), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value
