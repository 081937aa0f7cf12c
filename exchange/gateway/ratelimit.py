"""Credit buckets, as Deribit meters requests.

The clock is passed in (monotonic seconds) so the bucket is deterministic under test.
"""

from __future__ import annotations


class CreditBucket:
    __slots__ = ("capacity", "refill", "credits", "updated")

    def __init__(self, capacity: int, refill_per_second: int, now: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self.credits = float(capacity)
        self.updated = now

    def take(self, cost: int, now: float) -> bool:
        """Spend ``cost`` credits if the bucket holds them; False (nothing spent) otherwise."""
        elapsed = now - self.updated
        if elapsed > 0:
            self.credits = min(self.capacity, self.credits + elapsed * self.refill)
            self.updated = now
        if self.credits < cost:
            return False
        self.credits -= cost
        return True
