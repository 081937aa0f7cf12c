"""Exogenous series (fundamentals, demand indices) and the shocks applied to them.

Each series is drawn once, before the run, on a grid of ``interval`` seconds from its own random
stream, and read as a step function: reading it costs one division and one list index, and its
path does not depend on when (or whether) agents look at it.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.config import Series, Shock

NS = 1_000_000_000


class SeriesPath:
    __slots__ = ("name", "values", "interval_ns", "start_ns")

    def __init__(self, name: str, values: list[float], interval_ns: int, start_ns: int) -> None:
        self.name = name
        self.values = values
        self.interval_ns = interval_ns
        self.start_ns = start_ns

    def at(self, ts: int) -> float:
        i = (ts - self.start_ns) // self.interval_ns
        values = self.values
        if i >= len(values):
            return values[-1]
        return values[i if i > 0 else 0]


def draw(series: Series, duration_s: float, start_ns: int,
         rng: np.random.Generator) -> SeriesPath:
    """One path of a series over the run (plus one step), on its own grid."""
    steps = int(math.ceil(duration_s / series.interval)) + 1
    dt = series.interval
    x0 = series.initial
    if series.kind == "constant" or series.sigma == 0 and series.kind != "ou":
        values = np.full(steps, x0)
    elif series.kind == "random_walk":
        shocks = rng.normal(0.0, series.sigma * math.sqrt(dt), steps - 1)
        values = np.concatenate([[x0], x0 + np.cumsum(shocks)])
    elif series.kind == "gbm":
        drift = -0.5 * series.sigma**2 * dt
        shocks = rng.normal(drift, series.sigma * math.sqrt(dt), steps - 1)
        values = np.concatenate([[x0], x0 * np.exp(np.cumsum(shocks))])
    else:  # Ornstein-Uhlenbeck, exact discretisation
        mean = x0 if series.mean is None else series.mean
        decay = math.exp(-series.kappa * dt)
        if series.kappa > 0:
            sd = series.sigma * math.sqrt((1 - decay**2) / (2 * series.kappa))
        else:
            sd = series.sigma * math.sqrt(dt)
        noise = rng.normal(0.0, sd, steps - 1)
        values = np.empty(steps)
        values[0] = x0
        x = x0
        for i in range(1, steps):
            x = mean + (x - mean) * decay + noise[i - 1]
            values[i] = x
    values = np.maximum(values, series.floor)
    return SeriesPath(series.name, values.tolist(), int(series.interval * NS), start_ns)


def apply_shock(path: SeriesPath, shock: Shock) -> None:
    first = int(math.ceil(shock.at * NS / path.interval_ns))
    values = path.values
    for i in range(min(first, len(values)), len(values)):
        values[i] = values[i] * shock.scale + shock.add


class World:
    """Every exogenous series of a run, by name."""

    def __init__(self, paths: list[SeriesPath]) -> None:
        self.paths = {p.name: p for p in paths}

    def value(self, name: str, ts: int) -> float:
        path = self.paths.get(name)
        if path is None:
            raise KeyError(f"no exogenous series named {name!r}")
        return path.at(ts)
