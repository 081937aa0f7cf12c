"""Poisson order flow of Farmer, Patelli & Zovko (2005), "The predictive power of zero
intelligence in financial markets".

Three independent Poisson processes, all in "shares" (lots) and ticks:

* limit orders arrive at ``limit_rate`` (alpha) per tick of price per second on each side, at
  a price uniform over the ``window`` ticks beyond the opposite best quote (a buy at
  ask - 1 ... ask - window), so a limit order never crosses on arrival;
* market orders arrive at ``market_rate`` (mu) per second, buy or sell with equal odds;
* every resting order is cancelled at ``cancel_rate`` (delta) per second, i.e. after an
  exponential lifetime, drawn when its acceptance comes back.

All orders have ``size`` (sigma) lots. The model predicts a mean spread of
(mu/alpha) * (0.28 + 1.86 * eps**0.75) with eps = delta*sigma/mu, as long as the tick is small
against mu/alpha. Give liquidity providers ``market_rate = 0`` and takers ``limit_rate = 0`` in
separate groups: then a market order never meets its own account's limit order.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.base import NS, Agent
from exchange.core.messages import BUY, LIMIT, MARKET, SELL, OrderAccepted

NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class FlowParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    limit_rate: NonNegative = 0.0  # alpha: limit orders per tick per second, per side
    market_rate: NonNegative = 0.0  # mu: market orders per second
    cancel_rate: NonNegative = 0.0  # delta: per resting order per second
    size: Annotated[int, msgspec.Meta(ge=1)] = 1  # sigma, lots
    window: Annotated[int, msgspec.Meta(ge=1)] = 100  # ticks beyond the opposite quote
    initial_price: Annotated[float, msgspec.Meta(gt=0)] = 100.0  # used while a side is empty

    def __post_init__(self) -> None:
        if self.limit_rate == 0 and self.market_rate == 0:
            raise ValueError("limit_rate and market_rate cannot both be 0")


_LIMIT = "limit"
_MARKET = "market"


class PoissonFlowAgent(Agent):
    Params = FlowParams

    def on_start(self) -> None:
        p: FlowParams = self.params
        self.limit_total = 2.0 * p.limit_rate * p.window  # both sides
        self.initial_ticks = self.to_ticks(p.initial_price)
        self.wake_poisson(self.limit_total, _LIMIT)
        self.wake_poisson(p.market_rate, _MARKET)

    def on_wake(self, token: object) -> None:
        client = self.client
        p: FlowParams = self.params
        if token is _LIMIT:
            side = BUY if self.uniform() < 0.5 else SELL
            offset = self.randint(1, p.window)
            if side == BUY:
                ref = client.best_ask(self.instrument)
                if ref is None:
                    bid = client.best_bid(self.instrument)
                    ref = bid + 1 if bid is not None else self.initial_ticks
                price = ref - offset
            else:
                ref = client.best_bid(self.instrument)
                if ref is None:
                    ask = client.best_ask(self.instrument)
                    ref = ask - 1 if ask is not None else self.initial_ticks
                price = ref + offset
            if price >= 1:
                client.place(self.instrument, side, p.size, price, type=LIMIT)
            self.wake_poisson(self.limit_total, _LIMIT)
        elif token is _MARKET:
            side = BUY if self.uniform() < 0.5 else SELL
            client.place(self.instrument, side, p.size, type=MARKET)
            self.wake_poisson(p.market_rate, _MARKET)
        else:  # an order's lifetime is over
            if token in client.open_orders:
                client.cancel(token)  # type: ignore[arg-type]

    def on_event(self, event: object) -> None:
        if type(event) is OrderAccepted and event.type == LIMIT:  # type: ignore[attr-defined]
            rate = self.params.cancel_rate
            if rate > 0:
                lifetime = int(self.exponential(1.0 / rate) * NS)
                self.client.wake_at(self.client.now() + lifetime,
                                    event.order_id)  # type: ignore[attr-defined]
