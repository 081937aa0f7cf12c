"""Every classic agent runs against any ``Client`` implementation, not only the in-process one.

``ScriptedClient`` below implements the abstract interface with a frozen book and records what
the agent sends; that the agents work against it (and never reach for anything else) is what
lets the same classes run against a websocket client on a live server.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.registry import AGENTS
from clients.base import Client
from exchange.core import InstrumentSpec
from exchange.core.messages import BUY, SELL, OrderAccepted

SPEC = InstrumentSpec(name="X_USD", kind="spot", base="X", tick_size="0.01")


class ScriptedClient(Client):
    def __init__(self) -> None:
        self.account = 7
        self.agent = None
        self.open_orders = {}
        self.t = 0
        self.wakes: list[tuple[int, object]] = []
        self.sent: list[tuple] = []

    def now(self) -> int:
        return self.t

    def wake_at(self, ts: int, token: object = None) -> None:
        assert ts >= self.t
        self.wakes.append((ts, token))

    def place(self, instrument, side, amount, price=None, *, type="limit", tif="gtc",
              post_only=False, label=None, expire_ts=None) -> None:
        assert instrument == "X_USD" and side in (BUY, SELL) and amount >= 1
        assert price is None or price >= 1
        self.sent.append(("place", side, amount, price, type, tif))

    def cancel(self, order_id: int) -> None:
        self.sent.append(("cancel", order_id))

    def cancel_all(self, instrument=None) -> None:
        self.sent.append(("cancel_all", instrument))

    def amend(self, order_id, amount=None, price=None) -> None:
        self.sent.append(("amend", order_id, amount, price))

    def instrument(self, name: str) -> InstrumentSpec:
        return SPEC

    def _mid(self) -> int:
        return 10_000 + self.t // 100_000_000  # a rising market, so trend followers act

    def best_bid(self, instrument: str) -> int | None:
        return self._mid() - 10

    def best_ask(self, instrument: str) -> int | None:
        return self._mid() + 10

    def depth(self, instrument, side, levels):
        return [(self._mid() - 10 if side == BUY else self._mid() + 10, 5)]

    def last_price(self, instrument: str) -> int | None:
        return self._mid()

    def cash(self) -> int:
        return 10**12

    def free_cash(self) -> int:
        return 10**12

    def holding(self, asset: str) -> int:
        return 1_000

    def free_holding(self, asset: str) -> int:
        return 1_000

    def position(self, instrument: str) -> int:
        return 0

    def series(self, name: str) -> float:
        assert name == "fundamental"
        return 100.5


PARAMS = {
    "zi_c": {"role": "buyer", "units": 3},
    "zi_u": {"role": "seller", "units": 3},
    "poisson_flow": {"limit_rate": 0.5, "market_rate": 1.0, "cancel_rate": 1.0},
    "noise": {"rate": 1.0},
    "market_maker": {"interval": 1.0},
    "momentum": {"interval": 1.0, "short_window": 1, "long_window": 2, "threshold": 0.0},
    "value": {"rate": 1.0, "threshold": 0},
}


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agent_runs_on_any_client(name: str) -> None:
    import msgspec

    cls = AGENTS[name]
    params = msgspec.convert(PARAMS[name], cls.Params)
    agent = cls(7, params, np.random.default_rng(1), "X_USD")
    client = ScriptedClient()
    agent.bind(client)
    client.agent = agent
    agent.on_start()
    answered = 0
    for _ in range(20):  # follow the agent's own wake-ups
        assert client.wakes, f"{name} stopped asking to be woken"
        client.wakes.sort(key=lambda w: w[0])
        ts, token = client.wakes.pop(0)
        client.t = ts
        agent.on_wake(token)
        for action in client.sent[answered:]:
            answered += 1
            if action[0] == "place" and action[4] == "limit":
                accepted = OrderAccepted(answered, 7, "X_USD", action[1], action[2],
                                         action[3], "limit", action[5], False, False, None, ts)
                client.track(accepted)
                agent.on_event(accepted)
    assert any(a[0] == "place" for a in client.sent), f"{name} never traded"
