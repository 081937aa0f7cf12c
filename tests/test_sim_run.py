"""`cmx run`: outputs, byte-identical re-runs, seeds that matter, conservation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sim_helpers import digests, shipped, small_noise_market

from exchange.core import IMPLEMENTATION
from exchange.core.instruments import USD
from scenarios import cli, runner
from scenarios.kernel import IMPLEMENTATION as KERNEL_IMPLEMENTATION
from scenarios.runner import Simulation

SMALL = ["--set", "scenario.duration=600.0", "--set", "scenario.warmup=60.0",
         "--set", "agents.noise.count=60", "--set", "agents.value.count=10",
         "--set", "agents.momentum.count=4"]


def cmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cmx")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "a"
    assert cmx("run", "noise_market", "--seed", "3", "--out", str(out), "--no-progress",
               *SMALL) == 0
    return out


def test_run_writes_every_output(first_run: Path, capsys: pytest.CaptureFixture) -> None:
    names = {p.name for p in first_run.iterdir()}
    assert names >= {"trades.parquet", "quotes.parquet", "orders.parquet", "agents.parquet",
                     "macro.parquet", "agent_metrics.parquet", "runs.parquet",
                     "stylized_facts.parquet", "config.json", "summary.json", "timing.json",
                     "price.png", "volume.png"}
    trades = pq.read_table(first_run / "trades.parquet")
    assert trades.num_rows > 100
    assert {"run_id", "ts", "time_s", "price", "amount", "maker_account"} <= set(
        trades.column_names)
    runs = pq.read_table(first_run / "runs.parquet").to_pylist()
    assert runs[0]["run_id"] == 0 and runs[0]["seed"] == 3 and runs[0]["step"] == 10
    assert runs[0]["agents.noise.count"] == 60  # overrides become parameter columns
    config = json.loads((first_run / "config.json").read_text())
    assert config["seed"] == 3 and config["scenario"]["agents"][0]["count"] == 60
    assert {"python", "numpy", "pyarrow", "msgspec"} <= set(config["versions"])
    timing = json.loads((first_run / "timing.json").read_text())
    assert timing["core"] == IMPLEMENTATION and timing["wall_s"] > 0
    assert timing["kernel"] == KERNEL_IMPLEMENTATION
    agents = pq.read_table(first_run / "agents.parquet")
    assert agents.num_rows == 11 * (60 + 10 + 4 + 2)
    assert (first_run / "price.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_gives_identical_bytes(first_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "b"
    assert cmx("run", "noise_market", "--seed", "3", "--out", str(again), "--no-progress",
               "--no-charts", *SMALL) == 0
    assert digests(first_run) == digests(again)
    assert (first_run / "config.json").read_bytes() == (again / "config.json").read_bytes()
    assert (first_run / "summary.json").read_bytes() == (again / "summary.json").read_bytes()


def test_different_seed_differs(first_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "c"
    assert cmx("run", "noise_market", "--seed", "4", "--out", str(other), "--no-progress",
               "--no-charts", *SMALL) == 0
    a, b = digests(first_run), digests(other)
    assert a["trades.parquet"] != b["trades.parquet"]
    assert a["quotes.parquet"] != b["quotes.parquet"]


def test_bad_scenario_exits_with_a_message(tmp_path: Path, capsys) -> None:
    assert cmx("run", "noise_market", "--set", "agents.noise.count=-3", "--out",
               str(tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert "noise_market.toml" in err and "key `agents[0].count`" in err


def test_cash_and_assets_are_conserved_and_invariants_hold() -> None:
    sim = Simulation(small_noise_market(300.0), seed=5)
    checks = []

    def check(command, events, ts) -> None:
        if sim.venue.commands % 500 == 0:
            sim.engine.check_invariants()
            checks.append(ts)

    sim.venue.observers.append(check)
    deposited = sum(a.cash for a in sim.engine.accounts.values())
    minted = sum(a.assets.get("ASSET", 0) for a in sim.engine.accounts.values())
    sim.run()
    sim.engine.check_invariants()
    assert len(checks) >= 5
    accounts = sim.engine.accounts.values()
    assert sum(a.cash for a in accounts) == deposited == sim.engine.external[USD]
    assert sum(a.assets.get("ASSET", 0) for a in accounts) == minted
    assert sim.recorder.trades  # the check is about a market that traded


def test_agent_streams_are_independent_of_other_groups() -> None:
    """Growing one agent group must not change what the other groups draw."""
    base = Simulation(small_noise_market(120.0), seed=9)
    bigger = Simulation(shipped("noise_market", **{
        "scenario.duration": 120.0, "scenario.warmup": 60.0, "agents.noise.count": 61,
        "agents.value.count": 10, "agents.momentum.count": 4}), seed=9)
    first = [a.rng.random() for a in base.agents if type(a).__name__ == "ValueTrader"]
    second = [a.rng.random() for a in bigger.agents if type(a).__name__ == "ValueTrader"]
    assert len(first) == 10 and first == second
    assert len(set(first)) == 10  # and every agent has a stream of its own


def test_runner_result_matches_summary() -> None:
    result = runner.run(small_noise_market(120.0), 2)
    assert result.summary["trades"] == result.tables["trades"].num_rows
    assert result.summary["messages"] > result.summary["commands"] > 0


def test_stepped_processes_run_on_their_period_and_can_act() -> None:
    from exchange.core.messages import Mint

    sim = Simulation(small_noise_market(120.0), seed=1)
    calls: list[int] = []

    def weekly(s: Simulation) -> None:
        calls.append(s.kernel.now)
        s.venue.apply_now(Mint(account=1, asset="ASSET", amount=5))

    minted = sim.engine.external["ASSET"]
    sim.every(30.0, weekly)
    sim.run()
    assert calls == [30 * 10**9, 60 * 10**9, 90 * 10**9, 120 * 10**9]
    sim.engine.check_invariants()
    assert sim.engine.external["ASSET"] == minted + 4 * 5 == sum(
        a.assets.get("ASSET", 0) for a in sim.engine.accounts.values())


def test_a_run_raises_the_collection_threshold_only_while_it_runs() -> None:
    """The collector runs less often during a run (fewer rescans of long-lived objects) and
    the caller's threshold is back afterwards, also when an agent raises."""
    import gc

    loaded = small_noise_market(120.0)
    sim = runner.Simulation(loaded, 1)
    seen: list[tuple[int, int, int]] = []
    sim.kernel.schedule(sim.start_ns + 1, lambda _: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    sim.run()
    assert seen and seen[0][0] == max(before[0], runner.RUN_GC_THRESHOLD)
    assert seen[0][1:] == before[1:]
    assert gc.get_threshold() == before

    def boom(_: object) -> None:
        raise RuntimeError("agent bug")

    sim = runner.Simulation(loaded, 2)
    sim.kernel.schedule(sim.start_ns + 1, boom)
    with pytest.raises(RuntimeError, match="agent bug"):
        sim.run()
    assert gc.get_threshold() == before
