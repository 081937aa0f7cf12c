"""A market maker: symmetric ladders of post-only quotes around a reference, skewed by
inventory.

Every ``interval`` seconds on average (uniformly jittered by +/-50%, so that no fixed period
prints a cycle into returns) it cancels its quotes and posts ``levels`` bids and asks of
``size`` lots, the first ``half_spread`` ticks from the reference and then every ``spacing``
ticks. The reference is the mid (else the last trade, else ``initial_price``) or, when
``series`` is set, that exogenous series (e.g. a fundamental value). Quotes shift by ``skew``
ticks per lot of inventory against the position, the standard way to mean-revert inventory.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.base import Agent
from exchange.core.messages import BUY, SELL

Positive = Annotated[float, msgspec.Meta(gt=0)]


class MarketMakerParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    interval: Positive = 5.0  # seconds between refreshes
    half_spread: Annotated[int, msgspec.Meta(ge=1)] = 5  # ticks
    spacing: Annotated[int, msgspec.Meta(ge=1)] = 2  # ticks between levels
    levels: Annotated[int, msgspec.Meta(ge=1)] = 3
    size: Annotated[int, msgspec.Meta(ge=1)] = 10
    skew: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # ticks per lot of inventory
    series: str | None = None  # quote around this exogenous series instead of the mid
    initial_price: Positive = 100.0


class MarketMaker(Agent):
    Params = MarketMakerParams
    listens = False

    def on_start(self) -> None:
        self.fallback = float(self.to_ticks(self.params.initial_price))
        self.start_inventory = self.inventory()
        self.wake_in(self.uniform() * self.params.interval)

    def on_wake(self, token: object) -> None:
        p: MarketMakerParams = self.params
        client = self.client
        client.cancel_all(self.instrument)
        if p.series is not None:
            ref = client.series(p.series) / self.tick
        else:
            ref = self.reference_price(self.fallback)
        inventory = self.inventory() - self.start_inventory
        center = ref - p.skew * inventory
        for k in range(p.levels):
            bid = int(center) - p.half_spread - k * p.spacing
            ask = int(center) + 1 + p.half_spread + k * p.spacing
            if bid >= 1:
                client.place(self.instrument, BUY, p.size, bid, post_only=True)
            client.place(self.instrument, SELL, p.size, ask, post_only=True)
        # A jittered cadence: a fixed period would print a spurious cycle into returns.
        self.wake_in(p.interval * (0.5 + self.uniform()))

    def metrics(self) -> dict[str, float]:
        return {"inventory": float(self.inventory() - self.start_inventory)}
