"""Live mode without sockets: Deribit notifications -> core events, seeding, accounts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from clients.live import EventTranslator, LiveClock
from exchange.core.instruments import InstrumentSpec
from exchange.core.messages import (
    BUY,
    CANCELLED,
    FILLED,
    OPEN,
    SELL,
    OrderAccepted,
    OrderUpdated,
    Trade,
)
from exchange.gateway import Gateway
from exchange.gateway.config import default_config
from scenarios.config import ScenarioError, load
from scenarios.live import LiveScenario
from scenarios.runner import Simulation

SPEC = InstrumentSpec(name="ASSET_USD", kind="spot", base="ASSET", tick_size="0.01")
ACCOUNT = 42

SMALL = """
[scenario]
name = "small"
seed = 3
duration = 30.0

[market]
[[market.instruments]]
name = "ASSET_USD"
kind = "spot"
base = "ASSET"
tick_size = "0.01"

[[exogenous]]
name = "fundamental"
kind = "ou"
initial = 100.0
kappa = 0.01
sigma = 0.1

[[agents]]
name = "noise"
class = "noise"
count = 3
instrument = "ASSET_USD"
cash = 1000.5
assets = { ASSET = 70 }
params = { rate = 1.0, initial_price = 100.0 }

[[agents]]
name = "value"
class = "value"
count = 2
instrument = "ASSET_USD"
cash = 5000.0
params = { series = "fundamental", rate = 0.5 }
"""


def order(state: str, amount: str, filled: str, price: str = "100.25",
          order_id: str = "7") -> dict:
    """A ``user.orders``/``user.changes`` order as the gateway renders it."""
    return {"order_id": order_id, "instrument_name": "ASSET_USD", "direction": "buy",
            "order_type": "limit", "order_state": state, "time_in_force": "good_til_cancelled",
            "price": Decimal(price), "amount": Decimal(amount),
            "filled_amount": Decimal(filled), "label": "", "post_only": True,
            "reduce_only": False, "creation_timestamp": 1000, "last_update_timestamp": 1002}


def user_trade(liquidity: str, amount: str = "2") -> dict:
    return {"trade_seq": 1, "trade_id": "55", "timestamp": 1001, "tick_direction": 0,
            "state": "open", "order_type": "limit", "label": "", "price": Decimal("100.25"),
            "order_id": "7", "liquidity": liquidity, "instrument_name": "ASSET_USD",
            "fee_currency": "USD", "fee": Decimal("-0.01"), "direction": "buy",
            "amount": Decimal(amount), "self_trade": False}


def test_changes_become_accepted_trade_updated_in_engine_order() -> None:
    tr = EventTranslator(ACCOUNT, {"ASSET_USD": SPEC})
    events = tr.changes({"instrument_name": "ASSET_USD", "orders": [order(OPEN, "5", "0")],
                         "trades": [], "positions": []})
    assert events == [OrderAccepted(
        order_id=7, account=ACCOUNT, instrument="ASSET_USD", side=BUY, amount=5, price=10025,
        type="limit", tif="gtc", post_only=True, reduce_only=False, label=None,
        ts=1000 * 1_000_000)]
    # a fill of 2 lots as maker: the trade, then the order's new state
    events = tr.changes({"instrument_name": "ASSET_USD", "orders": [order(OPEN, "5", "2")],
                         "trades": [user_trade("M")], "positions": []})
    assert [type(e) for e in events] == [Trade, OrderUpdated]
    trade, update = events
    assert (trade.trade_id, trade.price, trade.amount, trade.aggressor) == (55, 10025, 2, SELL)
    assert (trade.maker_account, trade.maker_order_id, trade.maker_fee) == (ACCOUNT, 7, -10_000)
    assert (trade.taker_account, trade.taker_order_id) == (0, 0)  # not public
    assert (update.status, update.filled, update.remaining) == (OPEN, 2, 3)
    # the rest fills: closed orders are forgotten
    events = tr.changes({"orders": [order(FILLED, "5", "5")],
                         "trades": [user_trade("M", "3")]})
    assert events[-1].status == FILLED and events[-1].remaining == 0
    assert tr.known == {}


def test_taker_order_filled_at_once_and_cancels() -> None:
    tr = EventTranslator(ACCOUNT, {"ASSET_USD": SPEC}, LiveClock(0, 10.0).from_wall_ms)
    taker = user_trade("T")
    events = tr.changes({"orders": [order(FILLED, "2", "2", order_id="7")], "trades": [taker]})
    assert [type(e) for e in events] == [OrderAccepted, Trade, OrderUpdated]
    assert events[1].aggressor == BUY and events[1].taker_account == ACCOUNT
    assert events[1].taker_order_id == 7 and events[1].maker_account == 0
    # user.orders messages (no trades) work too; an unchanged repeat yields nothing
    assert [type(e) for e in tr.orders(order(OPEN, "4", "0", order_id="8"))] == [OrderAccepted]
    assert tr.orders([order(OPEN, "4", "0", order_id="8")]) == []
    cancelled = order(CANCELLED, "4", "0", order_id="8")
    cancelled["cancel_reason"] = "user_request"
    (update,) = tr.orders(cancelled)
    assert (update.status, update.reason, update.order_id) == (CANCELLED, "user_request", 8)
    # market orders carry no price; other instruments are ignored
    market = order(OPEN, "1", "0", order_id="9")
    market["price"] = "market_price"
    assert tr.orders(market)[0].price == 0
    other = order(OPEN, "1", "0", order_id="10")
    other["instrument_name"] = "OTHER"
    assert tr.orders(other) == []


def test_clock_scales_virtual_time() -> None:
    clock = LiveClock(start_ns=5_000_000_000, speed=20.0)
    clock.t0, clock.wall0_ns = 100.0, 1_000_000_000_000
    assert clock.loop_time(5_000_000_000 + 20_000_000_000) == pytest.approx(101.0)
    assert clock.from_wall_ms(1_000_500) == 5_000_000_000 + 10_000_000_000
    with pytest.raises(ValueError):
        LiveClock(0, 0.0)


def test_agents_draw_the_runners_streams(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    loaded = load(path)
    sim = Simulation(loaded, 11, record=False)
    live = LiveScenario(loaded, 11, speed=50.0, first_account=4)
    assert [a.agent.rng.bit_generator.state for a in live.agents] == \
        [a.rng.bit_generator.state for a in sim.agents]
    assert live.world.paths["fundamental"].values == sim.world.paths["fundamental"].values
    other = LiveScenario(loaded, 12, speed=50.0)
    assert other.agents[0].agent.rng.random() != live.agents[0].agent.rng.random()


def test_accounts_are_funded_as_the_scenario_says(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    live = LiveScenario(load(path), 1, speed=5.0, first_account=4)
    config = live.configure(default_config(), demo=True)
    assert [s.name for s in config.instruments or []] == ["ASSET_USD"]
    assert config.rate_limit.refill_per_second == 5 * default_config().rate_limit.refill_per_second
    engine = Gateway(config).venue.engine
    sim = Simulation(load(path), 1, record=False)
    for entry, agent in zip(live.agents, sim.agents, strict=True):
        mine, theirs = engine.accounts[entry.account.id], sim.engine.accounts[agent.agent_id]
        assert (mine.cash, mine.assets) == (theirs.cash, theirs.assets)
        assert entry.account.client_id.startswith("agent-")
    assert len({a.account.client_secret for a in live.agents}) == len(live.agents)
    bot = engine.accounts[3]  # the demo "bot" keeps its USD and gets the scenario's asset
    assert bot.cash > 0 and bot.assets == {"ASSET": 10000}


def test_refusals(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    with pytest.raises(ScenarioError, match="speed"):
        LiveScenario(load(path), 1, speed=0.0)
    with pytest.raises(ScenarioError, match="clash"):
        LiveScenario(load(path), 1, speed=1.0, first_account=1).configure(
            default_config(), demo=True)
