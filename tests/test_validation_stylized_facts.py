"""The stylized-facts report of the noise-trader market: its table is written with the run's
outputs and shows the facts that are robust in this market (Cont 2001): fat-tailed returns at
short intervals that become closer to Gaussian as the interval grows."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
from sim_helpers import small_noise_market

from scenarios import runner
from scenarios.artifacts import facts_table, save_run
from scenarios.stats import acf, excess_kurtosis


def test_facts_table_is_written_and_fat_tailed(tmp_path) -> None:
    loaded = small_noise_market(1800.0)
    result = runner.run(loaded, 1)
    save_run(tmp_path, loaded, result, charts=False)
    facts = pq.read_table(tmp_path / "stylized_facts.parquet")
    assert facts.column_names == ["instrument", "interval_s", "n_returns", "std",
                                  "excess_kurtosis", "lag", "acf_returns", "acf_abs_returns"]
    rows = facts.to_pylist()
    intervals = sorted({r["interval_s"] for r in rows})
    assert intervals[:2] == [1.0, 10.0]
    assert all(math.isfinite(r[k]) for r in rows for k in ("std", "excess_kurtosis",
                                                         "acf_returns", "acf_abs_returns"))
    kurt = {r["interval_s"]: r["excess_kurtosis"] for r in rows}
    assert kurt[1.0] > 1.0  # fat tails at one second
    assert kurt[10.0] < kurt[1.0]  # aggregational Gaussianity
    assert facts_table(loaded, result).equals(facts)


def test_statistics_helpers() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    gauss = rng.normal(size=200_000)
    assert abs(excess_kurtosis(gauss)) < 0.05
    assert abs(excess_kurtosis(rng.standard_t(5, size=200_000)) - 6.0) < 1.5
    ar = np.zeros(50_000)
    for i in range(1, len(ar)):
        ar[i] = 0.5 * ar[i - 1] + gauss[i]
    assert abs(acf(ar, 1) - 0.5) < 0.02 and abs(acf(ar, 2) - 0.25) < 0.02
