"""Energy coupling: kWh per GPU-hour, energy's share of price, power as a binding limit."""

from __future__ import annotations

import numpy as np
import pytest

from agents.economy.economy import Economy
from agents.economy.energy import (
    EnergyParams,
    deliverable_gpu_hours,
    energy_cost_share,
    gpu_hours_per_gw,
    gpus_per_gw,
    kwh_for,
    ration,
)
from agents.economy.params import EconomyParams, PowerParams


def test_kwh_per_gpu_hour_from_node_power_and_pue() -> None:
    p = EnergyParams()
    assert p.kwh_per_gpu_hour == pytest.approx(6.2 / 8 * 1.2)
    assert p.kwh_per_gpu_hour == pytest.approx(0.93)
    assert gpus_per_gw(p) == pytest.approx(1e6 / 0.93)
    # one GW of clusters running flat out draws one GW
    assert kwh_for(gpu_hours_per_gw(1.0, p), p) == pytest.approx(1e6)


@pytest.mark.parametrize("kwh_price", [0.05, 0.08, 0.12])
@pytest.mark.parametrize("gpu_price", [2.0, 2.35])
def test_energy_is_a_few_percent_of_a_gpu_hour(kwh_price: float, gpu_price: float) -> None:
    share = energy_cost_share(gpu_price, kwh_price, EnergyParams())
    assert 0.015 <= share <= 0.06


def test_deliverable_hours_are_capped_by_energy() -> None:
    p = EnergyParams()
    assert deliverable_gpu_hours(1000.0, 1e9, p) == 1000.0
    assert deliverable_gpu_hours(1000.0, 465.0, p) == pytest.approx(500.0)
    assert deliverable_gpu_hours(1000.0, 0.0, p) == 0.0


def test_rationing_is_pro_rata_only_when_short() -> None:
    assert ration(10.0, [2.0, 3.0]) == [2.0, 3.0]
    assert ration(5.0, [2.0, 8.0]) == pytest.approx([1.0, 4.0])
    assert sum(ration(7.0, [5.0, 5.0, 5.0])) == pytest.approx(7.0)


def test_power_binds_in_the_economy() -> None:
    """With half the power the fleet needs, half the GPU-hours are minted."""
    full = Economy(EconomyParams(), np.random.default_rng(0)).open_period()
    short_params = EconomyParams(power=PowerParams(initial_firm_gw=5.0))
    short = Economy(short_params, np.random.default_rng(0)).open_period()
    assert not full.power_binds and short.power_binds
    for name, s in short.sellers.items():
        assert s.deliverable_gpu_hours == pytest.approx(s.capacity_gpu_hours * 0.5)
        assert full.sellers[name].deliverable_gpu_hours == pytest.approx(
            full.sellers[name].capacity_gpu_hours)
    lots_full = sum(s.merchant_lots for s in full.sellers.values())
    lots_short = sum(s.merchant_lots for s in short.sellers.values())
    assert abs(lots_short - lots_full / 2) <= len(short.sellers)


def test_sellers_cannot_run_more_hours_than_their_kwh_tokens_cover() -> None:
    from agents.economy.intents import KWH, BurnIntent

    params = EconomyParams()
    free = Economy(params, np.random.default_rng(0)).open_period()
    econ = Economy(params, np.random.default_rng(0))
    need = free.sellers["oracle"].kwh
    held = {"msft": 10**12, "oracle": int(need / 2), "coreweave": 0}
    plan = econ.open_period(kwh_held=held)
    assert plan.sellers["msft"].deliverable_gpu_hours == pytest.approx(
        free.sellers["msft"].deliverable_gpu_hours)
    assert plan.sellers["oracle"].deliverable_gpu_hours == pytest.approx(
        free.sellers["oracle"].deliverable_gpu_hours / 2, rel=1e-6)
    assert plan.sellers["coreweave"].deliverable_gpu_hours == 0.0
    burns = {i.holder: i.lots for i in plan.intents
             if isinstance(i, BurnIntent) and i.asset == KWH}
    assert burns["coreweave"] == 0
    assert burns["oracle"] <= held["oracle"]
    oracle_hours = plan.sellers["oracle"].merchant_lots + plan.sellers["oracle"].contracted_lots
    assert burns["oracle"] == pytest.approx(oracle_hours * 0.93, abs=1.0)
