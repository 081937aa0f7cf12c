"""A value (fundamental) trader.

At Poisson times it observes an exogenous fundamental series with Gaussian noise of
``noise_sd`` price units and trades towards it: if the best ask is more than ``threshold``
ticks below its estimate it buys up to the estimate (immediate-or-cancel), if the best bid is
that far above it sells; otherwise it rests a limit order of ``size`` lots at its estimate on
the side the mid is mispriced. This is what anchors a simulated price to a fundamental.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.base import NS, Agent
from exchange.core.messages import BUY, GTD, IOC, SELL

Positive = Annotated[float, msgspec.Meta(gt=0)]


class ValueParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    series: str = "fundamental"
    rate: Positive = 0.01  # wake-ups per second
    noise_sd: Annotated[float, msgspec.Meta(ge=0)] = 0.5  # price units
    threshold: Annotated[int, msgspec.Meta(ge=0)] = 2  # ticks
    size: Annotated[int, msgspec.Meta(ge=1)] = 5
    lifetime: Positive = 120.0  # seconds a passive order rests


class ValueTrader(Agent):
    Params = ValueParams
    listens = False

    def on_start(self) -> None:
        self.lifetime_ns = int(self.params.lifetime * NS)
        self.wake_poisson(self.params.rate)

    def on_wake(self, token: object) -> None:
        p: ValueParams = self.params
        client = self.client
        estimate = client.series(p.series) + self.rng.normal(0.0, p.noise_sd)
        value = max(1, int(round(estimate / self.tick)))
        ask = client.best_ask(self.instrument)
        bid = client.best_bid(self.instrument)
        if ask is not None and ask < value - p.threshold:
            client.place(self.instrument, BUY, p.size, value, tif=IOC)
        elif bid is not None and bid > value + p.threshold:
            client.place(self.instrument, SELL, p.size, value, tif=IOC)
        else:
            mid = client.mid(self.instrument)
            side = BUY if mid is None or mid < value else SELL
            price = value - p.threshold if side == BUY else value + p.threshold
            if price >= 1:
                client.place(self.instrument, side, p.size, price, tif=GTD,
                             expire_ts=client.now() + self.lifetime_ns)
        self.wake_poisson(p.rate)
