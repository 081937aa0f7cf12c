"""`cmx sweep`: a grid x seeds on a Dask LocalCluster writes exactly what a serial run does."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
from sim_helpers import digests

from scenarios import cli
from scenarios.config import PACKAGE_DIR


def cmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cmx")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_dask_sweep_is_byte_identical_to_serial(tmp_path: Path) -> None:
    text = (PACKAGE_DIR / "classic_double_auction.toml").read_text()
    scenario = tmp_path / "da.toml"
    scenario.write_text(text + '\n[sweep.grid]\n"agents.buyers.params.rate" = [0.5, 2.0]\n')
    serial, dask = tmp_path / "serial", tmp_path / "dask"
    common = ["--seeds", "3", "--per-task", "2", "--no-progress"]
    assert cmx("sweep", str(scenario), "--serial", "--out", str(serial), *common) == 0
    assert cmx("sweep", str(scenario), "--workers", "2", "--out", str(dask), *common) == 0
    assert digests(serial) == digests(dask)
    assert (serial / "sweep.json").read_bytes() == (dask / "sweep.json").read_bytes()
    runs = pq.read_table(serial / "runs.parquet").to_pylist()
    assert [r["run_id"] for r in runs] == list(range(6))
    assert [r["seed"] for r in runs] == [1, 2, 3, 1, 2, 3]
    assert [r["agents.buyers.params.rate"] for r in runs] == [0.5] * 3 + [2.0] * 3
    assert all(r["efficiency"] > 0.5 for r in runs)
    assert len(digests(serial)) == 1 + 7 * 6  # runs index + 7 tables x 6 runs
    trades = pq.read_table(serial / "trades")  # a directory reads as one dataset
    assert set(trades.column("run_id").to_pylist()) == set(range(6))


def test_sweep_rejects_a_bad_grid_before_running(tmp_path: Path, capsys) -> None:
    text = (PACKAGE_DIR / "classic_double_auction.toml").read_text()
    scenario = tmp_path / "bad.toml"
    scenario.write_text(text + '\n[sweep.grid]\n"agents.buyers.params.rate" = [1.0, -2.0]\n')
    assert cmx("sweep", str(scenario), "--serial", "--out", str(tmp_path / "o")) == 2
    assert "key `agents[0].params.rate`" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path, capsys) -> None:
    import dask

    out = tmp_path / "never"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for address in ("notanaddress", "tcp://127.0.0.1:1"):
            assert cmx("sweep", "noise_market", "--seeds", "1", "--scheduler", address,
                       "--out", str(out), "--no-progress") == 2
            err = capsys.readouterr().err
            assert f"error: cannot reach the Dask scheduler at '{address}'" in err, err
    assert not out.exists()  # nothing ran, nothing was written
