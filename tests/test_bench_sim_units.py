"""`cmx bench sim` counts each day in ABIDES's message units in an untimed replay."""

from __future__ import annotations

import pytest

from bench import abides_units, sim

DURATION = 600.0


@pytest.fixture(scope="module")
def dense() -> tuple[dict, dict]:
    day = sim.one_day(DURATION, record=False)
    return day, sim.in_abides_units(day, DURATION)


def test_replay_matches_the_timed_run_and_sums_its_categories(dense) -> None:
    day, units = dense
    # in_abides_units raised if the replay's commands or kernel messages differed; check anyway
    kernel = units["kernel_breakdown"]
    assert kernel["command_arrivals"] == day["commands"]
    assert sum(kernel.values()) == day["messages"]
    assert units["messages"] == sum(units["categories"].values())
    assert set(units["categories"]) == set(abides_units.CATEGORIES)
    assert units["messages"] >= day["messages"]
    assert units["messages_per_s"] == round(units["messages"] / day["wall_s"])


def test_categories_follow_what_the_agents_did(dense) -> None:
    day, units = dense
    cats, groups = units["categories"], units["by_group"]
    for name in ("wakeups", "orders_to_exchange", "order_accepted", "order_executed",
                 "order_cancelled", "market_data"):
        assert cats[name] > 0, name
    assert cats["order_modified"] == 0  # no agent here amends
    # one ORDER_EXECUTED to each party of each trade
    assert cats["order_executed"] == 2 * day["trades"]
    assert cats["wakeups"] == units["kernel_breakdown"]["wakeups"]
    assert cats["market_data"] == 2 * sum(g["market_data_queries"] for g in groups.values())
    # momentum traders and market makers read the book on every wake-up; noise traders only
    # before a limit order
    for name in ("momentum", "mm", "value"):
        assert groups[name]["market_data_queries"] == groups[name]["wakeups"]
    assert 0 < groups["noise"]["market_data_queries"] < groups["noise"]["wakeups"]
    # a market maker's refresh is one CancelAll and one batch of quotes, as in ABIDES
    assert groups["mm"]["orders_to_exchange"] == 2 * groups["mm"]["wakeups"]
    assert groups["mm"]["commands"] > groups["mm"]["orders_to_exchange"]
    assert units["not_counted"]["cancel_all_orders_cancelled"] > 0


def test_counts_are_identical_across_runs_of_the_same_seed(dense) -> None:
    _, units = dense
    again = abides_units.replay(sim.market(DURATION), 1)
    assert again["categories"] == units["categories"]
    assert again["not_counted"] == units["not_counted"]
    assert again["by_group"] == units["by_group"]


def test_a_replay_that_diverges_from_the_timed_run_fails_loudly(dense) -> None:
    day, _ = dense
    wrong = dict(day, messages=day["messages"] + 1)
    with pytest.raises(RuntimeError, match="diverged"):
        abides_units.replay(sim.market(DURATION), 1, expect=wrong)


def test_rmsc04_rates_day_counts_in_both_units() -> None:
    day = sim.one_day(DURATION, record=True, rates="rmsc04")
    units = sim.in_abides_units(day, DURATION, "rmsc04")
    assert units["messages"] == sum(units["categories"].values()) >= day["messages"]
    assert units["categories"]["order_executed"] == 2 * day["trades"] > 0


def test_render_names_the_unit_of_each_rate() -> None:
    units = {"messages": 1_500_000, "messages_per_s": 300_000, "speedup_vs_abides": 7.36,
             "target_met": False, "vs_anchor_day_messages": 3.17,
             "categories": dict.fromkeys(abides_units.CATEGORIES, 1)}
    day = {"agents": 1116, "simulated_s": 23400.0, "messages": 580_000, "commands": 360_000,
           "wall_s": 5.0, "messages_per_s": 116_000, "abides_units": units}
    text = sim.render({"day": day, "speedup_vs_abides_kernel_messages": 2.85,
                       "target_met_kernel_messages": False,
                       "anchor": {"messages_per_s": 40_765},
                       "target_messages_per_s": 407_646})
    assert "116,000 kernel messages/s" in text
    assert "300,000 ABIDES-unit messages/s" in text and "7.36x ABIDES" in text
    assert "not met in kernel messages" in text
