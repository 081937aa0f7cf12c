"""The statistics the run summaries and reports are built on, on tables small enough to work
out by hand: the time-weighted spread, the mid on a grid, and what each returns when there is
too little to measure (NaN, never an exception or a made-up number)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.recorder import QUOTES_SCHEMA, rows_to_table
from scenarios.stats import acf, excess_kurtosis, mid_on_grid, time_weighted_spread


def quotes(*rows: tuple) -> object:
    """(ts, instrument, bid, bid_size, ask, ask_size) rows as a quotes table."""
    return rows_to_table(list(rows), QUOTES_SCHEMA)


BOOK = quotes(
    (10, "A", 100, 1, 102, 1),    # spread 2 from 10
    (20, "A", 100, 1, 106, 1),    # spread 6 from 20
    (25, "B", 1, 1, 900, 1),      # another instrument: ignored
    (50, "A", None, None, 104, 1),  # one-sided from 50: left out of the spread
    (60, "A", 101, 1, 103, 1),    # spread 2 from 60
)


def test_time_weighted_spread_weights_each_quote_by_how_long_it_stood() -> None:
    # [10, 20): 2 for 10 ns; [20, 50): 6 for 30 ns; [50, 60) one-sided; [60, 100]: 2 for 40 ns
    assert time_weighted_spread(BOOK, "A", 0, 100) == pytest.approx((20 + 180 + 80) / 80)
    # a window that starts inside a quote counts only the part inside it
    assert time_weighted_spread(BOOK, "A", 30, 50) == pytest.approx(6.0)
    assert time_weighted_spread(BOOK, "B", 0, 100) == pytest.approx(899.0)


def test_mid_on_grid_carries_the_last_two_sided_mid() -> None:
    mids = mid_on_grid(BOOK, "A", 0, 70, 10)
    assert math.isnan(mids[0])  # before the first quote
    assert list(mids[1:]) == [101.0, 103.0, 103.0, 103.0, 103.0, 102.0, 102.0]


@pytest.mark.parametrize("table", [
    quotes(),
    quotes((10, "A", None, None, 104, 1), (20, "A", 99, 1, None, None)),
    quotes((10, "B", 1, 1, 3, 1)),
])
def test_nothing_to_measure_is_nan(table) -> None:
    assert math.isnan(time_weighted_spread(table, "A", 0, 100))
    assert np.isnan(mid_on_grid(table, "A", 0, 100, 10)).all()


def test_moments_of_too_short_or_flat_series_are_nan() -> None:
    assert math.isnan(acf(np.array([1.0, 2.0]), 1))
    assert math.isnan(acf(np.full(10, 3.0), 1))
    assert math.isnan(excess_kurtosis(np.array([1.0, 2.0, 3.0])))
    assert math.isnan(excess_kurtosis(np.full(10, 3.0)))
    # and a few exact values: an alternating series, the uniform distribution's -1.2
    assert acf(np.array([1.0, -1.0] * 50), 1) == pytest.approx(-0.99)
    assert excess_kurtosis(np.linspace(0, 1, 100_001)) == pytest.approx(-1.2, abs=1e-3)
