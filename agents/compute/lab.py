"""The frontier lab: the dominant buyer of GPU-hours.

Its contracted hours (take-or-pay) are minted into its account each period. Its own demand is
its share of the demand curve. Every wake-up it

* bids for its demand curve beyond the hours it holds (a ladder of resting bids, as end users
  do), with the cash it has; and
* offers the hours it holds beyond what it wants at the current ask, on the same descending
  clock as the sellers (they perish too): under the overbuild, contracted hours it cannot use
  come back to the market and push the price down.

Whether it commits beyond its own demand (``strategic_overbuild``) is a parameter of the
economy's take-or-pay programme, read through the view; hedging is done by its futures desk
(``HedgeDesk``), a separately capitalised account.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import PerishableSeller
from agents.compute.ladder import bid_ladder
from exchange.core.messages import BUY, SELL

Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]


class LabParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str = "lab"
    markup: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    dump_by: Fraction = 0.8
    steps: Annotated[int, msgspec.Meta(ge=2)] = 12


class FrontierLab(PerishableSeller):
    Params = LabParams
    listens = False

    def act(self, phase: float) -> None:
        view = self.view
        assert view is not None
        client = self.client
        held = self.restart()
        ask = self.ask(phase)
        excess = held - view.demand_lots(ask, self.entity)
        if excess > 0:
            client.place(self.instrument, SELL, excess, self.to_ticks(ask))
            return
        spec = client.instrument(self.instrument)
        # the lab trades only this instrument, so once the cancel just sent is processed
        # (before the new bids, in order) all its cash is free
        cash = client.cash()
        ladder = bid_ladder(lambda price: view.demand_lots(price, self.entity),
                            view.reference_price(), held, self.tick, spec.tick_value, cash)
        for ticks, lots in ladder:
            client.place(self.instrument, BUY, lots, ticks)

    def metrics(self) -> dict[str, float]:
        view = self.view
        return {"strategic_overbuild": float(view.strategic_overbuild()) if view else 0.0}
