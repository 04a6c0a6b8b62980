"""The base of the per-call value classes (usage.Usage, pricing.types.PriceQuery and Cost).

They are written out by hand, ``__slots__`` and ``__init__``, rather than as dataclasses: a dataclass
compiles its generated methods when its module loads, about 1.5 ms for a class of Usage's size and 4 ms
for the three, a sixth of what importing the instrumentation cost (docs/robustness.md). This base gives
them, from ``__slots__``, what the dataclass gave: equality, a repr, and ``replace`` for a variant.
"""

from __future__ import annotations

from typing import Any, Self


class Value:
    """Equality, repr and ``replace`` over the subclass's ``__slots__`` (its fields, in order)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (as a dataclass with eq)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        values = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({values})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (as ``dataclasses.replace``); an unknown field raises TypeError."""
        values = {f: getattr(self, f) for f in self.__slots__}
        values.update(changes)
        return type(self)(**values)
