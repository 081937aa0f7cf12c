"""The deals as data and the lab's take-or-pay schedule with the overbuild switch."""

from __future__ import annotations

import pytest

from agents.economy.capacity import ClusterParams
from agents.economy.deals import (
    DEFAULT_DEALS,
    CommitmentParams,
    chip_vendor_shares,
    flow_in_window,
    per_gw_amount,
)
from agents.economy.energy import EnergyParams, gpu_hours_per_gw
from agents.economy.ledger import EQUITY, WARRANT
from agents.economy.units import HOURS_PER_YEAR


def deal(name: str):
    return next(d for d in DEFAULT_DEALS if d.name == name)


def test_every_deal_in_the_facts_is_encoded() -> None:
    names = {d.name for d in DEFAULT_DEALS}
    assert names == {"microsoft", "oracle", "coreweave", "softbank", "nvidia", "amd",
                     "broadcom", "amazon", "g42"}
    assert all(d.fact for d in DEFAULT_DEALS)
    assert deal("oracle").gw == 4.5 and deal("oracle").commitment_usd == 300e9
    assert deal("microsoft").flows[0].usd == 13e9 and deal("microsoft").flows[0].kind == EQUITY
    assert deal("coreweave").commitment_usd == 22.4e9
    assert deal("amazon").commitment_years == 7.0


def test_programme_matches_the_headline_figures() -> None:
    c = CommitmentParams()
    assert c.total_usd == 1.4e12 and c.total_gw == 30.0 and c.years == 8.0
    assert c.scheduled_gw(2026.0) == 0.0
    assert c.scheduled_gw(2030.0) == pytest.approx(15.0)
    assert c.scheduled_gw(2040.0) == 30.0
    # paid per GW-year of capacity online over the ramp: the total is the $1.4T
    assert c.usd_per_gw_year * c.gw_years == pytest.approx(1.4e12)
    # >$40B per GW of capital cost, ~$47B of payments per GW committed
    assert ClusterParams().capex_usd_per_gw >= 40e9
    assert c.total_usd / c.total_gw > 40e9
    per_hour = c.usd_per_gw_year / gpu_hours_per_gw(HOURS_PER_YEAR, EnergyParams())
    assert 1.0 < per_hour < 1.65  # below the spot price, near Oracle's ~$1.4


def test_overbuild_switch() -> None:
    on = CommitmentParams()
    off = CommitmentParams(strategic_overbuild=False)
    assert on.target_gw(2030.0, own_demand_gw=5.0) == pytest.approx(15.0)
    assert off.target_gw(2030.0, own_demand_gw=5.0) == pytest.approx(5.5)
    assert off.target_gw(2030.0, own_demand_gw=50.0) == pytest.approx(15.0)


def test_deployment_triggered_flows() -> None:
    nvidia = deal("nvidia").flows[0]
    assert per_gw_amount(nvidia, 0.0, 1.0) == pytest.approx(10e9)
    assert per_gw_amount(nvidia, 9.5, 20.0) == pytest.approx(5e9)  # capped at 10 GW, $100B
    assert per_gw_amount(nvidia, 0.0, 100.0) == pytest.approx(100e9)
    amd = deal("amd").flows[0]
    assert amd.kind == WARRANT
    total = per_gw_amount(amd, 0.0, 6.0)
    assert total == pytest.approx(160e6 * (200.0 - 0.01))


def test_scheduled_flows_are_spread_evenly() -> None:
    softbank = deal("softbank").flows[0]
    assert flow_in_window(softbank, 2025.5, 2026.5) == pytest.approx(40e9)
    assert flow_in_window(softbank, 2026.0, 2026.25) == pytest.approx(10e9)
    assert flow_in_window(softbank, 2027.0, 2028.0) == 0.0


def test_chip_vendor_shares() -> None:
    shares = chip_vendor_shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["nvidia"] == pytest.approx(10 / 26) and shares["amd"] == pytest.approx(6 / 26)
