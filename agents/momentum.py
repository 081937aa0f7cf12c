"""A momentum (trend-following) trader.

Every ``interval`` seconds on average (jittered by +/-50%) it samples the reference price.
Once it has ``long_window`` samples it compares the short and long moving averages and sends
a market order of ``size`` lots in the direction of the trend when they differ by more than
``threshold`` ticks. Trend followers are the classic source of positive feedback (and of
volatility clustering) in agent-based markets.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated

import msgspec

from agents.base import Agent
from exchange.core.messages import BUY, MARKET, SELL

Positive = Annotated[float, msgspec.Meta(gt=0)]


class MomentumParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    interval: Positive = 60.0
    short_window: Annotated[int, msgspec.Meta(ge=1)] = 5
    long_window: Annotated[int, msgspec.Meta(ge=2)] = 20
    threshold: Annotated[float, msgspec.Meta(ge=0)] = 1.0  # ticks
    size: Annotated[int, msgspec.Meta(ge=1)] = 5
    initial_price: Positive = 100.0

    def __post_init__(self) -> None:
        if self.short_window >= self.long_window:
            raise ValueError("short_window must be below long_window")


class MomentumTrader(Agent):
    Params = MomentumParams
    listens = False

    def on_start(self) -> None:
        self.fallback = float(self.to_ticks(self.params.initial_price))
        self.samples: deque[float] = deque(maxlen=self.params.long_window)
        self.wake_in(self.uniform() * self.params.interval)

    def on_wake(self, token: object) -> None:
        p: MomentumParams = self.params
        self.samples.append(self.reference_price(self.fallback))
        if len(self.samples) == p.long_window:
            samples = list(self.samples)
            short = sum(samples[-p.short_window:]) / p.short_window
            long = sum(samples) / p.long_window
            if short > long + p.threshold:
                self.client.place(self.instrument, BUY, p.size, type=MARKET)
            elif short < long - p.threshold:
                self.client.place(self.instrument, SELL, p.size, type=MARKET)
        self.wake_in(p.interval * (0.5 + self.uniform()))
