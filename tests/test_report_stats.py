"""The report's statistics and verdict rules on hand-built data, where the answer is known."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from scenarios import cli, report
from scenarios.outputs import write_parquet


def test_t_interval_matches_a_hand_computed_example() -> None:
    # mean 3, s = sqrt(2.5), se = sqrt(0.5), t_{0.975,4} = 2.7764: half-width 1.96322
    iv = report.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv.n == 5 and iv.mean == 3.0
    half = 2.7764 * math.sqrt(2.5) / math.sqrt(5)
    assert iv.low == pytest.approx(3.0 - half, abs=1e-12)
    assert iv.high == pytest.approx(3.0 + half, abs=1e-12)
    assert iv.low == pytest.approx(1.0368, abs=1e-4)
    # two values: t_{0.975,1} = 12.7062, s = |a - b| / sqrt(2), se = |a - b| / 2
    two = report.t_interval([0.0, 2.0])
    assert (two.low, two.high) == pytest.approx((1 - 12.7062, 1 + 12.7062))
    # NaN is left out; one value has no interval
    one = report.t_interval([7.0, float("nan")])
    assert (one.n, one.mean, one.low, one.high) == (1, 7.0, None, None)


def test_t_quantiles_follow_the_table() -> None:
    assert report.t_quantile(1) == 12.7062
    assert report.t_quantile(30) == 2.0423
    assert report.t_quantile(60) == 2.0003
    # between knots: exact t_{0.975,45} = 2.0141, t_{0.975,1000} = 1.9623
    assert report.t_quantile(45) == pytest.approx(2.0141, abs=1e-3)
    assert report.t_quantile(1000) == pytest.approx(1.9623, abs=1e-3)
    assert 2.0211 > report.t_quantile(50) > 2.0003
    with pytest.raises(ValueError):
        report.t_quantile(0)


WEEKS = 100


def cmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cmx")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


def economy(below_weeks: int, cost: float, circular: float = 0.01) -> dict[str, np.ndarray]:
    """A weekly table: overbuilt throughout, spot below break-even in the first
    ``below_weeks`` weeks, the lab's final net cost ``cost``."""
    spot = np.full(WEEKS, 2.0)
    spot[:below_weeks] = 1.5
    return {
        "year": 2026 + np.arange(WEEKS) / 52, "spot_price": spot,
        "break_even": np.full(WEEKS, 1.65), "marginal_cost": np.full(WEEKS, 0.1),
        "overbuild_ratio": np.full(WEEKS, 1.2), "utilisation": np.full(WEEKS, 0.9),
        "futures_mean": np.full(WEEKS, np.nan), "defaults": np.zeros(WEEKS),
        "lab_avg_cost": np.full(WEEKS, cost), "lab_gross_cost": np.full(WEEKS, cost),
        "circular_share_acme": np.full(WEEKS, circular),
    }


def runs(below: list[int], costs: list[float], base_costs: list[float],
         circular: float = 0.01) -> list[report.Run]:
    out = [report.Run(f"o{i}", i, "", True, (), economy(b, c, circular))
           for i, (b, c) in enumerate(zip(below, costs, strict=True))]
    out += [report.Run(f"c{i}", i, "no_overbuild", False, (), economy(0, c, circular))
            for i, c in enumerate(base_costs)]
    return out


def verdict(v: dict, key: str) -> str:
    return v["hypotheses"][key]["verdict"]


def test_glut_verdict_flips_at_its_threshold() -> None:
    costs = [1.0, 1.0, 1.0]
    # 30%, 32%, 34% of weeks in glut: CI [~0.27, ~0.37] is above 25%
    assert verdict(report.verdicts(runs([30, 32, 34], costs, costs)), "glut") == "yes"
    # 16%, 18%, 20%: entirely below
    assert verdict(report.verdicts(runs([16, 18, 20], costs, costs)), "glut") == "no"
    # 20%, 25%, 30%: straddles
    v = report.verdicts(runs([20, 25, 30], costs, costs))
    assert verdict(v, "glut") == "inconclusive"
    m = v["hypotheses"]["glut"]["metrics"]["glut_weeks_share"]["overbuild"]
    assert m["mean"] == pytest.approx(0.25) and m["low"] < 0.25 < m["high"]
    # 22%, 28%, 34%: the mean is above 25% but the interval [~13%, ~43%] is not
    wide = report.verdicts(runs([22, 28, 34], costs, costs))
    assert wide["hypotheses"]["glut"]["metrics"]["glut_weeks_share"]["overbuild"]["mean"] > 0.25
    assert verdict(wide, "glut") == "inconclusive"
    # weeks below break-even without overbuild are not glut weeks
    quiet = runs([40, 40, 40], costs, costs)
    for r in quiet:
        r.economy["overbuild_ratio"][:] = 0.9
    assert verdict(report.verdicts(quiet), "glut") == "no"
    # too few seeds: inconclusive whatever the values
    assert verdict(report.verdicts(runs([90, 90], [1, 1], [1, 1])), "glut") == "inconclusive"


def test_buyer_gain_is_a_paired_comparison_that_flips_with_the_sign() -> None:
    below = [0, 0, 0, 0]
    base = [1.00, 1.40, 0.80, 1.20]  # large spread across seeds, small paired difference
    cheaper = report.verdicts(runs(below, [b - 0.05 for b in base], base))
    assert verdict(cheaper, "buyer_gain") == "yes"
    diff = cheaper["hypotheses"]["buyer_gain"]["metrics"]["lab_cost_difference"]
    assert diff["mean"] == pytest.approx(-0.05) and diff["high"] < 0
    assert verdict(report.verdicts(runs(below, [b + 0.05 for b in base], base)),
                   "buyer_gain") == "no"
    mixed = [base[0] - 0.05, base[1] + 0.05, base[2] - 0.05, base[3] + 0.04]
    assert verdict(report.verdicts(runs(below, mixed, base)), "buyer_gain") == "inconclusive"
    # an unpaired comparison would not see it: overbuild runs on other seeds do not pair
    lone = runs(below, [b - 0.05 for b in base], [])
    assert verdict(report.verdicts(lone), "buyer_gain") == "inconclusive"
    assert report.verdicts(lone)["inputs"]["pairs"] == 0


def test_circular_verdict_and_compute_run_is_not_available() -> None:
    flat = [1.0, 1.0, 1.0]
    v = report.verdicts(runs([0, 0, 0], flat, flat, circular=0.3))
    assert verdict(v, "circular_revenue") == "yes"
    assert verdict(report.verdicts(runs([0, 0, 0], flat, flat, circular=0.01)),
                   "circular_revenue") == "no"
    assert verdict(v, "compute_run") == "not available"


def write_run(path: Path, seed: int, overbuild: bool, e: dict[str, np.ndarray]) -> Path:
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps(
        {"seed": seed, "case": "" if overbuild else "no_overbuild",
         "econ_strategic_overbuild": float(overbuild)}))
    write_parquet(pa.table(e), path / "economy.parquet")
    return path


def test_cmx_report_pairs_run_directories_by_seed(tmp_path: Path) -> None:
    over = [write_run(tmp_path / f"o{s}", s, True, economy(30, 1.0 - 0.01 * s))
            for s in (1, 2, 3)]
    base = [write_run(tmp_path / f"b{s}", s, False, economy(0, 1.1 - 0.01 * s))
            for s in (3, 1, 2)]  # any order: pairs go by seed
    out = tmp_path / "rep"
    args = ["report", *map(str, over)]
    for b in base:
        args += ["--baseline", str(b)]
    assert cmx(*args, "--out", str(out), "--no-charts") == 0
    v = json.loads((out / "verdicts.json").read_text())
    assert v["inputs"]["pairs"] == 3
    diff = v["hypotheses"]["buyer_gain"]["metrics"]["lab_cost_difference"]
    assert diff["values"] == pytest.approx([-0.1, -0.1, -0.1])
    assert verdict(v, "buyer_gain") == "yes"
    assert verdict(v, "glut") == "yes"
    assert cmx("report", str(tmp_path / "missing")) == 2


def test_runs_with_different_parameters_are_not_pooled(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", 1, True, economy(0, 1.0))
    b = write_run(tmp_path / "b", 1, False, economy(0, 1.0))
    (b / "config.json").write_text(json.dumps({"overrides": {"scenario.duration": 600.0}}))
    assert cmx("report", str(a), str(b), "--out", str(tmp_path / "r"), "--no-charts") == 2
    assert "scenario.duration" in capsys.readouterr().err
    # the overbuild switch itself is what tells the arms apart, not a parameter difference
    (b / "config.json").write_text(json.dumps(
        {"overrides": {report.OVERBUILD_KEY: False}}))
    assert cmx("report", str(a), str(b), "--out", str(tmp_path / "r"), "--no-charts") == 0


def test_report_numbers_keep_a_decimal_for_years_and_large_totals() -> None:
    from scenarios.report import _ci

    year = {"mean": 2032.96, "low": 2032.76, "high": 2033.16, "n": 5}
    assert _ci(year) == "2033.0 [2032.8, 2033.2] (n=5)"  # not "2033 [2033, 2033]"
    share = {"mean": 0.08702, "low": 0.06004, "high": 0.114, "n": 5}
    assert _ci(share) == "0.08702 [0.06004, 0.114] (n=5)"
