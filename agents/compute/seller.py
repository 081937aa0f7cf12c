"""A GPU-hour seller (hyperscaler, neocloud, or the buyer of a defaulter's capacity).

Its capacity's hours are minted into its account at the start of each period and perish at
the end, so holding them back earns nothing: it asks ``markup`` above the last clearing price
at the start of the period and lowers the ask linearly to its marginal cost (energy plus
variable opex) by ``dump_by`` of the period. It also buys, early in each period, the kWh
tokens its capacity will draw next period, at the producer's price: hours without energy
cannot be delivered.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import PerishableSeller
from exchange.core.messages import BUY, SELL

Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]


class SellerParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str
    markup: Annotated[float, msgspec.Meta(ge=0)] = 0.25  # opening ask over the last price
    dump_by: Fraction = 0.8  # share of the period by which the ask reaches marginal cost
    steps: Annotated[int, msgspec.Meta(ge=2)] = 12  # wake-ups per period
    energy: str = "KWH_USD"  # instrument the kWh tokens trade on ("" to skip buying energy)
    kwh_spare: Annotated[int, msgspec.Meta(ge=0)] = 1  # lots bought beyond the need


class ComputeSeller(PerishableSeller):
    Params = SellerParams
    listens = False

    def act(self, phase: float) -> None:
        assert self.view is not None
        p: SellerParams = self.params
        held = self.restart()
        if held > 0:
            self.client.place(self.instrument, SELL, held, self.to_ticks(self.ask(phase)))
        if p.energy and phase > 1.0 / p.steps:
            self._buy_energy()

    def _buy_energy(self) -> None:
        view = self.view
        assert view is not None
        client = self.client
        spec = client.instrument(self.params.energy)
        client.cancel_all(self.params.energy)
        need = view.kwh_lots_needed(self.entity)
        if need <= 0:
            return
        short = need + self.params.kwh_spare - client.holding(spec.base)
        if short <= 0:
            return
        ticks = max(1, int(round(view.kwh_price() / float(spec.tick_size))))
        # a seller's cash is held back only by kWh bids, all cancelled just before
        afford = client.cash() // (ticks * spec.tick_value)
        lots = min(short, afford)
        if lots > 0:
            client.place(self.params.energy, BUY, lots, ticks)
