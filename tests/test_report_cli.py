"""``cmx report`` end to end on small compute-glut runs and a small sweep over both cases."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from scenarios import cli
from scenarios.config import PACKAGE_DIR

#: the documented keys of verdicts.json
TOP_KEYS = {"schema", "interval", "inputs", "hypotheses"}
HYPOTHESES = {"glut", "buyer_gain", "circular_revenue", "compute_run"}
VERDICTS = {"yes", "no", "inconclusive", "not available"}


def cmx(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cmx")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


def small_glut(tmp_path: Path, weeks: int, grid: str = "") -> Path:
    """compute_glut cut to ``weeks`` simulated weeks (one per 60 virtual seconds), with its
    sweep grid replaced by ``grid`` (TOML lines of ``[sweep.grid]``; none by default)."""
    text = (PACKAGE_DIR / "compute_glut.toml").read_text()
    text = text.replace("duration = 24960.0", f"duration = {weeks * 60.0}")
    assert f"duration = {weeks * 60.0}" in text
    head, sep, tail = text.partition("[sweep.grid]\n")
    assert sep, "compute_glut ships a sweep grid"
    rest = tail.split("\n\n", 1)[1] if "\n\n" in tail else ""
    text = head + (sep + grid + "\n\n" if grid else "") + rest
    path = tmp_path / "glut.toml"
    path.write_text(text)
    return path


def assert_self_contained(page: str) -> None:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I)
    assert refs, "the page embeds its charts"
    assert all(r.startswith("data:") for r in refs), refs
    assert "<link" not in page.lower() and "<script" not in page.lower()
    assert "url(" not in page.lower()


def check_verdicts(path: Path) -> dict:
    v = json.loads(path.read_text())
    assert TOP_KEYS <= set(v)
    assert set(v["hypotheses"]) == HYPOTHESES
    for hyp in v["hypotheses"].values():
        assert {"statement", "verdict", "reason", "metrics"} <= set(hyp)
        assert hyp["verdict"] in VERDICTS
    for key in ("glut", "buyer_gain", "circular_revenue"):
        assert {"test", "rule", "threshold"} <= set(v["hypotheses"][key])
    assert v["hypotheses"]["compute_run"]["verdict"] == "not available"
    assert v["interval"]["confidence"] == 0.95
    return v


def test_sweep_over_both_cases_writes_the_report(tmp_path: Path, capsys) -> None:
    scenario = small_glut(tmp_path, 30)
    out = tmp_path / "sweep"
    assert cmx("sweep", str(scenario), "--serial", "--seeds", "3", "--with-case",
               "no_overbuild", "--no-progress", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "3 seeds x 2 cases" in printed and "buyer_gain:" in printed
    plan = json.loads((out / "sweep.json").read_text())
    assert [r["seed"] for r in plan["runs"]] == [1, 2, 3, 1, 2, 3]
    assert [r.get("case") for r in plan["runs"]] == [None] * 3 + ["no_overbuild"] * 3
    runs = pq.read_table(out / "runs.parquet").to_pylist()
    assert [r["econ_strategic_overbuild"] for r in runs] == [1.0] * 3 + [0.0] * 3
    assert len(list((out / "economy").glob("run-*.parquet"))) == 6
    report = out / "report"
    for name in ("report.md", "report.html", "verdicts.json", "prices.png", "overbuild.png",
                 "lab_cost.png", "circular.png"):
        assert (report / name).exists(), name
    page = (report / "report.html").read_text()
    assert_self_contained(page)
    assert page.count("data:image/png;base64,") == 4
    v = check_verdicts(report / "verdicts.json")
    assert v["inputs"]["pairs"] == 3
    assert v["inputs"]["overbuild_seeds"] == [1, 2, 3]
    # the paired differences are recomputed from the runs' economy tables
    by_run = {r["run_id"]: r["econ_lab_avg_cost"] for r in runs}
    diffs = [by_run[i] - by_run[i + 3] for i in range(3)]
    got = v["hypotheses"]["buyer_gain"]["metrics"]["lab_cost_difference"]
    assert got["values"] == diffs
    assert got["mean"] == sum(diffs) / 3
    md = (report / "report.md").read_text()
    assert "not yet" in md or "not available" in md
    assert "## Glut occurred" in md and "## Circular revenue is material" in md


def test_run_writes_a_report_unless_told_not_to(tmp_path: Path, capsys) -> None:
    scenario = small_glut(tmp_path, 12)
    out = tmp_path / "run"
    assert cmx("run", str(scenario), "--seed", "1", "--no-progress", "--out", str(out)) == 0
    assert "glut: inconclusive" in capsys.readouterr().out  # one seed decides nothing
    v = check_verdicts(out / "report" / "verdicts.json")
    assert v["hypotheses"]["buyer_gain"]["verdict"] == "inconclusive"
    assert_self_contained((out / "report" / "report.html").read_text())
    bare = tmp_path / "bare"
    assert cmx("run", str(scenario), "--seed", "1", "--no-progress", "--no-charts",
               "--no-report", "--out", str(bare)) == 0
    assert (bare / "economy.parquet").exists() and not (bare / "report").exists()
    # a run without an economy cannot be reported on
    plain = tmp_path / "plain"
    assert cmx("run", "classic_double_auction", "--no-progress", "--no-charts", "--out",
               str(plain), "--set", "scenario.duration=60.0") == 0
    assert not (plain / "report").exists()
    assert cmx("report", str(plain)) == 2
    assert "no economy.parquet" in capsys.readouterr().err
