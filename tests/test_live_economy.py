"""Live mode with the compute economy: the economy driver steps on the server's engine while
the strategic agents trade over websockets and an external bot trades beside them."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from clients.ws import Client
from exchange.core.messages import Burn, Mint
from exchange.gateway import Gateway
from exchange.gateway.config import default_config
from exchange.gateway.server import start_server
from scenarios.config import load
from scenarios.live import DEMO_ECONOMY_LOTS, LiveScenario
from scenarios.live_economy import LiveHost

WEEKS = 4
SPEED = 120.0  # one simulated week (60 virtual seconds) per half wall second
NS = 1_000_000_000


def _scenario() -> LiveScenario:
    loaded = load("compute_glut", None, {"scenario.duration": 60.0 * WEEKS})
    first = max(a.id for a in default_config().accounts) + 1
    return LiveScenario(loaded, 2, SPEED, first_account=first)


async def test_economy_runs_live_with_an_external_bot() -> None:
    live = _scenario()
    gateway = Gateway(live.configure(default_config(), demo=True),
                      engine_clock=live.engine_clock())
    live.attach_gateway(gateway)
    assert live.driver is not None and live.host is not None
    engine = gateway.venue.engine
    minted: list[tuple[str, int]] = []
    burned: list[tuple[str, int]] = []

    def watch(command: object, events: list, ts: int) -> None:
        if type(command) is Mint:
            minted.append((command.asset, ts))  # type: ignore[attr-defined]
        elif type(command) is Burn:
            burned.append((command.asset, ts))  # type: ignore[attr-defined]

    gateway.venue.observers.append(watch)
    server = await start_server(gateway, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.port}/ws/api/v2"
    task = asyncio.create_task(live.run(url))
    try:
        async with asyncio.timeout(30):
            while not live.started_wall:
                await asyncio.sleep(0.02)
        async with Client(url, client_id="bot", client_secret="bot-secret") as bot:
            await bot.connect()
            names = {i["instrument_name"] for i in await bot.request(
                "public/get_instruments", {"currency": "any", "kind": "any"})}
            assert {"GPUH_USD", "KWH_USD", "CCT_USD"} <= names
            assert any(n.startswith("GPUH-") for n in names), names  # the futures strip
            # the demo bot holds enough to trade whole lots of a million GPU-hours
            summary = await bot.request("private/get_account_summary", {"currency": "GPUH"})
            spot = engine.registry.by_name["GPUH_USD"]
            assert Decimal(str(summary["balance"])) == Decimal(
                spot.lots_to_amount(DEMO_ECONOMY_LOTS))
            order = await bot.request("private/buy", {
                "instrument_name": "GPUH_USD", "amount": str(spot.lots_to_amount(1)),
                "type": "limit", "price": "0.5"})
            assert order["order"]["order_state"] == "open"
            # the engine runs on the scenario's clock: its timestamps are scenario time
            stamp = order["order"]["creation_timestamp"] * 1_000_000
            assert live.start_ns <= stamp <= live.start_ns + 60 * WEEKS * NS
        summary = await asyncio.wait_for(task, 30)
    finally:
        if not task.done():
            task.cancel()
        await server.close()
    # every weekly step ran: one opening the first week, one per boundary after it
    assert summary["economy_steps"] == WEEKS + 1, summary
    assert summary["trades"] > 0
    assert summary["economy"], summary
    # capacity was minted as GPU-hours, and unsold hours were burned at the weekly closes
    assert any(asset == "GPUH" for asset, _ in minted)
    assert any(asset == "GPUH" for asset, _ in burned)
    assert all(live.start_ns <= ts <= live.start_ns + (60 * WEEKS + 5) * NS
               for _, ts in minted + burned)
    engine.check_invariants()
    # the driver's weekly rows cover the weeks the market traded
    assert len(live.driver.rows) >= WEEKS


async def test_host_runs_steps_at_their_virtual_times() -> None:
    """``LiveHost.every`` mirrors ``Simulation.every``: first at ``first`` seconds, then each
    period, never past the end; ``run_due`` catches up in time order."""

    class FakeClock:
        def __init__(self) -> None:
            self.t = 0

        def now(self) -> int:
            return self.t

    class FakeGateway:
        class venue:  # noqa: N801 - the attribute shape the host reads
            engine = None
            observers: list = []

    clock = FakeClock()
    host = LiveHost(FakeGateway(), clock, 0, 10 * NS, [])  # type: ignore[arg-type]
    seen: list[tuple[str, int]] = []
    host.every(4.0, lambda h: seen.append(("a", clock.t)), first=0.0)
    host.every(3.0, lambda h: seen.append(("b", clock.t)))
    assert host.run_due() == 1 and seen == [("a", 0)]
    clock.t = 9 * NS
    assert host.run_due() == 5  # b@3, a@4, b@6, a@8, b@9, in time order
    assert [name for name, _ in seen] == ["a", "b", "a", "b", "a", "b"]
    clock.t = 20 * NS
    assert host.run_due() == 0
    assert [name for name, _ in seen].count("a") == 3  # 0, 4, 8: 12 is past the end
    assert [name for name, _ in seen].count("b") == 3  # 3, 6, 9
    with pytest.raises(ValueError):
        host.every(0.0, lambda h: None)
