"""What the lab owes under take-or-pay and what it earns (docs/model.md, 3.8 and 3.14).

* Take-or-pay binds the buyer, not the seller: the lab pays for the contracted capacity a
  seller can deliver, used or not, and not for the part a seller cannot run because its power
  is rationed or (on the exchange) it holds too few kWh. Before this rule the lab paid for
  every contracted GW online: 5.2% of the contracted hours of the glut scenario's seed 1 were
  never delivered, $45B of take-or-pay.
* The lab's revenue per unit of its demand grows at ``lab.monetisation_growth`` a year (0 by
  default, the calibration), the assumption that decides its default.
* The glut scenario's ``lab_default`` case sweeps it against the programme's size, and the
  sensitivity report says when the lab defaulted.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from agents.economy import Economy, EconomyParams
from agents.economy.capacity import CLUSTER
from agents.economy.economy import CONTRACT
from agents.economy.intents import TransferIntent
from agents.economy.ledger import OPEX, OUTSIDE
from agents.economy.params import LabParams
from agents.economy.records import PeriodObservation
from agents.economy.units import usd_to_micros

R = msgspec.structs.replace


def _economy(firm_gw: float) -> Economy:
    """Oracle with 5 GW contracted to the lab on top of the default fleet (10 GW installed),
    with ``firm_gw`` of firm power at the start and a lab rich enough to pay what it owes."""
    p = EconomyParams()
    p = R(p, power=R(p.power, initial_firm_gw=firm_gw))
    economy = Economy(p, np.random.default_rng(1))
    economy.clusters.add_existing("oracle", CLUSTER, 5.0, 0, p.cluster.life_years, 0, CONTRACT)
    economy.fund("lab", usd_to_micros(1e12), "lab", "own")
    return economy


def _take_or_pay(intents: tuple) -> dict[str, int]:
    return {i.payee: i.micros for i in intents
            if isinstance(i, TransferIntent) and i.reason == "take-or-pay"}


def _full(economy: Economy, gw: float) -> float:
    """Micro-USD of one period's take-or-pay on ``gw`` fully delivered."""
    p = economy.params
    return gw * p.commitments.usd_per_gw_year * economy.clock.years_per_period * 1e6


def test_the_lab_pays_for_all_contracted_gw_when_power_does_not_bind() -> None:
    economy = _economy(firm_gw=100.0)
    plan = economy.open_period()
    s = plan.sellers["oracle"]
    assert not plan.power_binds and s.deliverable_gpu_hours == s.capacity_gpu_hours
    due = economy.lab_due()
    paid = _take_or_pay(economy.close_period(PeriodObservation(spot_price=2.35,
                                                               kwh_price=0.08)).intents)
    assert paid == {"oracle": pytest.approx(_full(economy, 5.0), rel=1e-9)}
    assert due == sum(paid.values())


def test_the_lab_does_not_pay_for_contracted_hours_rationed_power_cannot_run() -> None:
    """Fails before the fix: the lab paid for all 5 GW though only half could be run."""
    economy = _economy(firm_gw=7.5)  # 15 GW of clusters, half of them powered
    plan = economy.open_period()
    s = plan.sellers["oracle"]
    delivered = s.deliverable_gpu_hours / s.capacity_gpu_hours
    assert plan.power_binds and delivered == pytest.approx(0.5, rel=1e-6)
    due = economy.lab_due()
    # the lab uses none of the hours: take-or-pay is still owed on what was delivered
    paid = _take_or_pay(economy.close_period(PeriodObservation(spot_price=2.35,
                                                               kwh_price=0.08)).intents)
    assert paid["oracle"] == pytest.approx(_full(economy, 5.0) * delivered, rel=1e-9)
    assert paid["oracle"] < 0.51 * _full(economy, 5.0)
    assert due == sum(paid.values())  # the treasury rule reserves exactly what is settled
    assert economy.history[-1]["lab_take_or_pay_owed_usd"] * 1e6 == pytest.approx(
        sum(paid.values()), abs=1)


def test_a_seller_without_kwh_on_the_exchange_is_owed_nothing() -> None:
    """On the exchange a seller runs only the hours its kWh tokens cover; a seller holding
    none delivers no contracted hours and is owed no take-or-pay for them."""
    economy = _economy(firm_gw=100.0)
    plan = economy.open_period(kwh_held={"msft": 10**9, "coreweave": 10**9})
    assert plan.sellers["oracle"].contracted_lots == 0
    assert economy.lab_due() == 0
    paid = _take_or_pay(economy.close_period(PeriodObservation(spot_price=2.35,
                                                               kwh_price=0.08)).intents)
    assert "oracle" not in paid


def test_unpaid_take_or_pay_is_arrears_only_for_delivered_hours() -> None:
    """A lab without cash falls into arrears for what it owes on the delivered share only."""
    p = EconomyParams()
    p = R(p, power=R(p.power, initial_firm_gw=7.5), lab_finance=R(p.lab_finance, order=()))
    economy = Economy(p, np.random.default_rng(1))
    economy.clusters.add_existing("oracle", CLUSTER, 5.0, 0, p.cluster.life_years, 0, CONTRACT)
    plan = economy.open_period()
    cash = economy.ledger.balance("lab")  # keep $0.2B of the week's money, spend the rest
    economy.ledger.transfer("lab", OUTSIDE, cash - usd_to_micros(0.2e9), OPEX, 0)
    s = plan.sellers["oracle"]
    delivered = s.deliverable_gpu_hours / s.capacity_gpu_hours
    result = economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08))
    assert sum(_take_or_pay(result.intents).values()) == usd_to_micros(0.2e9)
    arrears = economy.history[-1]["lab_arrears_usd"] * 1e6
    assert arrears + 0.2e15 == pytest.approx(_full(economy, 5.0) * delivered, abs=2)


# -- the lab's revenue --------------------------------------------------------------------------


def _revenues(growth: float, weeks: int) -> list[int]:
    p = EconomyParams()
    p = R(p, lab=R(p.lab, monetisation_growth=growth))
    economy = Economy(p, np.random.default_rng(3))
    out = []
    for _ in range(weeks):
        plan = economy.open_period()
        out.append(plan.lab_revenue)
        economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08))
    return out


def test_revenue_per_unit_of_demand_grows_at_the_monetisation_growth() -> None:
    base = _revenues(0.0, 60)
    grown = _revenues(0.2, 60)
    assert base[0] == grown[0]  # the same start: $13B a year
    p = EconomyParams()
    years_per_period = Economy(p, np.random.default_rng(0)).clock.years_per_period
    for k in (1, 26, 52, 59):
        assert grown[k] / base[k] == pytest.approx(1.2 ** (k * years_per_period), rel=1e-6)


def test_by_default_revenue_per_unit_of_demand_is_the_calibrated_start() -> None:
    assert LabParams().monetisation_growth == 0.0
    p = EconomyParams()
    economy = Economy(p, np.random.default_rng(3))
    for _ in range(30):
        plan = economy.open_period()
        per_gw = p.lab.annual_revenue_usd / p.demand.reference_gw
        assert plan.lab_revenue == usd_to_micros(per_gw * plan.demand_ref_gw
                                                 * economy.clock.years_per_period)
        economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08))


def test_monetisation_growth_must_be_above_minus_one() -> None:
    with pytest.raises(ValueError, match="monetisation_growth"):
        LabParams(monetisation_growth=-1.0)
    params = msgspec.convert({"lab": {"monetisation_growth": 0.1}}, EconomyParams)
    assert params.lab.monetisation_growth == 0.1


# -- the scenario's sweep over the assumptions that decide the default ---------------------------


def test_the_glut_scenario_sweeps_the_labs_default() -> None:
    from scenarios.config import load, read_raw, resolve_path
    from scenarios.sweep import plan

    grid = load("compute_glut", "lab_default").scenario.sweep.grid
    assert grid["economy.params.lab.monetisation_growth"] == [0.0, 0.05, 0.1, 0.2]
    assert grid["economy.params.commitments.scale"] == [0.45, 1.0, 1.5]
    assert grid["economy.params.demand.adoption_rate"] == [0.8]  # the glut axes pinned
    assert grid["economy.params.cluster.life_years"] == [6.0]
    path = resolve_path("compute_glut")
    runs = plan(read_raw(path), str(path), "lab_default", None, None).runs
    assert len(runs) == 12 * 3
    # the case changes nothing but the sweep: a run of it is the file's own run
    assert load("compute_glut", "lab_default").scenario.economy == \
        load("compute_glut").scenario.economy


def test_the_sensitivity_report_says_when_the_lab_defaulted() -> None:
    from scenarios.sensitivity import _default_years, _runs

    rows = [{"lab_defaulted": 1.0, "lab_default_year": 2032.91},
            {"lab_defaulted": 0.0, "lab_default_year": math.nan},
            {"lab_defaulted": 1.0, "lab_default_year": 2031.62}]
    years = _default_years(rows)
    assert years == [2031.62, 2032.91]
    assert _runs({"runs": 3, "defaulted": 2}, years) == "2 of 3 (2031.6-2032.9)"
    assert _runs({"runs": 3, "defaulted": 1}, [2033.0, 2033.0]) == "1 of 3 (2033.0)"
    assert _default_years(rows[1:2]) is None
    assert _runs({"runs": 3, "defaulted": 0}, None) == "0 of 3"
    assert _runs({"runs": 0, "defaulted": 0}) == "n/a"
