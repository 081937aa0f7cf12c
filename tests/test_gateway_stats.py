"""Ticker statistics cover a rolling 24 hours."""

from __future__ import annotations

import random

from exchange.gateway.venue import DAY_NS, Stats

HOUR = 3600 * 1_000_000_000


def test_rolling_window_matches_a_brute_force_recount():
    rng = random.Random(5)
    stats = Stats()
    trades: list[tuple[int, int, int]] = []
    ts = clock = 0
    for _ in range(3000):
        ts += rng.randint(0, HOUR // 20)
        price, amount = rng.randint(1500, 2500), rng.randint(1, 9)
        stats.add(ts, price, amount)
        trades.append((ts, price, amount))
        if rng.random() < 0.2:
            clock = now = max(clock, ts + rng.randint(0, HOUR))  # the clock never goes back
            stats.expire(now)
            live = [t for t in trades if t[0] > now - DAY_NS]
            assert stats.volume == sum(a for _, _, a in live)
            assert stats.high == (max(p for _, p, _ in live) if live else None)
            assert stats.low == (min(p for _, p, _ in live) if live else None)
            assert stats.first == (live[0][1] if live else None)


def test_old_trades_leave_the_window():
    stats = Stats()
    stats.add(0, 3000, 5)
    stats.add(2 * HOUR, 2000, 1)
    stats.expire(25 * HOUR)
    assert (stats.volume, stats.high, stats.low, stats.first) == (1, 2000, 2000, 2000)
    stats.expire(27 * HOUR)
    assert (stats.volume, stats.high, stats.low, stats.first) == (0, None, None, None)
