"""The frontier lab: the dominant buyer of GPU-hours.

Its contracted hours (take-or-pay) are minted into its account each period. Its own demand is
its share of the demand curve. Every wake-up it

* bids for its demand curve beyond the hours it holds (a ladder of resting bids, as end users
  do), with the cash it has beyond what falls due at the close (the treasury rule below); and
* offers the hours it holds beyond what it wants at the current ask, on the same descending
  clock as the sellers (they perish too): under the overbuild, contracted hours it cannot use
  come back to the market and push the price down.

**Treasury rule: what falls due comes first.** At the period's close the economy settles the
lab's take-or-pay for contracted capacity online, its opex and its arrears out of its exchange
cash, and raises money only for what that cash does not cover (``lab_finance.py``). The lab
knows this bill from the period's start (``EconomyView.cash_due``), so it keeps ``due_reserve``
of it (all of it by default) out of every bid, for GPU-hours and for its tokens alike: it bids
only with ``spendable_cash`` = cash - what its buy-back bid reserved - ``due_reserve`` x due,
never below 0. Its spot bids then cannot eat into what it owes, and the money it raises pays
for the take-or-pay shortfall left after its revenue, not for hours it bought first. Cash from
hours it resells during the period raises what it may spend at later wake-ups. Exchange fees
on its fills are not reserved (the shipped scenarios charge none).
``due_reserve = 0`` is the rule without a treasury: every dollar is bid and the financing (or
arrears) pays the take-or-pay at the close.

Whether it commits beyond its own demand (``strategic_overbuild``) is a parameter of the
economy's take-or-pay programme, read through the view; hedging is done by its futures desk
(``HedgeDesk``), a separately capitalised account.

**Token buy-backs.** Where the compute-credit token trades and ``buyback_share`` > 0, at its
first wake-up of each period the lab bids for its own tokens with ``buyback_share`` of the
cash it holds beyond ``buyback_reserve_usd`` (``buyback_budget``), at ``buyback_price`` times
par: it retires a claim on $1 of its compute for less than $1 when it has spare cash, and its
bid is a floor under the token in a run. The economy retires (burns) what it bought at the
period's close and records the cash leaving it (``token_buyback``). The bid's cash is kept out
of the GPU-hour ladder, so the lab never bids for compute with money its buy-back reserved.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from agents.compute.base import PerishableSeller
from agents.compute.ladder import bid_ladder
from agents.economy.compute_token import buyback_budget
from exchange.core.messages import BUY, SELL

Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]


class LabParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    entity: str = "lab"
    markup: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    dump_by: Fraction = 0.8
    steps: Annotated[int, msgspec.Meta(ge=2)] = 12
    #: share of its spare cash the lab bids each period to buy its tokens back (0: never)
    buyback_share: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    #: cash the lab keeps for itself before buying any token back, USD
    buyback_reserve_usd: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    #: the buy-back bid, as a share of par
    buyback_price: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    #: share of what falls due at the period's close (take-or-pay, opex, arrears) the lab keeps
    #: out of its bids (1: all of it, a treasury that pays what is contractually due first;
    #: 0: it bids all its cash and the close finances the take-or-pay)
    due_reserve: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0


def spendable_cash(cash: int, reserved: int, due: int, due_reserve: float) -> int:
    """Micro-USD the lab may bid with: its ``cash`` less what orders already ``reserved`` and
    less ``due_reserve`` of what is ``due`` at the close (rounded up, so the reserve never
    falls a micro-USD short of it; exact at 1, where a float product could round down),
    never negative."""
    due = max(0, due)
    keep = due if due_reserve >= 1 else min(due, math.ceil(due * due_reserve))
    return max(0, cash - reserved - keep)


class FrontierLab(PerishableSeller):
    Params = LabParams
    listens = False
    #: micro-USD the period's buy-back bid reserved (the driver cancels it at the close)
    buyback_reserved: int = 0

    def on_period(self, period: int) -> None:
        super().on_period(period)
        self.buyback_reserved = 0
        self.buy_back()

    def buy_back(self) -> None:
        """Bid for the lab's tokens with its spare cash (nothing without a token market)."""
        view = self.view
        assert view is not None
        p: LabParams = self.params
        name = view.token_instrument()
        if p.buyback_share <= 0 or name is None:
            return
        client = self.client
        spec = client.instrument(name)
        spare = spendable_cash(client.free_cash(), 0, view.cash_due(self.entity), p.due_reserve)
        budget = buyback_budget(spare / 1e6, p.buyback_reserve_usd, p.buyback_share)
        ticks = max(1, int(round(view.token_params().par * p.buyback_price
                                 / float(spec.tick_size))))
        per_lot = ticks * spec.tick_value  # micro-USD
        lots = int(budget * 1e6 // per_lot)
        if lots > 0:
            client.place(name, BUY, lots, ticks)
            self.buyback_reserved = lots * per_lot

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
        # (before the new bids, in order) all its cash is free but for its buy-back bid; what
        # falls due at the close is kept (the treasury rule above)
        p: LabParams = self.params
        cash = spendable_cash(client.cash(), self.buyback_reserved,
                              view.cash_due(self.entity), p.due_reserve)
        ladder = bid_ladder(lambda price: view.demand_lots(price, self.entity),
                            view.reference_price(), held, self.tick, spec.tick_value, cash)
        for ticks, lots in ladder:
            client.place(self.instrument, BUY, lots, ticks)

    def metrics(self) -> dict[str, float]:
        view = self.view
        return {"strategic_overbuild": float(view.strategic_overbuild()) if view else 0.0}
