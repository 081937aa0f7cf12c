"""The in-process client: latency, per-connection FIFO, the agent's view of its orders, and
the rule that agents reach the market only through a client."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from agents.base import Agent
from clients.inproc import InProcClient, LatencyModel, Venue
from exchange.core import BUY, SELL, Deposit, Engine, InstrumentSpec, Mint
from exchange.core.messages import OrderAccepted, OrderUpdated, Trade
from scenarios.kernel import Kernel


def venue() -> Venue:
    spec = InstrumentSpec(name="ASSET_USD", kind="spot", base="ASSET", tick_size="0.01")
    return Venue(Engine([spec]), Kernel())


class Scripted(Agent):
    """Places what it is told at start and records what comes back, with arrival times."""

    def __init__(self, script, **kw) -> None:
        super().__init__(**kw)
        self.script = script
        self.received: list[tuple[int, object]] = []

    def on_start(self) -> None:
        for action in self.script:
            action(self.client)

    def on_event(self, event: object) -> None:
        self.received.append((self.client.now(), event))


def attach(v: Venue, account: int, agent: Agent, latency: LatencyModel) -> InProcClient:
    v.apply_now(Deposit(account=account, asset="USD", amount=10_000_000_000))
    v.apply_now(Mint(account=account, asset="ASSET", amount=1_000))
    client = InProcClient(v, account, latency)
    agent.bind(client)
    client.attach(agent)
    return client


def make(script, account: int = 1) -> Scripted:
    return Scripted(script, agent_id=account, params=None, rng=np.random.default_rng(0),
                    instrument="ASSET_USD")


def test_order_and_event_latency() -> None:
    v = venue()
    seller = make([lambda c: c.place("ASSET_USD", SELL, 5, 10_000)], account=1)
    buyer = make([], account=2)
    attach(v, 1, seller, LatencyModel(order_ns=1_000, event_ns=500))
    attach(v, 2, buyer, LatencyModel(order_ns=3_000, event_ns=2_000))
    seller.on_start()
    v.kernel.schedule(10_000, lambda _: buyer.client.place("ASSET_USD", BUY, 2, 10_000))
    v.kernel.run(1_000_000)
    accepted_at, accepted = seller.received[0]
    assert type(accepted) is OrderAccepted and accepted.ts == 1_000 and accepted_at == 1_500
    trade_times = {(type(e).__name__, t) for t, e in buyer.received if type(e) is Trade}
    assert trade_times == {("Trade", 10_000 + 3_000 + 2_000)}
    maker_trade = [t for t, e in seller.received if type(e) is Trade]
    assert maker_trade == [13_000 + 500]  # the maker hears of its fill with its own latency
    order = seller.client.open_orders[accepted.order_id]
    assert order.remaining == 3


def test_fifo_per_connection_under_jitter() -> None:
    v = venue()
    prices = list(range(9_000, 9_040))
    agent = make([lambda c, p=p: c.place("ASSET_USD", BUY, 1, p) for p in prices])
    attach(v, 1, agent, LatencyModel(order_ns=100, event_ns=100, jitter_ns=10_000,
                                      rng=np.random.default_rng(5)))
    agent.on_start()
    v.kernel.run(10**9)
    accepted = [e for _, e in agent.received if type(e) is OrderAccepted]
    assert [e.price for e in accepted] == prices  # sent order == arrival order
    assert [e.ts for e in accepted] == sorted(e.ts for e in accepted)


def test_open_orders_follow_delivered_events() -> None:
    v = venue()
    agent = make([lambda c: c.place("ASSET_USD", BUY, 3, 9_000)])
    attach(v, 1, agent, LatencyModel(order_ns=10, event_ns=10))
    agent.on_start()
    assert agent.client.open_orders == {}  # nothing known before the answer arrives
    v.kernel.run(100)
    (order_id,) = agent.client.open_orders
    agent.client.cancel(order_id)
    v.kernel.run(200)
    assert agent.client.open_orders == {}
    assert type(agent.received[-1][1]) is OrderUpdated


def test_quiet_agents_get_no_deliveries() -> None:
    class Quiet(Scripted):
        listens = False

    v = venue()
    agent = Quiet([lambda c: c.place("ASSET_USD", BUY, 1, 9_000)], agent_id=1, params=None,
                  rng=np.random.default_rng(0), instrument="ASSET_USD")
    attach(v, 1, agent, LatencyModel())
    agent.on_start()
    v.kernel.run(100)
    assert agent.received == [] and v.commands == 3  # deposit, mint, order


def test_agents_import_nothing_but_messages_and_their_own_package() -> None:
    """An agent must see the market only through the client: no engine, venue or kernel."""
    allowed_prefixes = ("agents", "exchange.core.messages", "clients.base", "msgspec", "numpy",
                        "collections", "typing", "__future__", "importlib", "math")
    for path in sorted((Path(__file__).resolve().parents[1] / "agents").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name.startswith(allowed_prefixes), f"{path} imports {name}"


def test_integer_likes_become_ints_and_floats_fail_at_the_call() -> None:
    """The client is the edge where an agent's numbers become the core's integers: NumPy
    integers are converted (the engine alone would reject them), and a float, bool or string
    raises in the agent's own call instead of becoming a rejection it may not listen for."""
    import pytest

    from clients.base import as_int
    from exchange.core.messages import Rejected

    assert as_int(np.int64(7), "amount") == 7 and type(as_int(np.int32(7), "x")) is int
    for bad in (1.5, 2.0, True, "3", None):
        with pytest.raises(TypeError, match="amount must be an integer"):
            as_int(bad, "amount")

    v = venue()
    agent = make([])
    client = attach(v, 1, agent, LatencyModel())
    client.place("ASSET_USD", SELL, np.int64(5), np.int64(10_000))
    with pytest.raises(TypeError, match="price must be an integer, got 100.5"):
        client.place("ASSET_USD", SELL, 5, 100.5)
    with pytest.raises(TypeError, match="amount must be an integer, got True"):
        client.place("ASSET_USD", SELL, True, 100)
    with pytest.raises(TypeError, match="order_id must be an integer"):
        client.cancel(1.0)
    v.kernel.run(10**9)
    events = [e for _, e in agent.received]
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert len(accepted) == 1 and (accepted[0].amount, accepted[0].price) == (5, 10_000)
    assert type(accepted[0].amount) is int and not any(isinstance(e, Rejected) for e in events)
    client.amend(np.int64(accepted[0].order_id), amount=np.int64(4))
    v.kernel.run(2 * 10**9)
    assert client.open_orders[accepted[0].order_id].remaining == 4


def test_the_live_client_applies_the_same_rule() -> None:
    """Same agent, same numbers, same outcome live: NumPy integers go out as amounts and prices,
    floats raise at the call (nothing is sent)."""
    import pytest

    from clients.live import LiveClient, LiveClock, MarketFeed

    spec = InstrumentSpec(name="ASSET_USD", kind="spot", base="ASSET", tick_size="0.01")
    url = "ws://127.0.0.1:1/ws/api/v2"  # never connected: sends are captured below
    client = LiveClient(url, 1, "id", "secret", LiveClock(0, 1.0),
                        MarketFeed(url, {spec.name: spec}))
    sent: list[tuple[str, dict]] = []
    client._send = lambda method, params, *a, **kw: sent.append((method, params))
    client.place("ASSET_USD", BUY, np.int64(3), np.int64(250))
    assert sent == [("private/buy", {"instrument_name": "ASSET_USD", "amount": 3,
                                     "type": "limit", "time_in_force": "good_til_cancelled",
                                     "price": spec.ticks_to_price(250)})]
    for call in (lambda: client.place("ASSET_USD", BUY, 3.0, 250),
                 lambda: client.place("ASSET_USD", BUY, 3, 2.5),
                 lambda: client.cancel("7"),
                 lambda: client.amend(1, amount=0.5)):
        with pytest.raises(TypeError, match="must be an integer"):
            call()
    assert len(sent) == 1
