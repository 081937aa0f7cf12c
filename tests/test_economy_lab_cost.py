"""The lab's cost per GPU-hour: a cost, on an accrual basis, whatever it resells.

In three-year-depreciation runs the lab resold surplus contracted hours (take-or-pay at $1.24
per GPU-hour of capacity) at $3-5 and the old "net cost per hour used" (spend less resale
revenue, per hour used) went negative: a trading gain shown as a negative cost. Hours the lab
was delivered but could not pay for also counted as free. These tests pin both down."""

from __future__ import annotations

import numpy as np
import pytest

from agents.economy import Economy, EconomyParams
from agents.economy.capacity import CLUSTER
from agents.economy.economy import CONTRACT
from agents.economy.ledger import END_USER_REVENUE, END_USERS, OPEX, OUTSIDE
from agents.economy.records import PeriodObservation, Purchase


def test_resales_above_cost_are_a_gain_not_a_negative_cost() -> None:
    economy = Economy(EconomyParams(), np.random.default_rng(1))
    economy.fund("users", 10_000_000_000, END_USERS, END_USER_REVENUE)
    economy.open_period()
    # the lab buys 100 GPU-hours at $1, resells 60 at $10 and uses the other 40
    obs = PeriodObservation(
        spot_price=1.0, kwh_price=0.08,
        purchases=(Purchase("lab", "msft", 100_000_000, 100.0),
                   Purchase("users", "lab", 600_000_000, 60.0)),
        consumed_lots={"lab": 40})
    economy.lab_hours = 0.0  # only this period's trades in the account
    m = economy.close_period(obs).metrics
    assert economy.lab_resale_revenue > economy.lab_cost  # resales fetched more than it paid
    assert m["lab_gross_cost"] == pytest.approx(1.0)
    assert m["lab_avg_cost"] == pytest.approx(1.0)  # the 40 hours used cost $1 each
    assert m["lab_avg_cost"] >= 0.0
    assert m["lab_resale_gain_usd"] == pytest.approx(540.0)  # $600 for hours that cost $60


def test_resales_below_cost_and_hours_left_unused_raise_the_cost_of_hours_used() -> None:
    economy = Economy(EconomyParams(), np.random.default_rng(1))
    economy.fund("users", 10_000_000_000, END_USERS, END_USER_REVENUE)
    economy.open_period()
    # 100 hours at $2: 50 dumped at $0.50, 10 perish, 40 used
    obs = PeriodObservation(
        spot_price=2.0, kwh_price=0.08,
        purchases=(Purchase("lab", "msft", 200_000_000, 100.0),
                   Purchase("users", "lab", 25_000_000, 50.0)),
        consumed_lots={"lab": 40}, unsold_lots={"lab": 10})
    m = economy.close_period(obs).metrics
    assert m["lab_gross_cost"] == pytest.approx(2.0)
    assert m["lab_avg_cost"] == pytest.approx((200.0 - 25.0) / 40.0)
    assert m["lab_resale_gain_usd"] == 0.0


def test_take_or_pay_counts_as_owed_when_the_lab_cannot_pay() -> None:
    import msgspec

    # financing off (no source to raise from): this test is about the accrual of what the lab
    # cannot pay; with its default sources it would raise equity instead (test_economy_lab_
    # finance.py)
    params = EconomyParams()
    params = msgspec.structs.replace(
        params, lab_finance=msgspec.structs.replace(params.lab_finance, order=()))
    economy = Economy(params, np.random.default_rng(1))
    p = economy.params
    # 5 GW contracted (take-or-pay ~$1.1B a week, four times the lab's weekly revenue), and
    # the power to run it, so that every GW delivers its hours
    economy.clusters.add_existing("oracle", CLUSTER, 5.0, 0, p.cluster.life_years, 0,
                                  CONTRACT)
    economy.power.add_existing(p.power.producer, "existing", 10.0, 0, 1000.0, 0)
    cash = economy.ledger.balance("lab")
    economy.ledger.transfer("lab", OUTSIDE, cash, OPEX, 0)
    plan = economy.open_period()
    revenue = economy.ledger.balance("lab")  # the week's revenue and deal tranches: all it has
    lots = plan.sellers["oracle"].contracted_lots
    m = economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08,
                                               consumed_lots={"lab": lots})).metrics
    owed = m["lab_take_or_pay_owed_usd"]
    assert m["lab_take_or_pay_shortfall_usd"] == pytest.approx(owed - revenue / 1e6, abs=1e-6)
    assert m["lab_unpaid_usd"] == pytest.approx(owed - revenue / 1e6, abs=1e-6)
    # the hours cost the contract price, paid or not: $1.24 per GPU-hour of capacity
    per_hour = p.commitments.usd_per_gw_year / economy.gpu_hours_per_gw_period() \
        * economy.clock.years_per_period
    delivered = lots * p.lots.gpu_hours
    assert m["lab_gross_cost"] == pytest.approx(owed / delivered, rel=1e-9)
    assert m["lab_gross_cost"] == pytest.approx(per_hour, rel=0.01)


@pytest.mark.parametrize("life", [6.0, 3.0])
def test_the_lab_cost_is_never_negative_in_a_standalone_run(life: float) -> None:
    import msgspec

    from agents.economy.clearing import run_standalone

    params = EconomyParams()
    params = msgspec.structs.replace(
        params, cluster=msgspec.structs.replace(params.cluster, life_years=life))
    run = run_standalone(params, 208, np.random.default_rng(3))
    costs, gross = run.series("lab_avg_cost"), run.series("lab_gross_cost")
    assert min(costs) >= 0.0 and min(gross) >= 0.0
    assert costs[-1] >= gross[-1] - 1e-9
