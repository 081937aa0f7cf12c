"""The strategic agents' pricing rules in isolation: demand ladders and the descending ask."""

from __future__ import annotations

from agents.compute.ladder import LEVELS, bid_ladder, dutch_ask
from agents.registry import resolve


def want(price: float) -> int:
    return int(1000 * 2.0 / price)  # elasticity 1: 1000 lots at $2


def test_a_ladder_bids_the_demand_curve_beyond_what_is_held() -> None:
    tick, tick_value = 0.001, 1_000
    ladder = bid_ladder(want, 2.0, 0, tick, tick_value, cash=10**15)
    prices = [p for p, _ in ladder]
    assert prices == sorted(prices, reverse=True)
    total = 0
    for ticks, lots in ladder:
        total += lots
        assert total == want(2.0 * LEVELS[[round(2.0 * f / tick) for f in LEVELS]
                                          .index(ticks)])
    held = bid_ladder(want, 2.0, 1500, tick, tick_value, cash=10**15)
    assert sum(lots for _, lots in held) == total - 1500


def test_a_ladder_never_reserves_more_cash_than_it_has() -> None:
    cash = 5_000_000_000
    ladder = bid_ladder(want, 2.0, 0, 0.001, 1_000, cash)
    assert sum(t * lots * 1_000 for t, lots in ladder) <= cash
    assert ladder


def test_the_ask_falls_to_marginal_cost_by_the_dump_time() -> None:
    assert dutch_ask(0.0, 3.0, 0.1, 0.8) == 3.0
    assert dutch_ask(0.4, 3.0, 0.1, 0.8) == 0.1 + 2.9 * 0.5
    assert dutch_ask(0.8, 3.0, 0.1, 0.8) == 0.1
    assert dutch_ask(0.95, 3.0, 0.1, 0.8) == 0.1
    assert dutch_ask(0.2, 0.05, 0.1, 0.8) == 0.1  # never below the floor


def test_strategic_agents_are_registered() -> None:
    for name in ("frontier_lab", "compute_seller", "end_users", "energy_producer",
                 "hedge_desk"):
        assert resolve(name).__module__.startswith("agents.compute")
