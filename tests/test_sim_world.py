"""Exogenous series and shocks (scenarios/world.py): each kind has the moments its parameters
promise, paths are a function of their seed, reads outside the grid are clamped, and a shock
changes the path from its instant on and nothing before."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.base import Agent
from agents.noise import NoiseTrader
from agents.registry import resolve
from scenarios.config import Series, Shock
from scenarios.world import NS, SeriesPath, World, apply_shock, draw

STEPS = 20_000


def path_of(seed: int = 1, **kw) -> np.ndarray:
    series = Series(**{"name": "x", "initial": 100.0, "interval": 1.0, "floor": -1e9, **kw})
    return np.asarray(draw(series, STEPS - 1, 0, np.random.default_rng(seed)).values)


def test_constant_and_zero_volatility_paths_stay_put() -> None:
    assert set(path_of(kind="constant", sigma=3.0)) == {100.0}
    assert set(path_of(kind="random_walk", sigma=0.0)) == {100.0}
    assert len(path_of(kind="constant")) == STEPS


def test_random_walk_increments_have_the_promised_spread() -> None:
    steps = np.diff(path_of(kind="random_walk", sigma=0.5, interval=4.0)[:STEPS // 4])
    assert abs(steps.mean()) < 0.05
    assert steps.std() == pytest.approx(0.5 * math.sqrt(4.0), rel=0.05)


def test_gbm_is_positive_with_lognormal_increments() -> None:
    values = path_of(kind="gbm", sigma=0.01)
    assert (values > 0).all()
    log_steps = np.diff(np.log(values))
    assert log_steps.std() == pytest.approx(0.01, rel=0.05)
    # the drift correction keeps the mean of the price, not of its log, flat
    assert log_steps.mean() == pytest.approx(-0.5 * 0.01**2, abs=2e-4)


def test_ou_reverts_to_its_mean_with_the_stationary_spread() -> None:
    kappa, sigma = 0.05, 2.0
    values = path_of(kind="ou", initial=130.0, mean=100.0, kappa=kappa, sigma=sigma)
    assert values[0] == 130.0
    settled = values[1000:]
    assert settled.mean() == pytest.approx(100.0, abs=1.0)
    assert settled.std() == pytest.approx(sigma / math.sqrt(2 * kappa), rel=0.1)


def test_paths_are_a_function_of_their_seed_and_respect_the_floor() -> None:
    kw = {"kind": "random_walk", "sigma": 1.0}
    assert (path_of(3, **kw) == path_of(3, **kw)).all()
    assert not (path_of(3, **kw) == path_of(4, **kw)).all()
    floored = path_of(kind="random_walk", sigma=5.0, initial=1.0, floor=0.5)
    assert floored.min() == 0.5


def test_reads_are_a_step_function_clamped_to_the_grid() -> None:
    path = SeriesPath("x", [1.0, 2.0, 3.0], interval_ns=10, start_ns=100)
    assert [path.at(ts) for ts in (0, 100, 109, 110, 125, 129, 130, 10**12)] == [
        1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    world = World([path])
    assert world.value("x", 115) == 2.0
    with pytest.raises(KeyError, match="no exogenous series named 'y'"):
        world.value("y", 0)


def test_a_shock_changes_the_path_from_its_instant_on() -> None:
    path = SeriesPath("x", [10.0] * 6, interval_ns=NS, start_ns=0)
    apply_shock(path, Shock(at=2.5, series="x", scale=0.5, add=1.0))
    assert path.values == [10.0, 10.0, 10.0, 6.0, 6.0, 6.0]
    apply_shock(path, Shock(at=100.0, series="x", scale=0.0))  # past the end: nothing
    assert path.values[-1] == 6.0


def test_agent_classes_by_name_or_import_path() -> None:
    assert resolve("noise") is NoiseTrader
    assert resolve("agents.noise:NoiseTrader") is NoiseTrader
    with pytest.raises(LookupError, match="cannot import 'agents.nope:X'"):
        resolve("agents.nope:X")
    with pytest.raises(LookupError, match="cannot import 'agents.noise:Nope'"):
        resolve("agents.noise:Nope")
    with pytest.raises(LookupError, match="is not an Agent subclass"):
        resolve("agents.base:NS")
    with pytest.raises(LookupError, match="unknown agent class 'martian'"):
        resolve("martian")
    assert issubclass(resolve("agents.base:Agent"), Agent)
