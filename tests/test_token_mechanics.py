"""Token mechanics, each in isolation and then on the exchange: holders' borrowed leverage and
margin calls, redemption for compute at the lab's endpoints, and the lab's buy-backs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.compute.lab import FrontierLab, LabParams
from agents.compute.token_holder import HolderParams, TokenHolder
from agents.economy.compute_token import (
    TokenParams,
    TokenState,
    buyback_budget,
    holder_debt,
    margin_call_sale,
    redeemable_tokens,
)
from exchange.core.instruments import InstrumentSpec
from exchange.core.messages import BUY, SELL
from scenarios import runner
from scenarios.report import Run, leverage_axis, run_outcomes
from tests.sim_helpers import shipped
from tests.test_compute_run import _View

CCT = InstrumentSpec(name="CCT_USD", kind="spot", base="CCT", tick_size="0.0001",
                     lot_size="1000000")
GPUH = InstrumentSpec(name="GPUH_USD", kind="spot", base="GPUH", tick_size="0.001",
                      lot_size="1000000")


# -- the pure rules --------------------------------------------------------------------------


def test_no_margin_call_while_equity_covers_the_maintenance() -> None:
    # 100 tokens, debt 50 (leverage 1), maintenance 15%: a call below p = 50 / 85
    assert margin_call_sale(100, 0.60, 50, 0.15) == 0.0
    q = margin_call_sale(100, 0.55, 50, 0.15)
    assert 0 < q < 100
    # after the forced sale the equity is exactly the maintenance share of the position
    left, debt = 100 - q, 50 - q * 0.55
    assert (left * 0.55 - debt) == pytest.approx(0.15 * left * 0.55)
    assert margin_call_sale(100, 0.0, 50, 0.15) == 100  # nothing is worth anything: all
    assert margin_call_sale(100, 0.1, 50, 0.15) == 100  # capped at the position
    assert margin_call_sale(100, 0.1, 0, 0.15) == 0.0  # no debt, no lender
    with pytest.raises(ValueError):
        margin_call_sale(100, 0.5, 50, 1.0)


def test_debt_is_the_borrowed_share_of_the_position() -> None:
    assert holder_debt(100, 1.0, 0.0) == 0.0
    assert holder_debt(100, 1.0, 1.0) == 50.0
    assert holder_debt(100, 1.0, 3.0) == 75.0


def test_redemption_is_capped_by_the_labs_hours_and_buybacks_by_its_spare_cash() -> None:
    # 10 GPU-hours at $2.00 honour $20 of tokens at par $1
    assert redeemable_tokens(50, 10, 2.0, 1.0) == 20
    assert redeemable_tokens(5, 10, 2.0, 1.0) == 5
    assert redeemable_tokens(5, 0, 2.0, 1.0) == 0.0
    assert buyback_budget(30e9, 20e9, 0.5) == 5e9
    assert buyback_budget(10e9, 20e9, 0.5) == 0.0
    state = TokenState(supply=100.0)
    state.buy_back(30.0)
    hours = state.redeem(20.0, 2.0, TokenParams())
    assert (state.supply, state.bought_back, state.redeemed, hours) == (50.0, 30.0, 20.0, 10.0)


# -- the agents, with a stand-in client -------------------------------------------------------


class _Client:
    """What a holder or the lab reads and sends, nothing else."""

    def __init__(self, held: int = 0, cash: int = 0, last: int | None = None) -> None:
        self.held, self._cash, self.last = held, cash, last
        self.orders: list[tuple[str, int, int, int]] = []
        self.cancels = 0

    def instrument(self, name: str) -> InstrumentSpec:
        return CCT if name == "CCT_USD" else GPUH

    def holding(self, asset: str) -> int:
        return self.held

    def cash(self) -> int:
        return self._cash

    def free_cash(self) -> int:
        return self._cash

    def last_price(self, instrument: str) -> int | None:
        return self.last

    def cancel_all(self, instrument: str) -> None:
        self.cancels += 1

    def place(self, instrument: str, side: int, amount: int, price: int) -> None:
        self.orders.append((instrument, side, amount, price))


class _TokenView(_View):
    def __init__(self, theta: float = 5.0, leverage: float = 0.0, redeem: bool = False) -> None:
        super().__init__(theta)
        self.leverage, self.redeem = leverage, redeem
        self.requests: list[tuple[int, int]] = []

    def token_price(self) -> float:
        return 1.0

    def token_instrument(self) -> str | None:
        return "CCT_USD"

    def token_leverage(self) -> float:
        return self.leverage

    def redemption_open(self) -> bool:
        return self.redeem

    def request_redemption(self, holder: int, lots: int) -> None:
        self.requests.append((holder, lots))

    def redemption_pending(self, holder: int) -> int:
        return sum(n for h, n in self.requests if h == holder)


def _holder(view: _TokenView, client: _Client, tokens: int = 100) -> TokenHolder:
    agent = TokenHolder(7, HolderParams(tokens=tokens), np.random.default_rng(1), "CCT_USD")
    agent.bind(client)  # type: ignore[arg-type]
    agent.attach_view(view)
    return agent


@pytest.mark.parametrize("leverage", [0.0, 1.0, 3.0])
def test_a_levered_holder_is_forced_to_sell_when_the_price_falls(leverage: float) -> None:
    threshold = leverage / (1 + leverage) / (1 - 0.15)  # price at which equity hits 15%
    above = _Client(held=100, last=int(round((threshold + 0.02) / 0.0001)))
    holder = _holder(_TokenView(leverage=leverage), above)
    holder.act(0.5)
    assert above.orders == [] and holder.margin_calls == 0  # margin holds: it keeps all
    below = _Client(held=100, last=int(round((threshold - 0.05) / 0.0001)))
    holder = _holder(_TokenView(leverage=leverage), below)
    holder.act(0.5)
    if leverage == 0.0:  # bought outright: a price fall alone never sells
        assert below.orders == []
        return
    assert holder.margin_calls == 1
    [(name, side, lots, _)] = below.orders
    price = (threshold - 0.05)
    want = margin_call_sale(100e6, price, holder_debt(100e6, 1.0, leverage), 0.15)
    assert (name, side, lots) == ("CCT_USD", SELL, math.ceil(want / 1e6))
    # proceeds repay the debt: with enough cash in hand the lender has nothing to call
    repaid = _Client(held=100, last=below.last, cash=int(holder_debt(100e6, 1.0, leverage)
                                                         * 1e6))
    holder = _holder(_TokenView(leverage=leverage), repaid)
    holder.act(0.5)
    assert repaid.orders == []


def test_a_running_holder_redeems_first_then_sells_what_was_not_honoured() -> None:
    view = _TokenView(theta=-5.0, redeem=True)  # far below the threshold: it runs
    client = _Client(held=40)
    holder = _holder(view, client)
    holder.on_period(0)
    assert holder.running
    holder.act(0.3)
    assert view.requests == [(7, 40)] and client.orders == []  # waits for the close
    holder.act(0.6)  # the request is still pending: nothing is sold
    assert client.orders == [] and view.requests == [(7, 40)]
    view.requests.clear()  # the close honoured 25 lots; the rest lapsed
    client.held = 15
    holder.act(0.1)
    assert [(side, lots) for _, side, lots, _ in client.orders] == [(SELL, 15)]
    assert view.requests == []  # it asks once


def test_the_lab_bids_its_spare_cash_for_its_tokens_and_keeps_it_out_of_the_ladder() -> None:
    client = _Client(cash=30_000 * 10**6)  # $30,000
    lab = FrontierLab(1, LabParams(buyback_share=0.5, buyback_reserve_usd=10_000.0,
                                   buyback_price=0.9), np.random.default_rng(1), "GPUH_USD")
    lab.bind(client)  # type: ignore[arg-type]
    lab.attach_view(_TokenView())
    lab.buy_back()
    # $10,000 of budget does not buy one lot (1M tokens at $0.90): no order
    assert client.orders == [] and lab.buyback_reserved == 0
    client = _Client(cash=30_000 * 10**6 * 10**6)  # $30B
    lab.bind(client)  # type: ignore[arg-type]
    lab.buy_back()
    [(name, side, lots, ticks)] = client.orders
    assert (name, side, ticks) == ("CCT_USD", BUY, 9000)
    budget = buyback_budget(30_000e6, 10_000.0, 0.5)  # half of ($30B - $10,000)
    assert lots == int(budget * 1e6 // (9000 * CCT.tick_value))
    assert lab.buyback_reserved == lots * 9000 * CCT.tick_value
    off = _Client(cash=30_000 * 10**12)
    idle = FrontierLab(1, LabParams(), np.random.default_rng(1), "GPUH_USD")
    idle.bind(off)  # type: ignore[arg-type]
    idle.attach_view(_TokenView())
    idle.buy_back()
    assert off.orders == []  # buyback_share 0: never


# -- on the exchange ---------------------------------------------------------------------------

WEEKS = 20


def _run(seed: int, **overrides: object) -> dict[str, list[float]]:
    loaded = shipped("compute_run", **{"scenario.duration": 60.0 * WEEKS,
                                       "economy.token_shock_period": 4, **overrides})
    return runner.run(loaded, seed, record=False).tables["economy"].to_pydict()


def test_leverage_makes_the_same_shock_sell_off_faster_through_margin_calls() -> None:
    calm = _run(3, **{"economy.token_shock": 0.1, "economy.token_leverage": 0.0})
    levered = _run(3, **{"economy.token_shock": 0.1, "economy.token_leverage": 3.0})
    assert max(calm["token_margin_calls"]) == 0
    assert max(levered["token_margin_calls"]) > 0 and max(levered["token_forced_lots"]) > 0
    # the same signals, but forced sales on top: never a higher price, lower somewhere
    assert all(b <= a + 1e-12 for a, b in zip(calm["token_price"], levered["token_price"],
                                              strict=True))
    assert any(b < a - 0.05 for a, b in zip(calm["token_price"], levered["token_price"],
                                            strict=True))
    # with no shock nobody's margin is called: leverage alone does not start a sale here
    quiet = _run(3, **{"economy.token_shock": 0.0, "economy.token_leverage": 3.0})
    assert max(quiet["token_margin_calls"]) == 0 and quiet["token_price"][-1] == 1.0


def test_redemptions_are_served_from_the_labs_hours_and_retire_tokens() -> None:
    on = _run(3, **{"economy.token_shock": 0.1, "economy.token_redemption": True})
    served = sum(on["token_redeemed_lots_period"])
    assert served > 0
    assert on["token_redeemed"][-1] == pytest.approx(served * 1e6)
    assert on["token_supply"][-1] == pytest.approx(on["token_supply"][0] - served * 1e6)
    assert sum(on["token_redemption_gpu_hours"]) > 0
    off = _run(3, **{"economy.token_shock": 0.1})
    assert sum(off["token_redeemed_lots_period"]) == 0


def test_buybacks_retire_tokens_and_the_ledger_follows_the_cash() -> None:
    # check_ledger is on: every week the economy compares each entity's exchange cash with
    # its ledger, so the buy-backs' cash leaving the lab must be recorded to get this far
    on = _run(3, **{"economy.token_shock": 0.1, "agents.lab.params.buyback_share": 0.5})
    bought = sum(on["token_bought_back_lots_period"])
    assert bought > 0
    assert on["token_bought_back"][-1] == pytest.approx(bought * 1e6)
    off = _run(3, **{"economy.token_shock": 0.1})
    assert on["token_price"][-1] > off["token_price"][-1]  # the bid is a floor in the run


def _econ(shock: float, lev: float, prices: list[float], builds: list[float]) -> dict:
    n = len(prices)
    cols = {"token_shock": [shock] * n, "token_sensitivity": [0.05] * n,
            "token_leverage": [lev] * n, "token_shock_period": [1.0] * n,
            "token_price": prices, "builds_gw": builds}
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def test_on_the_holders_axis_the_reference_is_no_shock_and_no_leverage() -> None:
    runs = [Run("ref", 1, "", True, (), _econ(0.0, 0.0, [1, 1, 1], [5, 3, 3])),
            Run("lev", 1, "", True, (), _econ(0.0, 2.0, [1, 0.5, 0.1], [5, 1, 1])),
            Run("shock", 1, "", True, (), _econ(0.1, 0.0, [1, 0.5, 0.1], [5, 3, 3]))]
    assert leverage_axis(runs) == "holders"
    out = {(o.shock, o.leverage): o for o in run_outcomes(runs)}
    assert not out[(0.0, 0.0)].run  # the reference itself
    assert out[(0.0, 2.0)].run  # collapsed and ordered less than the reference
    assert out[(0.1, 0.0)].capacity_cut is False and not out[(0.1, 0.0)].run
