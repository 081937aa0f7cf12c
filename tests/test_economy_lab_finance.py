"""The lab's financing (agents/economy/lab_finance.py), each mechanism in isolation: equity
rounds sized to the shortfall within a cap that follows revenue growth, notes, the partners'
backstop within its limits, arrears paid down oldest first, the default, ledger tags that
sum to the cash moved, and determinism by seed."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from agents.economy import Economy, EconomyParams
from agents.economy.capacity import CLUSTER
from agents.economy.economy import CONTRACT
from agents.economy.lab_finance import (
    Arrear,
    LabFinanceParams,
    equity_cap,
    pay_oldest_first,
    revenue_growth,
    round_share,
)
from agents.economy.ledger import BACKSTOP_CREDIT, EQUITY, OPEX, OUTSIDE, TOKEN_ISSUANCE
from agents.economy.records import PeriodObservation
from agents.economy.units import usd_to_micros


def _params(**finance: object) -> EconomyParams:
    p = EconomyParams()
    return msgspec.structs.replace(
        p, lab_finance=msgspec.structs.replace(p.lab_finance, **finance))


def _contracted(params: EconomyParams, gw: float = 5.0) -> Economy:
    """An economy whose lab has no cash and owes take-or-pay on ``gw`` of contracted GW
    (about $1.1B a week for 5 GW, several times what it receives in a week)."""
    economy = Economy(params, np.random.default_rng(1))
    p = economy.params
    economy.clusters.add_existing("oracle", CLUSTER, gw, 0, p.cluster.life_years, 0, CONTRACT)
    economy.power.add_existing(p.power.producer, "existing", 2 * gw, 0, 1000.0, 0)
    economy.ledger.transfer("lab", OUTSIDE, economy.ledger.balance("lab"), OPEX, 0)
    return economy


def _step(economy: Economy, cash: int | None = None) -> dict[str, float]:
    """One period; with ``cash`` the lab holds exactly that much when the period closes."""
    plan = economy.open_period()
    if cash is not None:
        have = economy.ledger.balance("lab")
        if have:
            economy.ledger.transfer("lab", OUTSIDE, have, OPEX, economy.period)
        if cash:
            economy.fund("lab", cash, "lab", "own")
    lots = sum(s.contracted_lots for s in plan.sellers.values())
    obs = PeriodObservation(spot_price=2.35, kwh_price=0.08, consumed_lots={"lab": lots})
    return economy.close_period(obs).metrics


def _owed(economy: Economy) -> int:
    p = economy.params
    return usd_to_micros(economy.contracted_gw("oracle") * p.commitments.usd_per_gw_year
                         * economy.clock.years_per_period)


# -- pure rules --------------------------------------------------------------------------------


def test_equity_cap_follows_revenue_growth_up_to_its_multiple() -> None:
    p = LabFinanceParams()
    assert equity_cap(p, p.reference_growth) == pytest.approx(40e9)
    assert equity_cap(p, p.reference_growth / 2) == pytest.approx(20e9)
    assert equity_cap(p, 10.0) == pytest.approx(100e9)  # 2.5 x $40B at most
    assert equity_cap(p, 0.0) == 0.0 and equity_cap(p, -0.3) == 0.0


def test_revenue_growth_is_annualised_and_averages_the_quarter() -> None:
    flat = [100] * 60
    assert revenue_growth(flat, 52, 0.54) == pytest.approx(0.0)
    doubling = [int(1000 * 2 ** (k / 52)) for k in range(120)]
    assert revenue_growth(doubling, 52, 0.54) == pytest.approx(1.0, rel=1e-3)
    assert revenue_growth([5], 52, 0.54) == 0.54  # no record yet: the reference
    # a year of record is not needed: half a year at the same pace gives the same growth
    assert revenue_growth(doubling[:40], 52, 0.54) == pytest.approx(1.0, rel=1e-2)


def test_round_share_is_post_money_at_the_revenue_multiple() -> None:
    p = LabFinanceParams()
    assert round_share(25e9, 1e9, p) == pytest.approx(0.5)  # $25B pre-money, $25B in
    assert round_share(0.0, 1e9, p) == 0.0


def test_arrears_are_paid_oldest_first() -> None:
    arrears = [Arrear(payee="msft", period=3, micros=50, deferred=False),
               Arrear(payee="oracle", period=1, micros=30, deferred=True),
               Arrear(payee="coreweave", period=1, micros=20, deferred=False)]
    paid = [(a.payee, x) for a, x in pay_oldest_first(arrears, 60)]
    # period 1 first (plain before deferred within a period), then period 3 with what is left
    assert paid == [("coreweave", 20), ("oracle", 30), ("msft", 10)]
    assert pay_oldest_first(arrears, 0) == []


def test_unknown_or_repeated_sources_are_rejected() -> None:
    with pytest.raises(ValueError):
        LabFinanceParams(order=("equity", "bonds"))
    with pytest.raises(ValueError):
        LabFinanceParams(order=("equity", "equity"))


# -- equity rounds -----------------------------------------------------------------------------


def test_an_equity_round_raises_exactly_the_shortfall() -> None:
    economy = _contracted(_params(order=("equity",)))
    plan = economy.open_period()
    cash = economy.ledger.balance("lab")
    owed = _owed(economy)
    assert 0 < cash < owed
    lots = sum(s.contracted_lots for s in plan.sellers.values())
    result = economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08,
                                                    consumed_lots={"lab": lots}))
    m = result.metrics
    assert m["lab_equity_raised_usd"] == pytest.approx((owed - cash) / 1e6, abs=1e-6)
    assert m["lab_arrears_usd"] == 0.0 and m["lab_take_or_pay_shortfall_usd"] == 0.0
    assert economy.ledger.balance("lab") == 0
    rounds = [t for t in result.transfers if t.kind == EQUITY and t.payee == "lab"]
    assert [t.payer for t in rounds] == ["equity_investors"]
    assert rounds[0].amount == owed - cash
    assert m["lab_investor_share"] > 0.0


def test_equity_beyond_the_years_cap_is_not_raised_and_the_rest_is_arrears() -> None:
    cap = 0.2e9  # at the reference growth (no record yet) the year's cap is this
    economy = _contracted(_params(order=("equity",), equity_cap_usd=cap))
    owed = _owed(economy)
    m1 = _step(economy, cash=0)
    assert m1["lab_equity_raised_usd"] == pytest.approx(cap)
    assert m1["lab_arrears_usd"] == pytest.approx((owed - usd_to_micros(cap)) / 1e6)
    m2 = _step(economy, cash=0)  # the same year: the cap is used up
    assert m2["lab_equity_raised_usd"] == pytest.approx(cap)
    assert m2["lab_arrears_usd"] == pytest.approx((2 * owed - usd_to_micros(cap)) / 1e6)


def test_notes_are_sold_in_whole_lots_within_their_cap() -> None:
    economy = _contracted(_params(order=("notes",), notes_cap_usd_per_year=0.3e9))
    supply = economy.token.supply
    result_m = _step(economy, cash=0)
    assert result_m["lab_notes_issued_usd"] == pytest.approx(0.3e9)  # the cap
    assert economy.token.supply == pytest.approx(supply + 0.3e9)  # at par $1
    notes = [t for t in economy.ledger.transfers if t.kind == TOKEN_ISSUANCE]
    assert sum(t.amount for t in notes) == usd_to_micros(0.3e9)
    off = _contracted(_params(order=("notes",), notes=False))
    assert _step(off, cash=0)["lab_notes_issued_usd"] == 0.0


# -- the backstop ------------------------------------------------------------------------------


def test_the_backstop_is_off_unless_switched_on() -> None:
    economy = _contracted(_params(order=("vendor_credit",)))
    m = _step(economy, cash=0)
    assert m["lab_vendor_credit_usd"] == 0.0 and m["lab_deferred_usd"] == 0.0
    assert m["lab_arrears_usd"] > 0.0


def test_vendor_credit_and_deferral_stay_within_their_limits() -> None:
    limits = {"nvidia": 0.1e9, "amd": 0.0, "broadcom": 0.05e9}
    p = _params(order=("vendor_credit",), backstop=True, deferral_years=0.005)
    p = msgspec.structs.replace(p, vendors=msgspec.structs.replace(p.vendors,
                                                                     lending_limit_usd=limits))
    economy = _contracted(p)
    owed = _owed(economy)
    m = _step(economy, cash=0)
    credit = usd_to_micros(0.15e9)
    assert economy.lab_credit == {"broadcom": usd_to_micros(0.05e9),
                                  "nvidia": usd_to_micros(0.1e9)}
    assert economy.vendor_room("nvidia") == 0  # its credit to the lab uses its lending limit
    limit = int(0.005 * owed / economy.clock.years_per_period)
    assert m["lab_deferred_usd"] == pytest.approx(limit / 1e6)
    assert m["lab_arrears_deferred_usd"] == pytest.approx(limit / 1e6)
    assert m["lab_arrears_usd"] == pytest.approx((owed - credit) / 1e6)
    # the next period the seller's deferral room is used up: everything unpaid is plain
    m2 = _step(economy, cash=0)
    assert m2["lab_deferred_usd"] == pytest.approx(limit / 1e6)
    assert m2["lab_arrears_usd"] - m2["lab_arrears_deferred_usd"] == pytest.approx(
        (2 * owed - credit - limit) / 1e6)
    credit_in = [t for t in economy.ledger.transfers if t.kind == BACKSTOP_CREDIT]
    assert sum(t.amount for t in credit_in) == credit


def test_deferred_arrears_do_not_make_a_default_but_plain_ones_do() -> None:
    deferring = _contracted(_params(order=(), backstop=True, deferral_years=10.0,
                                    grace_weeks=2))
    for _ in range(4):
        m = _step(deferring, cash=0)
    assert m["lab_defaulted"] == 0.0 and m["lab_arrears_usd"] == m["lab_arrears_deferred_usd"]
    plain = _contracted(_params(order=(), grace_weeks=2))
    ms = [_step(plain, cash=0) for _ in range(3)]
    assert [m["lab_defaulted"] for m in ms] == [0.0, 0.0, 1.0]  # 2 weeks past due in week 3
    owed = ms[1]["lab_take_or_pay_owed_usd"]
    assert ms[2]["lab_written_off_usd"] == pytest.approx(3 * owed, rel=1e-9)
    assert ms[2]["lab_arrears_usd"] == 0.0
    assert ms[2]["lab_unpaid_usd"] == pytest.approx(ms[2]["lab_written_off_usd"])
    # the contracts have ended: the capacity is the seller's, the lab owes nothing more
    assert plain.contracted_gw() == 0.0
    assert _step(plain, cash=0)["lab_take_or_pay_owed_usd"] == 0.0
    # the seller the lab owed borrows at the non-investment-grade spread from now on
    assert plain.seller_rate("oracle", True) == plain.seller_rate("oracle", False)
    assert plain.seller_rate("msft", True) < plain.seller_rate("msft", False)  # not exposed


# -- arrears -----------------------------------------------------------------------------------


def test_arrears_are_paid_down_oldest_first_when_cash_comes_in() -> None:
    economy = _contracted(_params(order=()))
    owed = _owed(economy)
    _step(economy, cash=0)
    _step(economy, cash=0)
    assert [a.micros for a in economy.arrears] == [owed, owed]
    # enough for the first arrear and half the second, nothing for this week's bill
    m = _step(economy, cash=owed + owed // 2)
    left = sorted((a.period, a.micros) for a in economy.arrears)
    assert left == [(1, owed - owed // 2), (2, owed)]
    assert m["lab_arrears_paid_usd"] == pytest.approx((owed + owed // 2) / 1e6)
    assert m["lab_take_or_pay_shortfall_usd"] == pytest.approx(owed / 1e6)


# -- the ledger and determinism ----------------------------------------------------------------


def _shortfall_run(seed: int, periods: int = 120) -> tuple[Economy, list[dict[str, float]]]:
    """A lab owing take-or-pay on 20 GW (~$4.5B a week) with every source and the backstop
    on, and a demand shock, so that its revenue, hence its growth and equity cap, depends on
    the seed."""
    p = _params(backstop=True, equity_cap_usd=5e9)
    p = msgspec.structs.replace(p, demand=msgspec.structs.replace(p.demand, shock_sigma=0.03))
    economy = Economy(p, np.random.default_rng(seed))
    economy.clusters.add_existing("oracle", CLUSTER, 12.0, 0, p.cluster.life_years, 0,
                                  CONTRACT)
    economy.clusters.add_existing("msft", CLUSTER, 8.0, 0, p.cluster.life_years, 0, CONTRACT)
    economy.power.add_existing(p.power.producer, "existing", 40.0, 0, 1000.0, 0)
    return economy, [_step(economy) for _ in range(periods)]


def test_financing_tags_sum_to_the_cash_moved_and_match_the_metrics() -> None:
    economy, ms = _shortfall_run(5)
    m = ms[-1]
    ledger = economy.ledger
    assert m["lab_equity_raised_usd"] > 0 and m["lab_vendor_credit_usd"] > 0
    assert m["lab_notes_issued_usd"] > 0 and m["lab_deferred_usd"] > 0
    for t in ledger.transfers:
        assert sum(v for _, _, v in t.parts) == t.amount
    equity = [t for t in ledger.transfers if t.kind == EQUITY and t.payer == "equity_investors"]
    assert sum(t.amount for t in equity) == pytest.approx(m["lab_equity_raised_usd"] * 1e6,
                                                          abs=1)
    assert all(s == "equity_investors" and c == EQUITY for t in equity for s, c, _ in t.parts)
    credit = [t for t in ledger.transfers if t.kind == BACKSTOP_CREDIT]
    assert sum(t.amount for t in credit) == pytest.approx(m["lab_vendor_credit_usd"] * 1e6,
                                                          abs=1)
    assert {t.payer for t in credit} <= set(economy.params.vendors.vendor_shares)
    notes = [t for t in ledger.transfers if t.kind == TOKEN_ISSUANCE and t.payee == "lab"]
    assert sum(t.amount for t in notes) == pytest.approx(m["lab_notes_issued_usd"] * 1e6,
                                                         abs=1)
    # every micro-USD the lab received or paid is in its pool: inflows - outflows = balance
    inflow = sum(t.amount for t in ledger.transfers if t.payee == "lab")
    outflow = sum(t.amount for t in ledger.transfers if t.payer == "lab")
    assert inflow - outflow == ledger.balance("lab")


def test_the_same_seed_gives_the_same_financing() -> None:
    a, ma = _shortfall_run(11, 80)
    b, mb = _shortfall_run(11, 80)
    assert ma == mb
    assert a.ledger.transfers == b.ledger.transfers
    _, mc = _shortfall_run(12, 80)
    assert ma != mc
    assert ma[-1]["lab_equity_raised_usd"] != mc[-1]["lab_equity_raised_usd"]
