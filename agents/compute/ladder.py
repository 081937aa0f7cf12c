"""Demand curves as resting bids, and the descending ask of a perishable good.

A buyer whose demand depends only on price can post its whole demand curve as limit bids: at
each price level the bid is the extra quantity wanted there. Sellers of hours that perish at
the end of the period post a descending ask (a Dutch clock) that reaches the marginal cost
before the period ends. The two meet where the remaining supply meets the demand curve.
"""

from __future__ import annotations

from collections.abc import Callable

#: price levels of a demand ladder, as multiples of the reference price (geometric, ~7.5%
#: apart, from 10% above the last clearing price down to an eighth of it). Buyers whose value
#: is higher still bid at the top level rather than at their value: in a descending auction
#: a bid is what is paid, so bidding one's full value would only hand the surplus to sellers,
#: and it would make the price ratchet up period after period.
TOP = 1.1
LEVELS: tuple[float, ...] = tuple(TOP * ((0.125 / TOP) ** (i / 29)) for i in range(30))


def bid_ladder(want: Callable[[float], int], reference: float, held: int, tick: float,
               tick_value: int, cash: int) -> list[tuple[int, int]]:
    """(price ticks, lots) bids for the demand curve ``want(price)`` beyond ``held`` lots,
    highest price first, never reserving more than ``cash`` micro-USD."""
    out: list[tuple[int, int]] = []
    covered = held
    for factor in LEVELS:
        price = reference * factor
        ticks = max(1, int(round(price / tick)))
        lots = want(price) - covered
        if lots <= 0:
            continue
        afford = cash // (ticks * tick_value) if ticks * tick_value else lots
        lots = min(lots, afford)
        if lots <= 0:
            break
        out.append((ticks, lots))
        covered += lots
        cash -= lots * ticks * tick_value
    return out


def dutch_ask(phase: float, anchor: float, floor: float, dump_by: float) -> float:
    """Ask price at ``phase`` of the period: ``anchor`` at the start, falling linearly to
    ``floor`` at ``dump_by`` and staying there (an unsold hour is worth nothing afterwards)."""
    if anchor <= floor:
        return floor
    left = max(0.0, 1.0 - phase / dump_by) if dump_by > 0 else 0.0
    return floor + (anchor - floor) * left
