"""Cost of capital (credit quality, leverage, the token), loans, break-even, capex, default."""

from __future__ import annotations

import numpy as np
import pytest

from agents.economy.capacity import ClusterParams
from agents.economy.clearing import clear, run_standalone
from agents.economy.economy import Economy, PeriodObservation
from agents.economy.energy import EnergyParams
from agents.economy.finance import (
    FinanceParams,
    Loan,
    break_even_price,
    cost_of_debt,
    early_regime,
    levelised_cost,
    merchant_build_gw,
    token_term,
)
from agents.economy.intents import BurnIntent
from agents.economy.params import EconomyParams, SellerParams

F, C, E = FinanceParams(), ClusterParams(), EnergyParams()


def test_buyer_credit_quality_moves_the_rate_by_hundreds_of_bp() -> None:
    ig = cost_of_debt(F, True, 0.0, 1.0)
    hy = cost_of_debt(F, False, 0.0, 1.0)
    assert ig == pytest.approx(F.base_rate + 0.0225)
    assert hy == pytest.approx(F.base_rate + 0.045)
    early = early_regime(F)
    assert cost_of_debt(early, False, 0.0, 1.0) - cost_of_debt(early, True, 0.0, 1.0) \
        == pytest.approx(0.13 - 0.0625)


def test_a_levered_neocloud_pays_its_observed_rates() -> None:
    """CoreWeave-like: non-IG and ~0.8 debt/assets -> inside its 10-15% effective rates."""
    assert 0.10 <= cost_of_debt(F, False, 0.8, 1.0) <= 0.15
    assert cost_of_debt(F, False, 0.9, 1.0) > cost_of_debt(F, False, 0.8, 1.0)
    assert cost_of_debt(F, False, 0.3, 1.0) == cost_of_debt(F, False, 0.0, 1.0)


def test_lower_token_price_raises_the_rate_monotonically() -> None:
    prices = [1.1, 1.0, 0.8, 0.5, 0.2, 0.0]
    rates = [cost_of_debt(F, True, 0.0, p) for p in prices]
    assert all(b > a for a, b in zip(rates, rates[1:], strict=False))
    assert token_term(0.0, F) == pytest.approx(F.token_sensitivity)
    # relief above the reference is capped
    assert token_term(10.0, F) == pytest.approx(-F.token_sensitivity * F.token_relief_cap)


def test_lower_token_price_means_fewer_builds() -> None:
    price = 2.35
    builds = []
    for token in (1.0, 0.5, 0.1):
        rate = cost_of_debt(F, False, 0.5, token)
        builds.append(merchant_build_gw(price, rate, 10.0, 0.25, 0.08, C, E, F))
    assert builds[0] > builds[1] > builds[2] >= 0.0


def test_token_feedback_reaches_capacity_in_the_economy() -> None:
    """Same seed, same everything but the token's price path: a collapsed token means dearer
    capital and fewer GW ordered by the sellers. A year, because the sellers' spare cash goes
    to the contracted builds of the first two quarters (the vendors finance only chips)."""
    params = EconomyParams()
    periods = 53
    high = run_standalone(params, periods, np.random.default_rng(3), lambda k: 1.0)
    low = run_standalone(params, periods, np.random.default_rng(3), lambda k: 0.2)
    rate_hi = high.results[-1].metrics["rate_coreweave"]
    rate_lo = low.results[-1].metrics["rate_coreweave"]
    assert rate_lo > rate_hi
    merchant = [sum(o.gw for r in run.results for o in r.orders if o.tag == "merchant")
                for run in (high, low)]
    assert merchant[1] < merchant[0]


def test_break_even_matches_the_facts() -> None:
    assert break_even_price(F, C, E) == pytest.approx(1.65, abs=0.05)
    assert break_even_price(F, C, E, investment_grade=True) < break_even_price(F, C, E)
    # idle capacity costs: lower utilisation raises the levelised cost
    r = cost_of_debt(F, False, 0.0, 1.0)
    assert levelised_cost(r, 0.5, 0.08, C, E, F) > levelised_cost(r, 0.8, 0.08, C, E, F)
    # a three-year life (the bears' case) raises the break-even
    short = ClusterParams(life_years=3.0)
    assert break_even_price(F, short, E) > break_even_price(F, C, E) + 0.3


def test_loan_amortises_exactly() -> None:
    loan = Loan.originate("s", 1_000_000_007, 0.1, 5.0, 168 / 8766)
    principal = interest = 0
    while loan.balance > 0:
        i, p = loan.pay()
        interest += i
        principal += p
    assert principal == 1_000_000_007
    assert loan.periods_left == 0
    assert 0.2 < interest / principal < 0.35  # ~10% over 5 years on a declining balance


def test_a_seller_that_cannot_pay_defaults_and_its_capacity_is_sold_at_a_discount() -> None:
    broke = SellerParams(name="broke", installed_gw=1.0, investment_grade=False, cash_usd=0.0,
                         leverage=0.9, merchant_builds=False)
    rich = SellerParams(name="rich", installed_gw=1.0, investment_grade=True, cash_usd=500e9,
                        leverage=0.0, merchant_builds=False)
    params = EconomyParams(sellers=(broke, rich))
    econ = Economy(params, np.random.default_rng(0))
    plan = econ.open_period()
    book = econ.clusters.assets(0, "broke")
    expected_price = sum(c.book_value(0) * 300_000 // 1_000_000
                         for c in econ.clusters.owned("broke"))
    gw = econ.clusters.online_gw(0, "broke")
    debt = econ.sellers["broke"].debt()
    # nobody buys anything: the broke seller has no revenue to pay opex and debt service
    obs = PeriodObservation(spot_price=2.0, kwh_price=0.08,
                            unsold_lots={n: s.merchant_lots for n, s in plan.sellers.items()})
    result = econ.close_period(obs)
    assert [d.seller for d in result.defaults] == ["broke"]
    record = result.defaults[0]
    assert record.acquirer == "rich"
    assert record.price == expected_price
    assert abs(record.price - book * 0.3) <= len(econ.clusters.cohorts)
    assert record.price < book
    assert record.debt == debt and record.lender_loss == debt - record.price
    assert econ.sellers["broke"].defaulted
    assert econ.clusters.online_gw(0, "broke") == 0.0
    assert econ.clusters.online_gw(0, "rich") == pytest.approx(1.0 + gw)
    # the unsold hours still perish
    burns = [i for i in result.intents if isinstance(i, BurnIntent)]
    assert {b.holder for b in burns} >= {"broke", "rich"}
    # next period the defaulter mints nothing and the acquirer mints both fleets
    plan2 = econ.open_period()
    assert "broke" not in plan2.sellers
    assert plan2.sellers["rich"].online_gw == pytest.approx(1.0 + gw)


def test_without_a_solvent_buyer_the_distressed_fund_takes_the_capacity() -> None:
    broke = SellerParams(name="broke", installed_gw=1.0, investment_grade=False, cash_usd=0.0,
                         leverage=0.9, merchant_builds=False)
    params = EconomyParams(sellers=(broke,))
    econ = Economy(params, np.random.default_rng(0))
    plan = econ.open_period()
    obs = clear(econ, plan)
    # strip the revenue: the seller sells nothing this period
    obs = PeriodObservation(spot_price=obs.spot_price, kwh_price=obs.kwh_price)
    result = econ.close_period(obs)
    assert result.defaults and result.defaults[0].acquirer == params.distressed_buyer
    assert econ.clusters.online_gw(0, params.distressed_buyer) > 0
    # the fund is capitalised for a year: it does not default at once
    plan = econ.open_period()
    econ.close_period(clear(econ, plan))
    assert not econ.sellers[params.distressed_buyer].defaulted
