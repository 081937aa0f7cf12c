"""End users other than the lab: the rest of the GPU-hour demand curve.

At the start of each period they post the whole demand curve of the period (``D(p)`` times
their share, in lots) as resting bids, paid for with the end-user money the driver deposits
for them. A demand curve that depends only on price needs no further action: as sellers lower
their asks, the bids fill from the highest value down.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from agents.compute.ladder import bid_ladder
from exchange.core.messages import BUY


class UsersParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str = "users"
    #: wake-ups per period: many, so the first comes early (at 1/(2 steps) of the period),
    #: before the sellers' asks have come down to where the demand curve lies
    steps: Annotated[int, msgspec.Meta(ge=2)] = 48


class EndUsers(EconomyAgent):
    Params = UsersParams
    listens = False

    def on_period(self, period: int) -> None:
        view = self.view
        assert view is not None
        client = self.client
        spec = client.instrument(self.instrument)
        ladder = bid_ladder(lambda price: view.demand_lots(price, self.entity),
                            view.reference_price(), client.holding(self.base), self.tick,
                            spec.tick_value, client.free_cash())
        for ticks, lots in ladder:
            client.place(self.instrument, BUY, lots, ticks)
