"""Pricing: normalized usage + call context -> USD cost. Pure; no OpenTelemetry.

``Pricer`` reads user override files, the shipped supplement and genai-prices, in that order.
"""

from .engine import Line, Pricer, RateCard, normalize_tier
from .pricefile import PriceFile, PriceFileError, load_price_file
from .types import Cost, PriceQuery

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
