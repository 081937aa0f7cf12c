"""`cmx bench sim` times the day's commands in a bare engine to say how much of it is matching."""

from __future__ import annotations

import pytest

from bench import abides_units, sim
from bench.engine_alone import time_engine_alone
from exchange.core.messages import PlaceOrder

DURATION = 300.0


@pytest.fixture(scope="module")
def logged() -> tuple[dict, dict]:
    day = sim.one_day(DURATION, record=False)
    log: dict = {}
    sim.in_abides_units(day, DURATION, engine_log=log)
    return day, log


def test_the_log_holds_every_command_the_day_applied(logged) -> None:
    day, log = logged
    # the setup (deposits, mints) is in the snapshot; every later command is in the log
    assert len(log["commands"]) == day["commands"] > 0
    stamps = [ts for _, ts in log["commands"]]
    assert stamps == sorted(stamps) and stamps[0] >= log["snapshot"]["now"]


def test_the_bare_replay_reproduces_the_day_and_reports_its_share(logged) -> None:
    day, log = logged
    report = sim.engine_alone(log, day["wall_s"])
    assert report["commands"] == day["commands"]
    assert 0 < report["wall_s"]
    # both are computed from the unrounded time; the report rounds each
    assert report["share_of_day"] == pytest.approx(report["wall_s"] / day["wall_s"], abs=2e-3)
    assert report["commands_per_s"] == pytest.approx(report["commands"] / report["wall_s"],
                                                     rel=1e-2)


def test_a_replay_that_ends_elsewhere_fails_loudly(logged) -> None:
    _, log = logged
    commands = log["commands"]
    index = next(i for i, (c, _) in enumerate(commands) if type(c) is PlaceOrder)
    broken = dict(log, commands=commands[:index] + commands[index + 1:])
    with pytest.raises(RuntimeError, match="did not reproduce"):
        time_engine_alone(broken)


def test_the_replay_is_the_same_market_on_every_run(logged) -> None:
    _, log = logged
    again: dict = {}
    abides_units.replay(sim.market(DURATION), 1, engine_log=again)
    assert again["state_hash"] == log["state_hash"]
    assert [c for c, _ in again["commands"]] == [c for c, _ in log["commands"]]


def test_render_reports_the_engine_share() -> None:
    day = {"agents": 1116, "simulated_s": 23400.0, "messages": 580_000, "commands": 360_000,
           "wall_s": 5.0, "messages_per_s": 116_000,
           "engine_alone": {"commands": 360_000, "wall_s": 1.85, "commands_per_s": 194_595,
                            "share_of_day": 0.37}}
    text = sim.render({"day": day, "speedup_vs_abides_kernel_messages": 2.85,
                       "target_met_kernel_messages": False,
                       "anchor": {"messages_per_s": 40_765},
                       "target_messages_per_s": 407_646,
                       "day_without_recording": {"wall_s": 4.4, "messages_per_s": 131_000,
                                                 "engine_share": 0.42}})
    assert "the matching engine alone" in text and "1.85 s, 37% of the day's wall time" in text
    assert "the engine is 42% of it" in text
