"""The compute run: token holders follow the global-games rule on the exchange, the token's
price reaches the economy, and the report's run probability is a proportion with a Wilson
interval."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from agents.compute.token_holder import HolderParams, TokenHolder
from agents.compute.view import EconomyView, FutureInfo
from agents.economy.compute_token import TokenParams, holder_sigma, run_threshold, should_redeem
from scenarios import runner
from scenarios.report import (
    Run,
    run_cells,
    run_outcomes,
    run_verdict,
    tipping_points,
    wilson_interval,
)
from tests.sim_helpers import shipped

WEEKS = 20


class _View(EconomyView):
    """A constant view: only the token part matters to a holder."""

    def __init__(self, theta: float, large_ran: float = 0.0) -> None:
        self.theta = theta
        self.large_ran = large_ran

    def period(self) -> int:
        return 0

    def phase(self, now_ns: int) -> float:
        return 0.5

    def period_ns(self) -> int:
        return 60_000_000_000

    def reference_price(self) -> float:
        return 2.0

    def marginal_cost(self) -> float:
        return 0.1

    def break_even(self) -> float:
        return 1.6

    def demand_lots(self, price: float, who: str) -> int:
        return 0

    def kwh_price(self) -> float:
        return 0.08

    def kwh_lots_needed(self, entity: str) -> int:
        return 0

    def exposure_lots(self, entity: str) -> int:
        return 0

    def futures(self, now_ns: int) -> list[FutureInfo]:
        return []

    def strategic_overbuild(self) -> bool:
        return True

    def token_fundamental(self) -> float:
        return self.theta

    def large_run_share(self) -> float:
        return self.large_ran


def _holder(view: EconomyView, seed: int, **params: object) -> TokenHolder:
    agent = TokenHolder(1, HolderParams(**params), np.random.default_rng(seed), "CCT_USD")
    agent.attach_view(view)
    return agent


@pytest.mark.parametrize("large", [False, True])
def test_holders_follow_the_pure_rule(large: bool) -> None:
    tp = TokenParams()
    rng = np.random.default_rng(7)
    sells = stays = 0
    for theta in np.linspace(0.6, 1.2, 13):
        for observed in (0.0, 0.4):
            holder = _holder(_View(float(theta)), 1, tokens=400 if large else 50, large=large,
                             median_tokens=50.0)
            sigma = holder_sigma(400.0 if large else 50.0, 50.0, tp)
            for eps in rng.standard_normal(20):
                got = holder.decide(float(theta), float(eps), observed)
                signal = float(theta) + sigma * float(eps)
                # large holders move on their own signal; small ones also see the large ones
                want = should_redeem(signal, tp, sigma, 0.0 if large else observed)
                assert got == want
                assert math.isclose(holder.last_signal, signal)
                shaded = signal - (0.0 if large else tp.visibility * observed)
                assert got == (shaded < run_threshold(tp, sigma).signal_star)
                sells += got
                stays += not got
    assert sells and stays  # the grid spans both sides of the threshold


def test_a_holder_runs_below_the_threshold_and_stays_above() -> None:
    tp = TokenParams()
    star = run_threshold(tp).signal_star
    low = _holder(_View(star - 1.0), 3)  # far below: every draw of noise sells
    low.on_period(0)
    assert low.running and low.ran_period == 0
    high = _holder(_View(star + 1.0), 3)
    high.on_period(0)
    assert not high.running
    none = _holder(_View(math.nan), 3)  # no token market: nothing to decide on
    none.on_period(0)
    assert not none.running


def _run(seed: int, shock: float, leverage: float) -> pa.Table:
    loaded = shipped("compute_run", **{"scenario.duration": 60.0 * WEEKS,
                                       "economy.token_shock": shock,
                                       "economy.token_shock_period": 4,
                                       "economy.params.finance.token_sensitivity": leverage})
    return runner.run(loaded, seed, record=False).tables["economy"]


def test_a_tiny_run_is_deterministic_by_seed_and_feeds_the_token_price() -> None:
    a = _run(3, 0.2, 0.05)
    b = _run(3, 0.2, 0.05)
    assert a.num_rows == WEEKS
    # repr: byte-identical floats, and NaN (weeks without a number) compares equal to itself
    assert repr(a.to_pydict()) == repr(b.to_pydict())
    assert repr(_run(4, 0.2, 0.05).to_pydict()) != repr(a.to_pydict())
    price = a.column("token_price").to_pylist()
    assert price[0] == pytest.approx(1.0, abs=0.02)
    # the shock starts a sale: the token trades and its price, which the economy saw as its
    # token_price, falls after week 4
    assert sum(a.column("token_lots_traded").to_pylist()) > 0
    assert min(price[4:]) < 0.5 * price[0]
    # first movers fare better than the last
    first = a.column("token_first_decile_recovery").to_pylist()[-1]
    last = a.column("token_last_decile_recovery").to_pylist()[-1]
    assert first > last


def test_larger_shock_no_higher_token_and_token_channel_moves_capacity() -> None:
    calm = _run(5, 0.0, 0.15)
    shocked = _run(5, 0.4, 0.15)
    calm_price = calm.column("token_price").to_pylist()
    shocked_price = shocked.column("token_price").to_pylist()
    assert shocked_price[-1] <= calm_price[-1]
    assert shocked_price[-1] < 0.2
    # through the cost of capital the collapse cuts the GW ordered after the shock ...
    calm_builds = sum(calm.column("builds_gw").to_pylist()[4:])
    shocked_builds = sum(shocked.column("builds_gw").to_pylist()[4:])
    assert shocked_builds < calm_builds
    # ... and without the token channel the same collapse leaves the economy as it was
    off_calm = _run(5, 0.0, 0.0)
    off_shocked = _run(5, 0.4, 0.0)
    assert off_shocked.column("token_price").to_pylist()[-1] < 0.5
    assert off_calm.column("builds_gw").to_pylist() == off_shocked.column("builds_gw").to_pylist()
    assert off_calm.column("capacity_gw").to_pylist() == \
        off_shocked.column("capacity_gw").to_pylist()


def test_wilson_interval_on_known_values() -> None:
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.1078, abs=1e-4)
    assert high == pytest.approx(0.6032, abs=1e-4)
    low, high = wilson_interval(0, 5)
    assert low == 0.0
    assert high == pytest.approx(0.4345, abs=1e-4)
    low, high = wilson_interval(5, 5)
    assert low == pytest.approx(0.5655, abs=1e-4)
    assert high == 1.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def _econ(shock: float, lev: float, prices: list[float], builds: list[float],
          first: float = 0.9, last: float = 0.1) -> dict[str, np.ndarray]:
    n = len(prices)
    cols = {"token_shock": [shock] * n, "token_sensitivity": [lev] * n,
            "token_shock_period": [1.0] * n, "token_price": prices, "builds_gw": builds,
            "token_first_decile_recovery": [math.nan] * (n - 1) + [first],
            "token_last_decile_recovery": [math.nan] * (n - 1) + [last]}
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def _hand_runs() -> list[Run]:
    runs = []
    for seed in (1, 2, 3, 4):
        # the reference without the token channel: 3 GW ordered after week 1
        runs.append(Run(f"ref{seed}", seed, "", True, (), _econ(0.3, 0.0, [1, 1, 0.1],
                                                                 [5, 1, 2])))
        # with the channel: seeds 1-3 collapse (> 80% below the peak) and order less;
        # seed 4 falls 70% only, so it is not a run
        final = 0.3 if seed == 4 else 0.05
        runs.append(Run(f"lev{seed}", seed, "", True, (), _econ(0.3, 0.1, [1, 0.5, final],
                                                                 [5, 1, 1])))
    return runs


def test_run_probability_on_hand_built_runs() -> None:
    outcomes = run_outcomes(_hand_runs())
    assert len(outcomes) == 8
    # the reference runs collapse too, but capacity cannot contract without the channel
    assert not any(o.run for o in outcomes if o.leverage == 0.0)
    assert [o.run for o in outcomes if o.leverage == 0.1] == [True, True, True, False]
    cells = {(c["shock"], c["leverage"]): c for c in run_cells(outcomes)}
    cell = cells[(0.3, 0.1)]
    assert (cell["runs"], cell["n"], cell["probability"]) == (3, 4, 0.75)
    assert (cell["low"], cell["high"]) == pytest.approx(wilson_interval(3, 4))
    assert cells[(0.3, 0.0)]["probability"] == 0.0
    assert tipping_points(list(cells.values())) == {"0": None, "0.1": 0.3}
    # 3 of 4 is not enough: its Wilson interval reaches below one half
    h = run_verdict(_hand_runs())
    assert h["verdict"] == "inconclusive"
    assert h["metrics"]["first_minus_last_recovery"]["mean"] == pytest.approx(0.8)


def test_the_report_shows_the_run_grid_its_tipping_points_and_chart(tmp_path) -> None:
    """The compute-run section of the economy report (otherwise reached only by a full
    `cmx sweep compute_run`), from the hand-built runs above."""
    from scenarios.report import markdown, run_chart, verdicts

    v = verdicts([])
    v["hypotheses"]["compute_run"] = run_verdict(_hand_runs())
    pictures = run_chart(v, tmp_path)
    assert [name for name, _ in pictures] == ["token_run.png"]
    assert (tmp_path / "token_run.png").stat().st_size > 1000
    text = markdown(v, pictures)
    assert "| Compute run | **inconclusive** |" in text
    # one row per (shock, leverage) cell: 3 of 4 seeds ran at leverage 0.1
    assert "| 0.3 | 0.1 | 3 / 4 | 0.75 [" in text
    assert "| 0.3 | 0 | 0 / 4 | 0.00 [" in text
    assert "leverage 0: none in the grid, leverage 0.1: 0.3" in text
    assert "](token_run.png)" in text
    v["hypotheses"]["compute_run"]["outcomes"] = []
    assert run_chart(v, tmp_path / "none") == []  # nothing to draw, no file
