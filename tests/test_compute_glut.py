"""``cmx run compute_glut`` and its counterfactual end to end, at a small size."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from exchange.cli import main

WEEKS = 156  # 3 years: contracted GW diverge between the cases in the third


def run_case(tmp_path, case: str | None, capsys) -> tuple[dict, str, list]:  # noqa: ANN001
    out = tmp_path / (case or "glut")
    args = ["run", "compute_glut", "--seed", "1", "--no-progress", "--no-charts", "--out",
            str(out),
            "--set", f"scenario.duration={60.0 * WEEKS}"]
    if case:
        args += ["--case", case]
    assert main(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    economy = pq.read_table(out / "economy.parquet")
    assert economy.num_rows == WEEKS
    for column in ("overbuild_ratio", "utilisation", "spot_price", "break_even", "defaults",
                   "lab_avg_cost", "circular_share_msft"):
        assert column in economy.column_names, column
    return summary, printed, economy.column("contracted_gw").to_pylist()


def test_glut_and_counterfactual_report_the_labs_cost(tmp_path, capsys) -> None:  # noqa: ANN001
    glut, printed, glut_gw = run_case(tmp_path, None, capsys)
    base, printed_base, base_gw = run_case(tmp_path, "no_overbuild", capsys)
    assert glut["seed"] == base["seed"]
    assert glut["econ_strategic_overbuild"] == 1.0
    assert base["econ_strategic_overbuild"] == 0.0
    for summary, text in ((glut, printed), (base, printed_base)):
        assert 0.0 < summary["econ_lab_avg_cost"] < 10.0
        assert 0.0 < summary["econ_min_spot"] <= summary["econ_mean_spot"]
        assert "lab cost per GPU-hour" in text
        assert summary["econ_periods"] == WEEKS
    # the overbuild commits the lab to more capacity than its own demand calls for. Early on
    # both arms contract what the sellers can finance (their cash and the vendors' chip
    # loans), so the two paths are within rounding of each other (a build of another size
    # leaves another loan schedule); by the end the overbuild has more
    assert all(g >= 0.99 * b - 1e-9 for g, b in zip(glut_gw, base_gw, strict=True))
    assert glut["econ_final_contracted_gw"] > base["econ_final_contracted_gw"]
