"""A futures hedge desk: hedges an entity's spot exposure along the GPU-hour futures curve.

Each future of the strip settles on the spot TWAP of one economy period, so a desk that wants
to lock in the price of its entity's expected spot trades holds, on each of the next
``contracts`` futures, ``hedge_ratio`` times the entity's exposure per period: long for the
lab when it buys on spot, short when its contracted hours exceed its own demand (it resells
them, so its commitments leave it exposed to a falling price), short for a seller's merchant
hours. Every wake-up it cancels and
re-sends the gap to its target at the last clearing price shaded by ``edge`` in the
counterparty's favour (a hedger pays for the insurance).

A desk trades from its own account, capitalised by the scenario (margin), outside the
economy's flow-of-funds ledger: its P&L is the hedge's, reported in ``agent_metrics``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from exchange.core.messages import BUY, SELL


class DeskParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str  # whose exposure this desk hedges
    hedge_ratio: Annotated[float, msgspec.Meta(ge=0, le=2)] = 0.5
    contracts: Annotated[int, msgspec.Meta(ge=1)] = 4  # futures of the strip hedged
    edge: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.02
    steps: Annotated[int, msgspec.Meta(ge=2)] = 4


class HedgeDesk(EconomyAgent):
    Params = DeskParams
    listens = False

    def attach_view(self, view) -> None:  # type: ignore[no-untyped-def]
        super().attach_view(view)
        self.hedged: dict[str, int] = {}

    def act(self, phase: float) -> None:
        view = self.view
        assert view is not None
        p: DeskParams = self.params
        client = self.client
        now = client.now()
        strip = [f for f in view.futures(now) if f.expiry_ns > now + view.period_ns()]
        target = int(round(p.hedge_ratio * view.exposure_lots(p.entity)))
        fair = view.reference_price()
        for info in strip[:p.contracts]:
            client.cancel_all(info.name)
            gap = target - client.position(info.name)
            if gap == 0:
                continue
            spec = client.instrument(info.name)
            tick = float(spec.tick_size)
            if gap > 0:
                price = max(1, int(round(fair * (1 + p.edge) / tick)))
                client.place(info.name, BUY, gap, price)
            else:
                price = max(1, int(round(fair * (1 - p.edge) / tick)))
                client.place(info.name, SELL, -gap, price)

    def metrics(self) -> dict[str, float]:
        view = self.view
        if view is None:
            return {}
        now = self.client.now()
        return {"futures_position": float(sum(self.client.position(f.name)
                                               for f in view.futures(now)))}
