"""Units, the period clock and the exact pro-rata split every money movement relies on.

Macro quantities (GW, demand indices) are floats; money is integer micro-USD, the exchange's
cash unit, so that every amount the model hands to the runner is exact. The period clock turns
the lead times in the market facts (quoted in years) into whole periods once, in one place, so
"an order arrives after its lag" means the same thing in every module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

USD_SCALE = 1_000_000  # micro-USD per dollar, as in exchange.core.instruments
HOURS_PER_YEAR = 8766.0  # 365.25 days: the average year, so leap years do not drift the clock
KW_PER_GW = 1_000_000.0


def usd_to_micros(dollars: float) -> int:
    """Dollars (a float from a macro computation) -> integer micro-USD, rounded half to even."""
    return int(round(dollars * USD_SCALE))


def micros_to_usd(micros: int) -> float:
    return micros / USD_SCALE


def split_pro_rata(amount: int, weights: Sequence[int]) -> list[int]:
    """Split a non-negative integer ``amount`` in proportion to integer ``weights``, exactly.

    Largest-remainder rule: each part gets ``floor(amount * w / total)``; the units left over go
    one each to the parts with the largest fractional remainders, ties to the lower index. The
    parts always sum to ``amount`` and the result depends only on the inputs, never on dict or
    hash order, which is what lets a flow-of-funds report reconcile to the micro-USD.
    """
    if amount < 0:
        raise ValueError("amount must be non-negative")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    total = sum(weights)
    if total == 0:
        if amount == 0:
            return [0] * len(weights)
        raise ValueError("cannot split a positive amount over zero weights")
    parts = [amount * w // total for w in weights]
    left = amount - sum(parts)
    if left:
        remainders = [(-(amount * w % total), i) for i, w in enumerate(weights)]
        remainders.sort()
        for _, i in remainders[:left]:
            parts[i] += 1
    return parts


def capped_split(amount: int, weights: Mapping[str, int], caps: Mapping[str, int]
                 ) -> dict[str, int]:
    """Split ``amount`` in proportion to ``weights`` with each party capped at ``caps``: what a
    capped party cannot take goes to the others in the same proportions (water filling),
    until the amount is placed or every party is full. Parties are visited in name order and
    the rounding is ``split_pro_rata``'s, so the result never depends on dict order."""
    taken = dict.fromkeys(weights, 0)
    active = [k for k in sorted(weights) if weights[k] > 0 and caps[k] > 0]
    left = amount
    while left > 0 and active:
        split = split_pro_rata(left, [weights[k] for k in active])
        still = []
        for k, want in zip(active, split, strict=True):
            take = min(want, caps[k] - taken[k])
            taken[k] += take
            left -= take
            if taken[k] < caps[k]:
                still.append(k)
        active = still
    return taken


class Clock(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The economy's time grid: period ``k`` covers ``[start_year + k*dt, start_year + (k+1)*dt)``.

    ``start_year`` 2026.0 puts period 0 at the "today" of the market facts (H100 at ~$2.35 in
    March 2026); ``period_hours`` 168 is one week, short enough for the futures curve to move
    between capex decisions, long enough that a multi-year run is a few hundred steps.
    """

    start_year: float = 2026.0
    period_hours: float = 168.0

    def __post_init__(self) -> None:
        if self.period_hours <= 0:
            raise ValueError("period_hours must be positive")

    @property
    def years_per_period(self) -> float:
        return self.period_hours / HOURS_PER_YEAR

    def periods(self, years: float) -> int:
        """A duration in years as a whole number of periods (at least 0), rounded to nearest."""
        return max(0, int(round(years / self.years_per_period)))

    def year(self, period: int) -> float:
        """Calendar year (fractional) at the start of ``period``."""
        return self.start_year + period * self.years_per_period

    def period_of_year(self, year: float) -> int:
        """First period starting at or after calendar ``year`` (0 if already past)."""
        k = (year - self.start_year) / self.years_per_period
        return max(0, math.ceil(k - 1e-9))
