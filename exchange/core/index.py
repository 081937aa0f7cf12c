"""Time-weighted average price index used to cash-settle futures.

A future settles against the TWAP of its spot instrument over a window before expiry, as
rental-price indices and Deribit's delivery price do: a single trade just before expiry cannot
move the settlement much. The price is a step function of observations (spot trades and marks);
only observations that can still matter for a pending settlement are kept.
"""

from __future__ import annotations


class TwapIndex:
    __slots__ = ("times", "prices", "horizon")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.prices: list[int] = []
        # Observations before this instant only matter as "the price in force at the start of
        # the earliest pending window", so just the latest of them is kept.
        self.horizon = 0

    def observe(self, ts: int, price: int) -> None:
        times = self.times
        if times and ts <= times[-1]:
            self.prices[-1] = price  # same instant (or clock held back): last value wins
            return
        if ts < self.horizon:
            self.times = [ts]
            self.prices = [price]
            return
        times.append(ts)
        self.prices.append(price)

    def last(self) -> int | None:
        return self.prices[-1] if self.prices else None

    def twap(self, start: int, end: int) -> int | None:
        """Time-weighted average over [start, end], rounded to the nearest tick.

        The price in force at ``start`` is the last observation at or before it; if the first
        observation comes later, the window starts there. None if nothing was observed by
        ``end``.
        """
        times, prices = self.times, self.prices
        area = 0
        begin = None
        current = None
        for t, p in zip(times, prices, strict=True):
            if t > end:
                break
            if t <= start:
                current = p
                begin = start
                continue
            if current is None:
                begin = t
            else:
                area += current * (t - begin)
                begin = t
            current = p
        if current is None or begin is None:
            return None
        area += current * (end - begin)
        first = max(start, times[0])
        duration = end - first
        if duration <= 0:
            return current
        return (2 * area + duration) // (2 * duration)

    def advance_horizon(self, horizon: int) -> None:
        """Forget observations that no pending settlement window can use."""
        self.horizon = horizon
        times = self.times
        keep = 0
        for i, t in enumerate(times):
            if t <= horizon:
                keep = i
            else:
                break
        if keep:
            del times[:keep]
            del self.prices[:keep]
