"""The lab's treasury rule (agents/compute/lab.py): it keeps what falls due at the period's
close (take-or-pay, opex, arrears) out of its bids. Checked on the pure rule, on the agent
with a fake client and view, on the economy's figure for what is due (``Economy.lab_due``,
exactly what the close settles) and on the exchange, where its spot buying must never leave
it with less than what is due when it held that much at the period's start."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.compute.lab import FrontierLab, LabParams, spendable_cash
from agents.economy import Economy, EconomyParams
from agents.economy.capacity import CLUSTER
from agents.economy.economy import CONTRACT
from agents.economy.ledger import OPEX, OUTSIDE
from agents.economy.records import PeriodObservation
from exchange.core.instruments import InstrumentSpec
from exchange.core.messages import BUY, SELL
from scenarios import runner
from tests.sim_helpers import shipped
from tests.test_compute_run import _View

GPUH = InstrumentSpec(name="GPUH_USD", kind="spot", base="GPUH", tick_size="0.001",
                      lot_size="1000000")
USD = 10**6  # micro-USD per USD


class _Client:
    """The lab's side of the exchange: cash, GPU-hours held and the orders it sends."""

    def __init__(self, cash: int, held: int = 0) -> None:
        self._cash, self.held = cash, held
        self.orders: list[tuple[str, int, int, int]] = []

    def instrument(self, name: str) -> InstrumentSpec:
        return GPUH

    def holding(self, asset: str) -> int:
        return self.held

    def cash(self) -> int:
        return self._cash

    def free_cash(self) -> int:
        return self._cash

    def cancel_all(self, instrument: str) -> None:
        self.orders.clear()

    def place(self, instrument: str, side: int, amount: int, price: int) -> None:
        self.orders.append((instrument, side, amount, price))

    def bid_cost(self) -> int:
        """Micro-USD the resting bids would pay if every one of them filled."""
        return sum(lots * ticks * GPUH.tick_value for _, side, lots, ticks in self.orders
                   if side == BUY)


class _LabView(_View):
    """A lab that wants ``want`` lots at any price and owes ``due`` micro-USD at the close."""

    def __init__(self, due: int, want: int = 1_000_000) -> None:
        super().__init__(5.0)
        self.due, self.want = due, want

    def demand_lots(self, price: float, who: str) -> int:
        return self.want

    def cash_due(self, entity: str) -> int:
        return self.due if entity == "lab" else 0


def _lab(client: _Client, view: _LabView, **params: Any) -> FrontierLab:
    lab = FrontierLab(1, LabParams(**params), np.random.default_rng(1), "GPUH_USD")
    lab.bind(client)  # type: ignore[arg-type]
    lab.attach_view(view)
    lab.on_period(0)
    return lab


# -- the pure rule -------------------------------------------------------------------------------

def test_spendable_cash_keeps_the_due_share_rounded_up_and_is_never_negative() -> None:
    assert spendable_cash(100, 0, 30, 1.0) == 70
    assert spendable_cash(100, 10, 30, 1.0) == 60  # the buy-back bid's cash is not spendable
    assert spendable_cash(100, 0, 30, 0.0) == 100  # no treasury: everything is bid
    assert spendable_cash(100, 0, 3, 0.5) == 98  # 1.5 kept as 2: never a micro-USD short
    assert spendable_cash(20, 0, 30, 1.0) == 0
    big = 2**62 - 1  # exact at 1 where the float product would round
    assert spendable_cash(big, 0, big - 1, 1.0) == 1


# -- the agent, with a fake client and view --------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(cash=st.integers(0, 10**6), due=st.integers(0, 10**6), held=st.integers(0, 3000),
       share=st.sampled_from([0.0, 0.25, 1.0]))
def test_the_labs_bids_never_eat_into_what_is_due(cash: int, due: int, held: int,
                                                  share: float) -> None:
    """Every wake-up, whatever it holds and owes: its bids, all filled, leave it at least the
    kept share of what is due (cash and due in USD here, micro-USD on the exchange)."""
    client = _Client(cash * USD * 1000, held)
    lab = _lab(client, _LabView(due * USD * 1000), due_reserve=share)
    for phase in (0.0, 0.3, 0.7):
        lab.act(phase)
        keep = min(client.cash(), -int(-due * USD * 1000 * share // 1))
        assert client.bid_cost() <= client.cash() - keep


def test_with_the_reserve_the_lab_bids_only_the_cash_beyond_what_is_due() -> None:
    cash, due = 10_000_000_000 * USD, 6_000_000_000 * USD  # $10B held, $6B due
    kept = _Client(cash)
    _lab(kept, _LabView(due)).act(0.1)
    spent = _Client(cash)
    _lab(spent, _LabView(due), due_reserve=0.0).act(0.1)
    # the demand is far beyond the cash: without the rule the bids take nearly all the cash,
    # with it they stop short of the $6B due, within one lot at the top bid of its budget
    top_lot = max(ticks for *_, ticks in kept.orders) * GPUH.tick_value
    assert cash - due - top_lot < kept.bid_cost() <= cash - due
    assert spent.bid_cost() > cash - due
    short = _Client(5_000_000_000 * USD)  # less cash than is due: not a single bid
    _lab(short, _LabView(due)).act(0.1)
    assert short.orders == []


def test_the_reserve_does_not_stop_the_lab_selling_hours_it_does_not_want() -> None:
    client = _Client(0, held=500)
    _lab(client, _LabView(10**18, want=200)).act(0.1)
    assert [(side, lots) for _, side, lots, _ in client.orders] == [(SELL, 300)]


# -- what the economy says is due is what the close settles ------------------------------------

def _contracted(opex_usd_per_year: float) -> Economy:
    """A lab without financing and without cash, owing take-or-pay on 5 GW contracted with
    oracle (about $1.1B a week) and its opex."""
    p = EconomyParams()
    p = msgspec.structs.replace(p, lab_finance=msgspec.structs.replace(
        p.lab_finance, order=(), opex_usd_per_year=opex_usd_per_year))
    economy = Economy(p, np.random.default_rng(1))
    economy.clusters.add_existing("oracle", CLUSTER, 5.0, 0, p.cluster.life_years, 0, CONTRACT)
    economy.power.add_existing(p.power.producer, "existing", 10.0, 0, 1000.0, 0)
    economy.ledger.transfer("lab", OUTSIDE, economy.ledger.balance("lab"), OPEX, 0)
    return economy


def _close_with(economy: Economy, cash: int) -> dict[str, float]:
    """Close the open period with the lab holding exactly ``cash`` micro-USD."""
    have = economy.ledger.balance("lab")
    if have:
        economy.ledger.transfer("lab", OUTSIDE, have, OPEX, economy.period)
    if cash:
        economy.fund("lab", cash, "lab", "own")
    return economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08)).metrics


@pytest.mark.parametrize("opex", [0.0, 5e9])
def test_lab_due_is_exactly_what_the_close_settles(opex: float) -> None:
    economy = _contracted(opex)
    assert economy.lab_due() == 0  # no period open
    economy.open_period()
    first = economy.lab_due()
    assert first > 0
    m = _close_with(economy, 0)  # nothing paid: all of it is arrears
    assert m["lab_arrears_usd"] * USD == pytest.approx(first, abs=1)
    economy.open_period()
    due = economy.lab_due()
    assert due > first  # this week's bill on top of last week's arrears
    m = _close_with(economy, due - 1)  # one micro-USD short: one micro-USD of arrears
    assert m["lab_arrears_usd"] * USD == pytest.approx(1, abs=1e-3)
    economy.open_period()
    m = _close_with(economy, economy.lab_due())  # exactly what is due: nothing left owing
    assert m["lab_arrears_usd"] == 0.0 and economy.ledger.balance("lab") == 0


# -- on the exchange -----------------------------------------------------------------------------

def _treasury_record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """(lab cash at the period's start, lab cash at its close before settling, due) per
    period, read from the economy's ledger, which the close checks against the exchange."""
    rows: list[tuple[int, int, int]] = []
    opened: dict[int, int] = {}
    open_period, settle = Economy.open_period, Economy._settle_lab

    def spy_open(self: Economy, *args: Any, **kwargs: Any) -> Any:
        plan = open_period(self, *args, **kwargs)
        opened[self.period] = self.ledger.balance(self.lab)
        return plan

    def spy_settle(self: Economy, *args: Any, **kwargs: Any) -> Any:
        rows.append((opened[self.period], self.ledger.balance(self.lab), self.lab_due()))
        return settle(self, *args, **kwargs)

    monkeypatch.setattr(Economy, "open_period", spy_open)
    monkeypatch.setattr(Economy, "_settle_lab", spy_settle)
    return rows


WEEKS = 40


def _glut(seed: int, due_reserve: float) -> dict[str, Any]:
    """The counterfactual (the lab buys at spot beyond its contracts) on short build lags, so
    that take-or-pay falls due within a few weeks, and a lab with $1B of cash and none of the
    deals' money (the per-GW investments would leave it flush), so that what is due binds on
    its weekly revenue."""
    loaded = shipped("compute_glut", "no_overbuild", **{
        "scenario.duration": 60.0 * WEEKS,
        "economy.params.cluster.build_lag_years": 0.1,
        "economy.params.lab.cash_usd": 1e9,
        "economy.params.deals": [],
        "agents.lab.params.due_reserve": due_reserve,
    })
    return runner.run(loaded, seed, record=False).tables["economy"].to_pydict()


def test_on_the_exchange_spot_buying_never_eats_into_what_is_due(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _treasury_record(monkeypatch)
    table = _glut(1, 1.0)
    assert len(rows) == WEEKS
    # the week's cash at the close never falls below what was due, or below what the lab
    # held at the start when that was less
    assert all(close >= min(start, due) for start, close, due in rows)
    # not vacuous: take-or-pay was due, the lab bought at spot, and the cash was tight
    assert sum(1 for _, _, due in rows if due > 0) > WEEKS // 2
    assert any(0 < due and start > due and close < start for start, close, due in rows)
    assert max(table["lab_take_or_pay_owed_usd"]) > 0
    # the same run without the rule: spot buying takes cash that was due
    rows.clear()
    _glut(1, 0.0)
    assert any(close < min(start, due) for start, close, due in rows)
