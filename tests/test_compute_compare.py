"""``cmx run compute_glut`` (the README's main command) runs both cases on the same seeds and
reports conclusively; ``--seed``/``--case`` still run one; a sweep grid reports the glut per
point. All at a small size (a few simulated weeks)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scenarios.config import ScenarioError, load, load_raw, read_raw, resolve_path, resolved_value
from tests.sim_helpers import digests
from tests.test_report_cli import check_verdicts, cmx, small_glut

WEEKS = 12


def test_the_main_command_runs_both_cases_on_the_same_seeds(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    scenario = small_glut(tmp_path, WEEKS)
    out = tmp_path / "main"
    assert cmx("run", str(scenario), "--no-progress", "--no-charts", "--serial",
               "--set", "compare.seeds=3", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    # both arms with the lab's partners' backstop off (the headline) and on
    cases = ["no_overbuild", "backstop", "backstop_no_overbuild"]
    assert f"4 case(s) (default, {', '.join(cases)}) x 3 seeds 1-3" in printed
    assert "no_overbuild" in printed and "lab net $/h" in printed
    assert "lab all-in $/h" in printed and "backstop on: glut" in printed
    plan = json.loads((out / "sweep.json").read_text())
    assert [r["seed"] for r in plan["runs"]] == [1, 2, 3] * 4
    assert [r.get("case") for r in plan["runs"]] == [None] * 3 + [c for c in cases
                                                                 for _ in range(3)]
    runs = pq.read_table(out / "runs.parquet").to_pylist()
    assert [r["econ_strategic_overbuild"] for r in runs] == ([1.0] * 3 + [0.0] * 3) * 2
    assert [r["econ_lab_backstop"] for r in runs] == [0.0] * 6 + [1.0] * 6
    v = check_verdicts(out / "report" / "verdicts.json")
    assert v["inputs"]["pairs"] == 3  # the headline pairs: backstop off, never pooled
    assert set(v["financing"]) == {"backstop off", "backstop on"}
    assert v["financing_headline"] == "backstop off"
    for regime in v["financing"].values():
        assert regime["lab_cost_difference"]["n"] == 3
    # enough seeds and pairs: no hypothesis is left undecided for want of them
    for key in ("glut", "buyer_gain", "circular_revenue"):
        assert "a verdict needs" not in v["hypotheses"][key]["reason"], key
    assert "sensitivity" not in v  # one parameter set: no grid
    # the counterfactual of seed 2 is exactly what a single run of that case and seed gives
    one = tmp_path / "one"
    assert cmx("run", str(scenario), "--case", "no_overbuild", "--seed", "2", "--no-progress",
               "--no-charts", "--no-report", "--out", str(one)) == 0
    assert not (one / "sweep.json").exists() and (one / "summary.json").exists()
    single = pq.read_table(one / "economy.parquet").drop(["run_id"]).to_pydict()
    in_main = pq.read_table(out / "economy" / "run-000004.parquet").drop(["run_id"])
    assert repr(in_main.to_pydict()) == repr(single)


def test_the_main_command_is_byte_identical_serial_or_on_processes(tmp_path: Path,
                                                                    capsys) -> None:  # noqa: ANN001
    scenario = small_glut(tmp_path, 6)
    outs = []
    for flag in ("--serial", "--workers=2"):
        out = tmp_path / flag.strip("-=2")
        assert cmx("run", str(scenario), flag, "--no-progress", "--no-charts", "--no-report",
                   "--set", "compare.seeds=2", "--out", str(out)) == 0
        outs.append(digests(out))
    capsys.readouterr()
    assert outs[0] == outs[1]
    assert any(name.startswith("economy/") for name in outs[0])


def test_compare_names_only_cases_the_file_has() -> None:
    raw = read_raw(resolve_path("compute_glut"))
    raw["compare"] = {"cases": ["no_such_case"], "seeds": 3}
    with pytest.raises(ScenarioError, match=r"compare.cases\[0\]`: no case named"):
        load_raw(raw, "glut.toml")
    raw["compare"] = {"cases": [], "seeds": 0}
    with pytest.raises(ScenarioError, match="compare.seeds"):
        load_raw(raw, "glut.toml")


def test_resolved_values_fill_in_defaults() -> None:
    loaded = load("compute_glut")
    assert resolved_value(loaded, "economy.params.cluster.life_years") == 6.0  # a default
    assert resolved_value(loaded, "economy.users_budget") == 4.0  # set in the file
    assert resolved_value(loaded, "agents.arb.params.max_lots") == 100
    assert resolved_value(loaded, "economy.params.no_such_key") is None


def test_a_grid_reports_the_glut_point_by_point(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    grid = '"economy.params.demand.adoption_rate" = [0.4, 0.8]'
    scenario = small_glut(tmp_path, WEEKS, grid)
    out = tmp_path / "grid"
    assert cmx("sweep", str(scenario), "--serial", "--seeds", "3", "--no-progress",
               "--with-case", "no_overbuild", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "glut by grid point (2 points" in printed
    plan = json.loads((out / "sweep.json").read_text())
    assert plan["defaults"] == {"economy.params.demand.adoption_rate": 0.8}
    v = json.loads((out / "report" / "verdicts.json").read_text())
    s = v["sensitivity"]
    assert [p["params"]["economy.params.demand.adoption_rate"] for p in s["points"]] == \
        [0.4, 0.8]
    slow, shipped = s["points"]
    assert slow["changed"] == ["economy.params.demand.adoption_rate"] and not slow["default"]
    assert shipped["default"] and shipped["changed"] == []
    # the headline verdicts are those of the file's own point, never pooled over the grid
    assert v["inputs"]["overbuild_seeds"] == [1, 2, 3]
    runs = {r["run_id"]: r for r in pq.read_table(out / "runs.parquet").to_pylist()}
    for point in s["points"]:
        lab = point["lab_cost_difference"]
        assert lab["n"] == 3 and len(point["seeds"]) == 3
        # each point's glut share is recomputed from its own runs' tables
        rate = point["params"]["economy.params.demand.adoption_rate"]
        ids = [i for i, r in runs.items() if r["economy.params.demand.adoption_rate"] == rate
               and r["econ_strategic_overbuild"] == 1.0]
        assert len(ids) == 3
        assert point["glut_weeks_share"]["n"] == 3
        # the lab's defaults per arm, counted from the runs' own final rows
        defaulted = sum(1 for i in ids if runs[i]["econ_lab_defaulted"] > 0)
        assert point["lab_defaults"]["overbuild"] == {"runs": 3, "defaulted": defaulted}
        assert point["lab_defaults"]["counterfactual"]["runs"] == 3
    md = (out / "report" / "report.md").read_text()
    assert "## Sensitivity: where does the glut start?" in md
    assert "Where the glut starts" in md
    assert (out / "report" / "sensitivity.png").exists()


def test_a_run_outside_the_exchanges_range_is_recorded_not_fatal(tmp_path: Path, capsys,  # noqa: ANN001
                                                                  monkeypatch) -> None:  # noqa: ANN001
    from scenarios import sweep as sw
    from scenarios.economy_driver import EconomyOutOfRange

    real = sw.runner.run

    def run(loaded, seed, run_id=0, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if loaded.overrides.get("economy.params.demand.adoption_rate") == 0.4 and seed == 2:
            raise EconomyOutOfRange("period 3: a balance past its integer limit")
        return real(loaded, seed, run_id, *args, **kwargs)

    monkeypatch.setattr(sw.runner, "run", run)
    scenario = small_glut(tmp_path, 6, '"economy.params.demand.adoption_rate" = [0.4, 0.8]')
    out = tmp_path / "failing"
    assert cmx("sweep", str(scenario), "--serial", "--seeds", "3", "--no-progress",
               "--out", str(out)) == 0
    capsys.readouterr()
    rows = pq.read_table(out / "runs.parquet").to_pylist()
    failed = [r for r in rows if r.get("failed")]
    assert [(r["seed"], r["economy.params.demand.adoption_rate"]) for r in failed] == [(2, 0.4)]
    assert not (out / "economy" / f"run-{failed[0]['run_id']:06d}.parquet").exists()
    v = json.loads((out / "report" / "verdicts.json").read_text())
    slow = v["sensitivity"]["points"][0]
    assert slow["params"]["economy.params.demand.adoption_rate"] == 0.4
    assert len(slow["failed"]) == 1 and slow["glut_weeks_share"]["n"] == 2
    assert slow["verdict"] == "inconclusive" and "failed" in slow["reason"]
    assert v["sensitivity"]["points"][1]["failed"] == []
