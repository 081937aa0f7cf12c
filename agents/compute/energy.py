"""The energy producer: sells the kWh tokens its built power can deliver to data centres.

Each period the economy mints the kWh that firm power can deliver; the producer offers all of
them at the period's kWh price (the reference price, scaled up by need over supply when power
binds). kWh it has not sold by the end of the period are burned by the driver: power not taken
is not stored.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from exchange.core.messages import SELL


class ProducerParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str = "power"
    steps: Annotated[int, msgspec.Meta(ge=2)] = 4


class EnergyProducer(EconomyAgent):
    Params = ProducerParams
    listens = False

    def act(self, phase: float) -> None:
        view = self.view
        assert view is not None
        client = self.client
        client.cancel_all(self.instrument)
        held = client.holding(self.base)
        if held > 0:
            client.place(self.instrument, SELL, held, self.to_ticks(view.kwh_price()))
