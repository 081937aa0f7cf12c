"""Farmer, Patelli & Zovko (2005): with Poisson limit (alpha), market (mu) and cancel (delta)
order flow, the mean spread scales as (mu/alpha)(0.28 + 1.86 eps^(3/4)), eps = delta*sigma/mu.
Across the shipped sweep of mu and delta, the regression of log mean spread on log predicted
spread must have slope 1 +/- 0.2, in the regime tick << mu/alpha."""

from __future__ import annotations

import numpy as np
from sim_helpers import shipped_raw

from scenarios import runner
from scenarios.config import load_raw
from scenarios.sweep import grid_points


def predicted_spread(loaded) -> tuple[float, float]:
    """(prediction in ticks, tick / (mu/alpha)) from a scenario's market-wide rates."""
    alpha = mu = 0.0
    delta = sigma = None
    for group, params in zip(loaded.scenario.agents, loaded.agent_params, strict=True):
        alpha += group.count * params.limit_rate
        mu += group.count * params.market_rate
        if params.limit_rate > 0:
            delta, sigma = params.cancel_rate, params.size
    eps = delta * sigma / mu
    scale = mu / alpha
    return scale * (0.28 + 1.86 * eps**0.75), 1.0 / scale


def test_spread_follows_the_fpz_law() -> None:
    raw = shipped_raw("fpz_spread")
    base = load_raw(raw, "fpz_spread")
    xs, ys = [], []
    for point in grid_points(base.scenario.sweep.grid):
        loaded = load_raw(raw, "fpz_spread", None, point)
        prediction, tick_ratio = predicted_spread(loaded)
        assert tick_ratio <= 0.05  # the law is stated for a small tick
        spread = runner.run(loaded, 7).summary["mean_spread_ticks"]
        xs.append(np.log(prediction))
        ys.append(np.log(spread))
    slope, _ = np.polyfit(xs, ys, 1)
    assert len(xs) == 9
    assert abs(slope - 1.0) <= 0.2, slope
    assert np.corrcoef(xs, ys)[0, 1] > 0.95
