"""Demand: adoption, the scaling-law quality channel, price elasticity and calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.economy.demand import DemandModel, DemandParams, adoption, doubling_time_months


def test_reference_point() -> None:
    p = DemandParams()
    m = DemandModel(p)
    assert m.quantity_gw(p.reference_price, 0.0) == pytest.approx(p.reference_gw)
    assert m.price_for(p.reference_gw, 0.0) == pytest.approx(p.reference_price)


def test_demand_falls_with_price_at_the_elasticity() -> None:
    m = DemandModel(DemandParams(price_elasticity=1.5))
    q1, q2 = m.quantity_gw(2.0, 0.0), m.quantity_gw(4.0, 0.0)
    assert q2 < q1
    assert math.log(q1 / q2) / math.log(2.0) == pytest.approx(1.5)


def test_at_todays_prices_demand_is_near_but_below_capacity() -> None:
    """$2-2.35 per GPU-hour against the default 10 GW fleet: utilisation 85-100%."""
    m = DemandModel(DemandParams())
    for price in (2.0, 2.35):
        assert 0.8 <= m.quantity_gw(price, 0.0) / 10.0 <= 1.0


def test_growth_is_the_fibre_lesson_not_the_forecast() -> None:
    """Demand doubles in 9-14 months at the start, nowhere near every 100 days."""
    p = DemandParams()
    m = DemandModel(p)
    months = doubling_time_months(m, 0.0, consumption_gw=p.reference_gw)
    assert 9.0 <= months <= 14.0
    assert months > 3 * (100 / 30.4)
    # and it slows as adoption saturates
    assert doubling_time_months(m, 5.0, consumption_gw=p.reference_gw) > months


def test_adoption_is_logistic() -> None:
    p = DemandParams()
    assert adoption(0.0, p) == pytest.approx(p.adoption_initial)
    values = [adoption(t, p) for t in range(0, 30)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] < 1.0 and values[-1] > 0.99


def test_quality_grows_with_compute_with_diminishing_returns() -> None:
    m = DemandModel(DemandParams())
    base = m.scale(0.0)
    c0 = m.state.cumulative_gwy
    m.consume(c0)  # double cumulative compute
    once = m.scale(0.0)
    m.consume(2 * c0)  # double again (4x)
    twice = m.scale(0.0)
    assert once > base and twice > once
    # each doubling buys the same factor: diminishing returns to each GW-year
    assert once / base == pytest.approx(twice / once)
    assert once / base == pytest.approx(2 ** DemandParams().quality_exponent)
    with pytest.raises(ValueError):
        m.consume(-1.0)


def test_shocks_are_deterministic_by_seed_and_off_by_default() -> None:
    p = DemandParams(shock_sigma=0.05)
    a, b, c = DemandModel(p), DemandModel(p), DemandModel(p)
    ra, rb, rc = (np.random.default_rng(s) for s in (7, 7, 8))
    for _ in range(20):
        a.draw_shock(ra)
        b.draw_shock(rb)
        c.draw_shock(rc)
    assert a.state.log_shock == b.state.log_shock != c.state.log_shock
    d = DemandModel(DemandParams())
    d.draw_shock(np.random.default_rng(1))
    assert d.state.log_shock == 0.0


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        DemandParams(quality_exponent=1.2)
    with pytest.raises(ValueError):
        DemandParams(adoption_initial=0.0)
