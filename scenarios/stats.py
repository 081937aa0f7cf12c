"""Statistics read off a run's tables: time-weighted spread and the stylized facts.

The stylized facts are the standard checks that a simulated price behaves like a market's
(Cont 2001): returns are fat-tailed (positive excess kurtosis, shrinking as the sampling
interval grows), raw returns are almost uncorrelated beyond the first lag, and absolute returns
stay positively correlated for many lags (volatility clustering). They are computed from the
mid-price sampled on a regular grid at several intervals.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from scenarios.recorder import instrument_mask

NS = 1_000_000_000
INTERVALS_S = (1.0, 10.0, 60.0, 300.0)
LAGS = (1, 2, 3, 5, 10, 20)
MIN_RETURNS = 50

FACTS_SCHEMA = pa.schema([
    ("instrument", pa.string()), ("interval_s", pa.float64()), ("n_returns", pa.int64()),
    ("std", pa.float64()), ("excess_kurtosis", pa.float64()), ("lag", pa.int64()),
    ("acf_returns", pa.float64()), ("acf_abs_returns", pa.float64()),
])


def _quote_arrays(quotes: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if quotes.num_rows == 0:
        empty = np.array([], dtype=np.float64)
        return np.array([], dtype=np.int64), empty, empty
    mask = instrument_mask(quotes.column("instrument"), name)
    ts = quotes.column("ts").to_numpy()[mask]
    bid = quotes.column("bid_ticks").to_numpy(zero_copy_only=False).astype(np.float64)[mask]
    ask = quotes.column("ask_ticks").to_numpy(zero_copy_only=False).astype(np.float64)[mask]
    return ts, bid, ask


def time_weighted_spread(quotes: pa.Table, name: str, start_ns: int, end_ns: int) -> float:
    """Mean bid-ask spread in ticks over [start, end], weighting each quote by how long it
    stood; time with an empty side is left out. NaN when there is no two-sided quote."""
    ts, bid, ask = _quote_arrays(quotes, name)
    if len(ts) == 0:
        return float("nan")
    spread = ask - bid
    begin = np.clip(ts, start_ns, end_ns)
    finish = np.clip(np.append(ts[1:], end_ns), start_ns, end_ns)
    weight = (finish - begin).astype(np.float64)
    ok = ~np.isnan(spread) & (weight > 0)
    if not ok.any():
        return float("nan")
    return float(np.sum(spread[ok] * weight[ok]) / np.sum(weight[ok]))


def mid_on_grid(quotes: pa.Table, name: str, start_ns: int, end_ns: int,
                interval_ns: int) -> np.ndarray:
    """Mid-price (ticks) standing at each grid instant; NaN before the first two-sided quote,
    and the last two-sided mid carried forward over one-sided moments."""
    ts, bid, ask = _quote_arrays(quotes, name)
    grid = np.arange(start_ns, end_ns + 1, interval_ns)
    if len(ts) == 0:
        return np.full(len(grid), np.nan)
    mid = (bid + ask) / 2
    valid = ~np.isnan(mid)
    ts, mid = ts[valid], mid[valid]
    if len(ts) == 0:
        return np.full(len(grid), np.nan)
    idx = np.searchsorted(ts, grid, side="right") - 1
    out = np.where(idx >= 0, mid[np.maximum(idx, 0)], np.nan)
    return out


def acf(x: np.ndarray, lag: int) -> float:
    if len(x) <= lag + 1:
        return float("nan")
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom == 0:
        return float("nan")
    return float(np.dot(x[:-lag], x[lag:]) / denom)


def excess_kurtosis(x: np.ndarray) -> float:
    if len(x) < 4:
        return float("nan")
    x = x - x.mean()
    var = float(np.mean(x * x))
    if var == 0:
        return float("nan")
    return float(np.mean(x**4) / var**2 - 3.0)


def stylized_facts(quotes: pa.Table, name: str, start_ns: int, end_ns: int,
                   intervals_s: tuple[float, ...] = INTERVALS_S,
                   lags: tuple[int, ...] = LAGS) -> pa.Table:
    """Kurtosis and autocorrelations of log mid returns at each sampling interval that yields
    at least ``MIN_RETURNS`` returns: one row per (interval, lag)."""
    rows = []
    for interval in intervals_s:
        mids = mid_on_grid(quotes, name, start_ns, end_ns, int(interval * NS))
        mids = mids[~np.isnan(mids)]
        if len(mids) < MIN_RETURNS + 1:
            continue
        returns = np.diff(np.log(mids))
        kurt = excess_kurtosis(returns)
        std = float(returns.std())
        for lag in lags:
            rows.append((name, interval, len(returns), std, kurt, lag, acf(returns, lag),
                         acf(np.abs(returns), lag)))
    if not rows:
        return FACTS_SCHEMA.empty_table()
    cols = list(zip(*rows, strict=True))
    return pa.table([pa.array(c, type=f.type) for c, f in zip(cols, FACTS_SCHEMA, strict=True)],
                    schema=FACTS_SCHEMA)
