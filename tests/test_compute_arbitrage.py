"""The software arbitrageur on constructed markets: it sells the rich leg and buys the cheap one,
stays inside its capital and position limits (so a large spread overwhelms it), prices the
compute-vs-energy spread at 0.93 kWh per GPU-hour, and is deterministic by seed."""

from __future__ import annotations

import numpy as np
import pytest

from agents.compute.arbitrage import KWH_PER_GPU_HOUR, ArbitrageAgent, ArbParams
from agents.compute.view import EconomyView, FutureInfo
from agents.registry import resolve
from clients.inproc import InProcClient, Venue
from exchange.core import BUY, SELL, Deposit, Engine, InstrumentSpec, Mint
from exchange.core.messages import PlaceOrder
from scenarios.kernel import Kernel

PERIOD = 60 * 10**9
ARB, MAKER = 1, 2


class Clock(EconomyView):
    """A view that only tells the time: the arbitrageur must not need any economy target."""

    def __init__(self, futures: list[FutureInfo]) -> None:
        self.strip = futures

    def period(self) -> int:
        return 0

    def phase(self, now_ns: int) -> float:
        return (now_ns % PERIOD) / PERIOD

    def period_ns(self) -> int:
        return PERIOD

    def futures(self, now_ns: int) -> list[FutureInfo]:
        return [f for f in self.strip if f.expiry_ns > now_ns]

    def _no(self, *_: object) -> float:
        raise AssertionError("the arbitrageur read an economy target")

    reference_price = marginal_cost = break_even = demand_lots = kwh_price = _no  # type: ignore
    kwh_lots_needed = exposure_lots = strategic_overbuild = _no  # type: ignore


def market(cash: int = 10**15, **params: object) -> tuple[Venue, ArbitrageAgent]:
    """Spot GPU-hours and kWh, a front future settling on this period (F1) and two later ones."""
    specs = [
        InstrumentSpec(name="GPUH_USD", kind="spot", base="GPUH", tick_size="0.001",
                       lot_size="1000"),
        InstrumentSpec(name="KWH_USD", kind="spot", base="KWH", tick_size="0.0001",
                       lot_size="1000"),
    ]
    strip = []
    for i, name in enumerate(("F1", "F2", "F3")):
        expiry = PERIOD + i * 13 * PERIOD
        specs.append(InstrumentSpec(name=name, kind="future", base="GPUH", tick_size="0.001",
                                    lot_size="1000", expiry_ts=expiry, index="GPUH_USD",
                                    settlement_window_ns=PERIOD))
        strip.append(FutureInfo(name, expiry))
    venue = Venue(Engine(specs), Kernel())
    venue.apply_now(Deposit(account=MAKER, asset="USD", amount=10**16))
    venue.apply_now(Mint(account=MAKER, asset="GPUH", amount=10**6))
    venue.apply_now(Mint(account=MAKER, asset="KWH", amount=10**6))
    venue.apply_now(Deposit(account=ARB, asset="USD", amount=cash))
    agent = ArbitrageAgent(ARB, ArbParams(**params), np.random.default_rng(7), "GPUH_USD")
    client = InProcClient(venue, ARB)
    agent.bind(client)
    client.attach(agent)
    agent.attach_view(Clock(strip))
    return venue, agent


def quote(venue: Venue, instrument: str, side: int, lots: int, usd: float, tick: float) -> None:
    venue.apply_now(PlaceOrder(account=MAKER, instrument=instrument, side=side, amount=lots,
                               price=int(round(usd / tick))))


def step(venue: Venue, agent: ArbitrageAgent, phase: float) -> None:
    at = int(phase * PERIOD)
    venue.kernel.schedule(at, lambda _: agent.act(phase))
    venue.kernel.run(at + 10**6)


def test_registered() -> None:
    assert resolve("arbitrage") is ArbitrageAgent


def test_the_glut_twins_carry_the_same_arbitrageurs() -> None:
    import tomllib  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    root = Path(__file__).resolve().parent.parent / "scenarios"
    blocks = []
    for name in ("compute_glut.toml", "baseline.toml"):
        agents = tomllib.loads((root / name).read_text())["agents"]
        blocks.append([a for a in agents if a["class"] == "arbitrage"])
    assert blocks[0] and blocks[0] == blocks[1]
    ArbParams(**blocks[0][0]["params"])  # the scenario's parameters are valid


def test_a_rich_front_future_is_sold_against_spot_bought() -> None:
    venue, agent = market()
    quote(venue, "F1", BUY, 50, 2.50, 0.001)       # the front future bid rich
    quote(venue, "GPUH_USD", SELL, 80, 2.00, 0.001)  # spot offered cheap
    step(venue, agent, 0.2)
    c = agent.client
    assert c.position("F1") == -50
    assert c.holding("GPUH") == 50
    assert agent.trades["basis"] == 1


def test_a_cheap_front_future_is_bought_back_against_held_spot() -> None:
    venue, agent = market()
    quote(venue, "F1", BUY, 20, 2.50, 0.001)
    quote(venue, "GPUH_USD", SELL, 20, 2.00, 0.001)
    step(venue, agent, 0.2)
    quote(venue, "F1", SELL, 30, 1.50, 0.001)        # now the future is cheap
    quote(venue, "GPUH_USD", BUY, 30, 2.00, 0.001)
    step(venue, agent, 0.3)
    c = agent.client
    assert c.position("F1") == 0 and c.holding("GPUH") == 0


def test_without_spot_it_cannot_trade_a_cheap_future() -> None:
    venue, agent = market()
    quote(venue, "F1", SELL, 30, 1.50, 0.001)
    quote(venue, "GPUH_USD", BUY, 30, 2.00, 0.001)
    step(venue, agent, 0.2)
    assert agent.client.position("F1") == 0


def test_a_calendar_spread_sells_the_rich_far_future_and_buys_the_near() -> None:
    venue, agent = market(basis=False, energy_spread=False)
    quote(venue, "F2", SELL, 40, 2.00, 0.001)
    quote(venue, "F3", BUY, 40, 2.40, 0.001)
    step(venue, agent, 0.2)
    c = agent.client
    assert (c.position("F2"), c.position("F3")) == (40, -40)
    # the spread comes back: both legs are closed
    quote(venue, "F2", BUY, 40, 2.20, 0.001)
    quote(venue, "F3", SELL, 40, 2.20, 0.001)
    quote(venue, "F2", SELL, 40, 2.21, 0.001)
    quote(venue, "F3", BUY, 40, 2.19, 0.001)
    step(venue, agent, 0.3)
    assert (c.position("F2"), c.position("F3")) == (0, 0)


def test_position_limits_leave_the_spread_open() -> None:
    venue, agent = market(max_lots=25)
    quote(venue, "F1", BUY, 500, 2.50, 0.001)
    quote(venue, "GPUH_USD", SELL, 500, 2.00, 0.001)
    for phase in (0.1, 0.2, 0.3, 0.4):
        step(venue, agent, phase)
    c = agent.client
    assert c.position("F1") == -25 and c.holding("GPUH") == 25
    assert c.best_bid("F1") == 2500  # the rich bid it could not take is still there
    quote(venue, "GPUH_USD", BUY, 500, 1.90, 0.001)
    step(venue, agent, 0.8)  # the spot is sold back late in the week ...
    assert c.holding("GPUH") == 0
    step(venue, agent, 0.85)  # ... and the short future alone still fills its limit
    assert c.position("F1") == -25 and c.holding("GPUH") == 0


def test_limited_capital_caps_the_trade() -> None:
    cash = 20_000 * 10**6  # $20,000: a 1,000-GPU-hour lot costs $2,000 spot + $250 margin
    venue, agent = market(cash=cash)
    quote(venue, "F1", BUY, 500, 2.50, 0.001)
    quote(venue, "GPUH_USD", SELL, 500, 2.00, 0.001)
    for phase in (0.1, 0.2, 0.3):
        step(venue, agent, phase)
    c = agent.client
    held = c.holding("GPUH")
    assert 0 < held < 10 and c.position("F1") == -held
    assert c.cash() >= 0


def test_the_energy_floor_is_093_kwh_per_gpu_hour_plus_the_margin() -> None:
    assert KWH_PER_GPU_HOUR == pytest.approx(0.93)
    venue, agent = market(basis=False, calendar=False, energy_margin=0.10)
    quote(venue, "KWH_USD", SELL, 10, 0.21, 0.0001)
    quote(venue, "KWH_USD", BUY, 10, 0.19, 0.0001)   # mid 0.20 $/kWh, no trade yet
    assert agent.energy_floor() == pytest.approx(0.93 * 0.20 + 0.10)  # 0.286
    quote(venue, "GPUH_USD", SELL, 10, 0.290, 0.001)  # above the floor: no trade
    step(venue, agent, 0.1)
    assert agent.client.holding("GPUH") == 0
    quote(venue, "GPUH_USD", SELL, 10, 0.280, 0.001)  # below 0.93 x 0.20 + 0.10
    step(venue, agent, 0.2)
    assert agent.client.holding("GPUH") == 10
    quote(venue, "GPUH_USD", BUY, 10, 0.287, 0.001)   # the bid is back at the floor: sell
    step(venue, agent, 0.3)
    assert agent.client.holding("GPUH") == 0


def test_spot_is_unwound_late_in_the_period_and_leftovers_perish() -> None:
    venue, agent = market(basis=False, calendar=False, energy_margin=0.10)
    quote(venue, "KWH_USD", BUY, 10, 0.19, 0.0001)
    quote(venue, "KWH_USD", SELL, 10, 0.21, 0.0001)
    quote(venue, "GPUH_USD", SELL, 10, 0.20, 0.001)
    step(venue, agent, 0.2)
    quote(venue, "GPUH_USD", BUY, 4, 0.15, 0.001)     # a low bid: not sold before unwind_at
    step(venue, agent, 0.5)
    assert agent.client.holding("GPUH") == 10
    step(venue, agent, 0.8)
    assert agent.client.holding("GPUH") == 6
    agent.on_period(1)
    assert agent.metrics()["perished_lots"] == 6
    quote(venue, "GPUH_USD", BUY, 10, 0.50, 0.001)    # perished hours are never sold
    step(venue, agent, 0.9)
    assert agent.client.holding("GPUH") == 6


def test_a_broken_spread_is_flattened() -> None:
    venue, agent = market(basis=False, energy_spread=False)
    quote(venue, "F2", SELL, 10, 2.00, 0.001)
    venue.kernel.schedule(1, lambda _: agent.client.place("F2", BUY, 10, 2000))  # a lone leg
    venue.kernel.run(10**6)
    c = agent.client
    assert (c.position("F2"), c.position("F3")) == (10, 0)
    quote(venue, "F2", BUY, 50, 1.95, 0.001)
    quote(venue, "F3", SELL, 50, 2.40, 0.001)     # a wide spread, but the legs do not match
    step(venue, agent, 0.2)
    assert (c.position("F2"), c.position("F3")) == (0, 0)


class Recording(ArbitrageAgent):
    """Records when it acted and what it held: the trace two equal seeds must share."""

    def act(self, phase: float) -> None:
        super().act(phase)
        c = self.client
        self.trace.append((c.now(), c.holding("GPUH"), c.position("F1")))


def trace(seed: int) -> list[tuple[int, int, int]]:
    venue, _ = market()
    agent = Recording(ARB + 10, ArbParams(max_lots=30), np.random.default_rng(seed), "GPUH_USD")
    venue.apply_now(Deposit(account=ARB + 10, asset="USD", amount=10**15))
    client = InProcClient(venue, ARB + 10)
    agent.bind(client)
    client.attach(agent)
    agent.trace = []
    agent.attach_view(Clock([FutureInfo("F1", PERIOD)]))
    for k in range(6):  # a rich front bid and a cheap spot ask refilled through the week
        at = k * PERIOD // 6 + 1
        venue.kernel.schedule(at, lambda _: (quote(venue, "F1", BUY, 7, 2.50, 0.001),
                                             quote(venue, "GPUH_USD", SELL, 7, 2.00, 0.001)))
    quote(venue, "GPUH_USD", BUY, 1000, 1.90, 0.001)  # where the carry's spot is sold back
    agent.on_start()
    venue.kernel.run(PERIOD - 1)
    return agent.trace + [(PERIOD, client.holding("GPUH"), client.position("F1"))]


def test_the_agent_is_deterministic_by_seed() -> None:
    a, b, c = trace(3), trace(3), trace(4)
    assert a == b and len(a) == 13
    assert max(h for _, h, _ in a) > 0  # it carried: bought spot against the short front
    assert a[-1][1] == 0 and a[-1][2] < 0  # and sold the spot back before the week ended
    assert [t for t, _, _ in a] != [t for t, _, _ in c]  # wake times come from its own rng


def test_deterministic_by_seed(tmp_path, capsys) -> None:  # noqa: ANN001
    import json  # noqa: PLC0415

    from exchange.cli import main  # noqa: PLC0415
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["run", "compute_glut", "--seed", "1", "--no-progress", "--no-charts",
                     "--no-report", "--out", str(out), "--set", "scenario.duration=780.0"]) == 0
        outs.append(json.loads((out / "summary.json").read_text()))
    capsys.readouterr()
    assert outs[0] == outs[1]
