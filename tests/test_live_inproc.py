"""Live mode in one event loop with the server: agents that listen get the core events their
orders cause, and each client's view (open orders, cash, holdings) matches the engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from clients.live import LiveClient
from exchange.core.messages import OrderAccepted, OrderUpdated, Trade
from exchange.gateway import Gateway
from exchange.gateway.config import default_config
from exchange.gateway.server import start_server
from scenarios.config import load
from scenarios.live import LiveScenario

SCENARIO = """
[scenario]
name = "live_flow"
seed = 9
duration = 3600.0

[market]
[[market.instruments]]
name = "ASSET_USD"
kind = "spot"
base = "ASSET"
tick_size = "0.01"

[[market.instruments]]
name = "ASSET-2100"
kind = "future"
base = "ASSET"
tick_size = "0.01"
expiry_ts = 4102444800000000000
index = "ASSET_USD"

[[agents]]
name = "flow"
class = "poisson_flow"
count = 4
instrument = "ASSET_USD"
cash = 100000.0
assets = { ASSET = 1000 }
[agents.params]
limit_rate = 0.05
market_rate = 0.5
cancel_rate = 0.2
size = 2
window = 20
initial_price = 100.0

[[agents]]
name = "mm"
class = "market_maker"
count = 1
instrument = "ASSET_USD"
cash = 1000000.0
assets = { ASSET = 10000 }
[agents.params]
interval = 2.0
half_spread = 2
levels = 2
size = 5
initial_price = 100.0

[[agents]]
name = "future_mm"
class = "market_maker"
instrument = "ASSET-2100"
cash = 1000000.0
[agents.params]
interval = 2.0
half_spread = 2
size = 5
initial_price = 100.0

[[agents]]
name = "future_noise"
class = "noise"
count = 3
instrument = "ASSET-2100"
cash = 100000.0
[agents.params]
rate = 1.0
market_prob = 0.5
offset = 5
initial_price = 100.0
"""


async def test_events_and_account_views_match_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "live_flow.toml"
    path.write_text(SCENARIO)
    live = LiveScenario(load(path), 9, speed=20.0, first_account=4)
    gateway = Gateway(live.configure(default_config(), demo=True))
    engine = gateway.venue.engine
    server = await start_server(gateway, "127.0.0.1", 0)
    task = asyncio.create_task(live.run(f"ws://127.0.0.1:{server.port}/ws/api/v2"))
    try:
        async with asyncio.timeout(10):
            while not live.started_wall:  # every agent connected and started
                await asyncio.sleep(0.01)
        seen: dict[int, list] = {}
        for entry in live.agents:
            agent = entry.agent
            original = agent.on_event

            def record(event: object, _id: int = agent.agent_id, _orig=original) -> None:
                seen.setdefault(_id, []).append(event)
                _orig(event)

            agent.on_event = record  # type: ignore[method-assign]
        await asyncio.sleep(2.0)  # 40 s of virtual time
        clients: list[LiveClient] = live.clients
        for client in clients:
            client.agent = None  # the agents fall silent; events are still tracked
        await asyncio.sleep(0.3)
        kinds = {type(e) for events in seen.values() for e in events}
        assert {OrderAccepted, Trade, OrderUpdated} <= kinds, kinds
        assert live.feed is not None and live.feed.trades > 0
        for client in clients:
            acct = engine.accounts[client.account]
            assert set(client.open_orders) == set(acct.open_orders)
            assert client.cash() == acct.cash
            assert client.free_cash() == acct.cash - acct.reserved
            assert client.holding("ASSET") == acct.assets.get("ASSET", 0)
            assert client.free_holding("ASSET") == acct.free_asset("ASSET")
            assert client.best_bid("ASSET_USD") == engine.books["ASSET_USD"].bid.best()
            assert client.best_ask("ASSET_USD") == engine.books["ASSET_USD"].ask.best()
            assert client.last_price("ASSET_USD") == engine.last_prices.get("ASSET_USD")
            pos = acct.positions.get("ASSET-2100")
            assert client.position("ASSET-2100") == (pos.size if pos is not None else 0)
        futures = [c for c in clients if c.position("ASSET-2100") != 0]
        assert futures, "nobody holds a futures position"
        assert live.clock.now() > live.start_ns + 30 * 1_000_000_000
        # a trade's timestamp is in virtual time, within the run so far
        trade = next(e for events in seen.values() for e in events if type(e) is Trade)
        assert live.start_ns <= trade.ts <= live.clock.now()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
    # stopping closed every agent connection; cancel-on-disconnect emptied the book
    assert all(not engine.accounts[c.account].open_orders for c in live.clients)
