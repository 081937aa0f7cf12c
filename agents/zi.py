"""Zero-intelligence traders of Gode & Sunder (1993).

Each trader is a buyer with private unit values or a seller with private unit costs, trading one
unit at a time in the order the schedule lists them. On every wake-up it withdraws its standing
order and quotes the next unit at a price drawn uniformly:

* ZI-C (constrained): a buyer bids in [price_min, value], a seller asks in [cost, price_max],
  so no trade can ever lose money (the "budget constraint");
* ZI-U (unconstrained): bids and asks anywhere in [price_min, price_max].

The point of the experiment is that allocative efficiency (realized surplus over the maximum
possible) comes mostly from the market's rules, not from the traders' intelligence: ZI-C
reaches ~99% while ZI-U is far lower. ``ZITrader.summarize`` computes that efficiency.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from agents.base import Agent
from exchange.core.messages import BUY, SELL, Trade

Positive = Annotated[float, msgspec.Meta(gt=0)]


class ZIParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    role: Literal["buyer", "seller"]
    #: unit values (buyers) or costs (sellers) in price units, traded in this order; when
    #: empty, ``units`` values are drawn uniformly from [value_low, value_high] (buyers get them
    #: in decreasing order, sellers in increasing order, as marginal schedules are).
    values: list[Positive] = []
    units: Annotated[int, msgspec.Meta(ge=1)] = 1
    value_low: Positive = 1.0
    value_high: Positive = 200.0
    price_min: Positive = 1.0
    price_max: Positive = 200.0
    rate: Positive = 1.0  # wake-ups per second

    def __post_init__(self) -> None:
        if self.price_min >= self.price_max:
            raise ValueError("price_min must be below price_max")
        if self.value_low > self.value_high:
            raise ValueError("value_low must not exceed value_high")
        for v in self.values or [self.value_low, self.value_high]:
            if not self.price_min <= v <= self.price_max:
                raise ValueError(f"value {v} outside [price_min, price_max]")


class ZITrader(Agent):
    Params = ZIParams
    constrained: ClassVar[bool] = True

    def on_start(self) -> None:
        p: ZIParams = self.params
        self.buyer = p.role == "buyer"
        if p.values:
            values = [self.to_ticks(v) for v in p.values]
        else:
            lo, hi = self.to_ticks(p.value_low), self.to_ticks(p.value_high)
            drawn = self.rng.integers(lo, hi + 1, size=p.units).tolist()
            values = sorted(drawn, reverse=self.buyer)
        self.values: list[int] = values
        self.min_ticks = self.to_ticks(p.price_min)
        self.max_ticks = self.to_ticks(p.price_max)
        self.traded = 0  # units traded so far
        self.surplus = 0  # in ticks
        self.has_order = False
        self.wake_poisson(p.rate)

    def on_wake(self, token: object) -> None:
        if self.traded >= len(self.values):
            return  # every unit traded: this trader is done
        client = self.client
        if self.has_order:
            client.cancel_all(self.instrument)
        value = self.values[self.traded]
        if self.buyer:
            high = value if self.constrained else self.max_ticks
            price = self.randint(self.min_ticks, high)
            client.place(self.instrument, BUY, 1, price)
        else:
            low = value if self.constrained else self.min_ticks
            price = self.randint(low, self.max_ticks)
            client.place(self.instrument, SELL, 1, price)
        self.has_order = True
        self.wake_poisson(self.params.rate)

    def on_event(self, event: object) -> None:
        if type(event) is not Trade:
            return
        for _ in range(event.amount):  # type: ignore[attr-defined]
            if self.traded >= len(self.values):
                break
            value = self.values[self.traded]
            price = event.price  # type: ignore[attr-defined]
            self.surplus += value - price if self.buyer else price - value
            self.traded += 1
        self.has_order = bool(self.client.open_orders)

    def metrics(self) -> dict[str, float]:
        return {"units_traded": float(self.traded), "surplus": self.surplus * self.tick}

    @classmethod
    def summarize(cls, agents: list[Agent]) -> dict[str, float]:
        traders = [a for a in agents if isinstance(a, ZITrader)]
        values = sorted((v for a in traders if a.buyer for v in a.values), reverse=True)
        costs = sorted(v for a in traders if not a.buyer for v in a.values)
        best = sum(v - c for v, c in zip(values, costs, strict=False) if v > c)
        realized = sum(a.surplus for a in traders)
        return {
            "max_surplus": best * traders[0].tick if traders else 0.0,
            "realized_surplus": realized * traders[0].tick if traders else 0.0,
            "efficiency": realized / best if best > 0 else float("nan"),
        }


class ZIC(ZITrader):
    """Zero-intelligence trader with the no-loss (budget) constraint."""

    constrained = True


class ZIU(ZITrader):
    """Zero-intelligence trader without constraint."""

    constrained = False
