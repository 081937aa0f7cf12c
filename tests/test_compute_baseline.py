"""The baseline scenario is the glut scenario's counterfactual as a file of its own."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from exchange.cli import main

WEEKS = 26


def run(tmp_path, scenario: str, case: str | None = None) -> tuple[dict, list]:  # noqa: ANN001
    out = tmp_path / (scenario + (case or ""))
    args = ["run", scenario, "--no-progress", "--no-charts", "--no-report", "--out", str(out),
            "--set", f"scenario.duration={60.0 * WEEKS}"]
    if case:
        args += ["--case", case]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    return summary, pq.read_table(out / "economy.parquet").column("spot_price").to_pylist()


def test_baseline_matches_the_glut_counterfactual_on_the_same_seed(tmp_path, capsys) -> None:  # noqa: ANN001
    baseline, baseline_prices = run(tmp_path, "baseline")
    counterfactual, counterfactual_prices = run(tmp_path, "compute_glut", "no_overbuild")
    capsys.readouterr()
    assert baseline["econ_strategic_overbuild"] == 0.0
    assert baseline["econ_periods"] == WEEKS
    assert baseline_prices == counterfactual_prices
