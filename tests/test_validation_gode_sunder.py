"""Gode & Sunder (1993): the double auction's rules, not the traders' intelligence, deliver
allocative efficiency. ZI-C traders (no trade at a loss) reach ~99% (their Table 2: 98.7% on
average); unconstrained ZI-U traders are far less efficient (78.3% on average)."""

from __future__ import annotations

import numpy as np
from sim_helpers import shipped

from scenarios import runner

SEEDS = range(1, 21)


def efficiencies(case: str | None) -> np.ndarray:
    loaded = shipped("classic_double_auction", case)
    return np.array([runner.run(loaded, seed).summary["efficiency"] for seed in SEEDS])


def test_zi_c_is_efficient_and_zi_u_markedly_less() -> None:
    zic = efficiencies(None)
    ziu = efficiencies("zi_u")
    assert zic.mean() >= 0.95, zic
    assert zic.min() >= 0.85, zic  # no run is badly off, not just the average
    assert ziu.mean() <= zic.mean() - 0.08, (ziu.mean(), zic.mean())
    assert ziu.mean() < 0.90


def test_zi_c_never_trades_at_a_loss() -> None:
    loaded = shipped("classic_double_auction")
    result = runner.run(loaded, 3)
    for agent in result.agents:
        assert agent.surplus >= 0  # type: ignore[attr-defined]
    ziu = runner.run(shipped("classic_double_auction", "zi_u"), 3)
    assert any(a.surplus < 0 for a in ziu.agents)  # type: ignore[attr-defined]
