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
    text = sim.render({"day": day, "speedup_vs_abides_kernel_messages": 2.45,
                       "target_met_kernel_messages": False,
                       "anchor": {"messages_per_s": 40_765},
                       "target_messages_per_s": 407_646, "core": "compiled",
                       "kernel": "interpreted"})
    assert "ABIDES" in text and "not met" in text and "100,000 kernel messages/s" in text
    assert "matching core: compiled, kernel: interpreted" in text


def test_rmsc04_rates_day_is_much_quieter_than_the_dense_day() -> None:
    """The like-for-like market really runs at ABIDES's rates: per simulated hour it carries
    a small fraction of the dense day's commands, with every agent group still trading."""
    dense = sim.one_day(1800.0, record=True)
    same = sim.one_day(1800.0, record=True, rates="rmsc04")
    assert same["agents"] == dense["agents"]
    assert 0 < same["commands"] < dense["commands"] / 4
    assert same["trades"] > 0
    raw = sim.market(60.0, "rmsc04")
    params = {g["name"]: g["params"] for g in raw["agents"]}
    assert params["mm"]["levels"] == 10 and params["momentum"]["interval"] == 37.0
    assert abs(params["value"]["rate"] - 0.0057) < 1e-9
