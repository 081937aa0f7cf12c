"""Build lags, depreciation and retirement, distressed transfers."""

from __future__ import annotations

import pytest

from agents.economy.capacity import CLUSTER, DEFAULT_SOURCES, CapacityBook, ClusterParams
from agents.economy.units import Clock

WEEK = Clock(start_year=2026.0, period_hours=168.0)


def test_order_arrives_exactly_after_its_lag() -> None:
    book = CapacityBook(WEEK)
    lag = WEEK.periods(1.5)
    order = book.order("s", CLUSTER, 2.0, period=3, lag_years=1.5, life_years=6.0)
    assert order.arrives == 3 + lag
    for k in range(0, 3 + lag):
        arrived, _ = book.advance(k)
        assert arrived == [] and book.online_gw(k) == 0.0
    arrived, _ = book.advance(3 + lag)
    assert [c.gw for c in arrived] == [2.0]
    assert book.online_gw(3 + lag) == 2.0
    assert book.pending == []


@pytest.mark.parametrize("source", DEFAULT_SOURCES, ids=lambda s: s.name)
def test_each_power_source_arrives_after_its_lead_time(source) -> None:
    book = CapacityBook(WEEK)
    order = book.order("power", source.name, 1.0, period=0, lag_years=source.lag_years,
                       life_years=source.life_years, earliest_year=source.earliest_year)
    expected = max(WEEK.periods(source.lag_years), WEEK.period_of_year(source.earliest_year))
    assert order.arrives == expected
    book.advance(expected - 1)
    assert book.online_gw(expected - 1) == 0.0
    book.advance(expected)
    assert book.online_gw(expected) == 1.0


def test_lead_times_order_matches_the_facts() -> None:
    lags = {s.name: s.lag_years for s in DEFAULT_SOURCES}
    assert lags["mining_conversion"] < 0.5  # months
    assert 1.0 <= lags["solar_storage"] <= 1.5  # 12-18 months
    assert 3.0 <= lags["wind"] <= 4.0
    assert lags["gas"] == pytest.approx(4.0)
    smr = next(s for s in DEFAULT_SOURCES if s.name == "smr")
    assert 2030 <= smr.earliest_year <= 2035
    # an SMR ordered today cannot arrive before 2030 whatever its construction time
    book = CapacityBook(WEEK)
    order = book.order("p", "smr", 1.0, 0, lag_years=0.1, life_years=40,
                       earliest_year=smr.earliest_year)
    assert WEEK.year(order.arrives) >= 2030.0


@pytest.mark.parametrize("life_years", [6.0, 5.0, 3.0])
def test_capacity_retires_at_end_of_life(life_years: float) -> None:
    book = CapacityBook(WEEK)
    book.order("s", CLUSTER, 1.0, 0, lag_years=0.0, life_years=life_years, cost=1_000_000)
    life = WEEK.periods(life_years)
    book.advance(0)
    assert book.online_gw(0) == 1.0
    for k in range(1, life):
        _, retired = book.advance(k)
        assert retired == [] and book.online_gw(k) == 1.0
    _, retired = book.advance(life)
    assert len(retired) == 1 and book.online_gw(life) == 0.0


def test_stress_life_retires_sooner_and_depreciates_faster() -> None:
    base, stress = CapacityBook(WEEK), CapacityBook(WEEK)
    cost = 40_000_000_000 * 10**6
    base.order("s", CLUSTER, 1.0, 0, 0.0, ClusterParams().life_years, cost=cost)
    stress.order("s", CLUSTER, 1.0, 0, 0.0, 3.0, cost=cost)
    base.advance(0)
    stress.advance(0)
    one_year = WEEK.periods(1.0)
    assert stress.depreciation(one_year, "s") > base.depreciation(one_year, "s") > 0
    assert base.book_value(one_year, "s") > stress.book_value(one_year, "s")
    assert base.book_value(0, "s") == stress.book_value(0, "s") == cost
    k = WEEK.periods(3.0)
    base.advance(k)
    _, retired = stress.advance(k)
    assert base.online_gw(k) == 1.0 and stress.online_gw(k) == 0.0 and retired


def test_straight_line_book_value() -> None:
    book = CapacityBook(WEEK)
    book.order("s", CLUSTER, 1.0, 0, 0.0, 6.0, cost=600)
    book.advance(0)
    life = WEEK.periods(6.0)
    assert book.book_value(0, "s") == 600
    assert book.book_value(life // 2, "s") == 300
    assert book.book_value(life, "s") == 0
    assert sum(book.depreciation(k, "s") for k in range(life)) == 600


def test_existing_capacity_built_before_the_start_retires_early() -> None:
    book = CapacityBook(WEEK)
    book.add_existing("s", CLUSTER, 1.0, online=-WEEK.periods(2.5), life_years=6.0, cost=6)
    k = WEEK.periods(3.5)
    book.advance(k - 1)
    assert book.online_gw(k - 1) == 1.0
    book.advance(k)
    assert book.online_gw(k) == 0.0


def test_distressed_transfer_moves_capacity_at_a_discount() -> None:
    book = CapacityBook(WEEK)
    book.order("bust", CLUSTER, 2.0, 0, 0.0, 6.0, cost=1_000_000)
    book.order("bust", CLUSTER, 1.0, 0, 1.0, 6.0, cost=500_000)
    book.advance(0)
    price = book.transfer("bust", "vulture", 0, 0.3)
    assert price == 300_000 + 150_000
    assert book.online_gw(0, "bust") == 0.0 and book.online_gw(0, "vulture") == 2.0
    assert book.pending_gw("vulture") == 1.0
    # the buyer's book restarts at the price paid; physical life is unchanged
    assert book.book_value(0, "vulture") == 300_000
    assert book.cohorts[0].retires == WEEK.periods(6.0)


def test_capacity_under_construction_at_the_start_arrives_within_one_build_lag() -> None:
    import numpy as np

    from agents.economy.economy import Economy
    from agents.economy.params import EconomyParams

    params = EconomyParams()
    econ = Economy(params, np.random.default_rng(0))
    lag = econ.clock.periods(params.cluster.build_lag_years)
    pipeline = sum(s.pipeline_gw for s in params.sellers)
    assert econ.clusters.pending_gw() == pytest.approx(pipeline)
    assert max(o.arrives for o in econ.clusters.pending) == lag
    assert min(o.arrives for o in econ.clusters.pending) > 0
    # it is paid for: counted in assets, and in the debt the leverage implies
    for s in params.sellers:
        assert econ.clusters.assets(0, s.name) > econ.clusters.book_value(0, s.name)
