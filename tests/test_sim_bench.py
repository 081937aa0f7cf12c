"""`cmx bench sim` builds the ABIDES-shaped market and reports what it measured."""

from __future__ import annotations

from bench import sim


def test_one_short_day_reports_its_figures() -> None:
    day = sim.one_day(120.0, record=True)
    assert day["agents"] == 1116
    assert day["messages"] > day["commands"] > 1000
    assert day["messages_per_s"] > 0 and day["wall_s"] > 0


def test_serial_and_dask_sweeps_agree() -> None:
    report = sim.sweep(30.0, seeds=2, workers=1)
    assert report["identical"] and report["runs"] == 2


def test_render_names_the_anchor_and_the_target() -> None:
    day = {"agents": 1116, "simulated_s": 23400.0, "messages": 500_000, "commands": 300_000,
           "wall_s": 5.0, "messages_per_s": 100_000}
    text = sim.render({"day": day, "speedup_vs_abides": 2.45, "target_met": False,
                       "anchor": {"messages_per_s": 40_765},
                       "target_messages_per_s": 407_646})
    assert "ABIDES" in text and "not met" in text and "100,000 messages/s" in text
