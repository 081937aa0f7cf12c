"""A noise trader: random orders at random times, the background flow of a market.

At Poisson times it picks a side with equal odds and sends either a market order (with
probability ``market_prob``) or a limit order at the reference price plus a uniform offset of
up to ``offset`` ticks either way (so some limit orders cross and trade at once). Limit orders
live ``lifetime`` seconds (good-till-date), so a long run never piles up stale orders and the
agent needs no per-order bookkeeping: it does not listen to its own events.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.base import NS, Agent
from exchange.core.messages import BUY, GTD, MARKET, SELL

Positive = Annotated[float, msgspec.Meta(gt=0)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]


class NoiseParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    rate: Positive = 0.01  # orders per second
    market_prob: Probability = 0.2
    size_min: Annotated[int, msgspec.Meta(ge=1)] = 1
    size_max: Annotated[int, msgspec.Meta(ge=1)] = 10
    offset: Annotated[int, msgspec.Meta(ge=0)] = 20  # ticks around the reference price
    lifetime: Positive = 300.0  # seconds a limit order rests
    initial_price: Positive = 100.0  # price units, used before the book has a price

    def __post_init__(self) -> None:
        if self.size_min > self.size_max:
            raise ValueError("size_min must not exceed size_max")


class NoiseTrader(Agent):
    Params = NoiseParams
    listens = False

    def on_start(self) -> None:
        p: NoiseParams = self.params
        self.fallback = float(self.to_ticks(p.initial_price))
        self.lifetime_ns = int(p.lifetime * NS)
        self.wake_poisson(p.rate)

    def on_wake(self, token: object) -> None:
        p: NoiseParams = self.params
        uniform = self.uniform
        side = BUY if uniform() < 0.5 else SELL
        size = self.randint(p.size_min, p.size_max)
        client = self.client
        if uniform() < p.market_prob:
            client.place(self.instrument, side, size, type=MARKET)
        else:
            ref = self.reference_price(self.fallback)
            price = int(round(ref)) + self.randint(-p.offset, p.offset)
            if price >= 1:
                client.place(self.instrument, side, size, price, tif=GTD,
                             expire_ts=client.now() + self.lifetime_ns)
        self.wake_poisson(p.rate)
