"""The worst case's price at per-unit rates the pricing engine gave once, instead of the engine per call.

Pure. Below a model's long-context threshold the engine prices tokens linearly: each kind of token
(text, audio and image input; text and audio output) times its rate, summed. So the engine prices one
unit of each kind once per pricing query (model, endpoint, tier, region, UTC day), and a reservation
is five multiplications. Everything off that line goes to the engine itself: input above the
long-context threshold, characters or images, counts the engine would reject, no tokens at all, or a
kind of token without a rate (the engine reports the call unpriced).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..pricing.engine import MAX_PLAUSIBLE_COUNT, RateCard
from ..pricing.types import PriceQuery
from ..usage import Usage

# One unit of each kind, in the engine's order of components (input, input_audio, input_image,
# output, output_audio), so the sum is taken in the same order as the engine's.
_PROBES = (
    Usage(input_tokens=1),
    Usage(input_tokens=1, input_audio_tokens=1),
    Usage(input_tokens=1, input_image_tokens=1),
    Usage(output_tokens=1),
    Usage(output_tokens=1, output_audio_tokens=1),
)


@dataclass(frozen=True, slots=True)
class UnitRates:
    """USD per token of each kind for one pricing query (None: the engine has no rate for it)."""

    rates: tuple[Decimal | None, ...]
    long_threshold: int | None  # input tokens above which the engine uses other rates

    @classmethod
    def of(cls, pricer: Any, query: PriceQuery) -> UnitRates:
        """The engine's rates for ``query``, from one priced unit of each kind."""
        try:
            card = pricer.rate_card(query)
        except Exception:
            # The engine's price() turns the same fault into an unpriced cost: every worst case of this
            # query goes there (no rates), as it did before these rates were kept.
            return cls((None,) * len(_PROBES), None)
        threshold = card.long_threshold if isinstance(card, RateCard) else None
        return cls(tuple(pricer.price(probe, query).amount for probe in _PROBES), threshold)

    def price(self, u: Usage) -> Decimal | None:
        """The engine's cost of ``u``, a usage from ``estimate.worst_case_usage`` (token counts only),
        or None when the engine itself has to price it (see the module docstring)."""
        if u.input_characters is not None or u.images is not None:
            return None
        inp = u.input_tokens or 0
        out = u.output_tokens or 0
        if not (inp or out) or not (0 <= inp <= MAX_PLAUSIBLE_COUNT and 0 <= out <= MAX_PLAUSIBLE_COUNT):
            return None
        if self.long_threshold is not None and inp > self.long_threshold:
            return None
        audio_in = u.input_audio_tokens or 0
        image_in = u.input_image_tokens or 0
        audio_out = u.output_audio_tokens or 0
        quantities = (inp - audio_in - image_in, audio_in, image_in, out - audio_out, audio_out)
        total = Decimal(0)
        for quantity, rate in zip(quantities, self.rates, strict=True):
            if quantity:
                if quantity < 0 or rate is None:
                    return None  # inconsistent, or a part without a rate: the engine says why
                total += rate * quantity
        return total
