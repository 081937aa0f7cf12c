"""The protocol layer without sockets: deterministic clocks, ordering, heartbeat logic."""

from __future__ import annotations

import json

from test_gateway_support import SECRETS, SPOT, signature, test_config

from exchange.gateway import Gateway, Session
from exchange.gateway.config import RateLimitConfig


class Clock:
    def __init__(self) -> None:
        self.ns = 1_800_000_000 * 10**9
        self.mono = 0.0

    def now(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.mono


def make(**overrides) -> tuple[Gateway, Clock]:
    clock = Clock()
    return Gateway(test_config(**overrides), clock=clock.now, monotonic=clock.monotonic), clock


def session(gateway: Gateway) -> tuple[Session, list[dict]]:
    out: list[bytes] = []
    parsed: list[dict] = []
    s = Session(gateway, lambda data: (out.append(data), parsed.append(json.loads(data))))
    return s, parsed


def call(s: Session, method: str, **params) -> None:
    s.receive(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))


def test_answer_comes_before_the_notifications_it_caused() -> None:
    gateway, _ = make()
    s, out = session(gateway)
    call(s, "public/auth", grant_type="client_credentials", client_id="alice",
         client_secret=SECRETS["alice"])
    call(s, "private/subscribe", channels=[f"book.{SPOT}.raw", "user.orders.any.any.raw"])
    out.clear()
    call(s, "private/buy", instrument_name=SPOT, amount=1, price=1)
    assert "result" in out[0]
    assert [m["params"]["channel"] for m in out[1:]] == [f"book.{SPOT}.raw",
                                                         "user.orders.any.any.raw"]
    assert out[1]["params"]["data"]["prev_change_id"] == 0
    assert out[1]["params"]["data"]["change_id"] == 1


def test_rate_limit_refills_with_the_clock() -> None:
    gateway, clock = make(rate_limit=RateLimitConfig(capacity=20, refill_per_second=10,
                                                     matching_cost=10, other_cost=10))
    s, out = session(gateway)
    for _ in range(3):
        call(s, "public/get_time")
    assert ["result" in m for m in out] == [True, True, False]
    assert out[2]["error"]["code"] == 10028
    clock.mono += 1.0
    call(s, "public/get_time")
    assert "result" in out[-1]


def test_signature_window_and_replay_with_a_fixed_clock() -> None:
    gateway, clock = make()
    s, out = session(gateway)
    ts = clock.ns // 1_000_000
    good = {"grant_type": "client_signature", "client_id": "bob", "timestamp": ts,
            "nonce": "n", "data": "", "signature": signature(SECRETS["bob"], ts, "n")}
    call(s, "public/auth", **good)
    assert "result" in out[-1]
    call(s, "public/auth", **good)
    assert out[-1]["error"]["code"] == 13004
    late = ts - gateway.config.auth_window_ms - 1
    call(s, "public/auth", **{**good, "timestamp": late, "nonce": "m",
                              "signature": signature(SECRETS["bob"], late, "m")})
    assert "window" in out[-1]["error"]["data"]["reason"]


def test_heartbeat_tick() -> None:
    gateway, _ = make()
    s, out = session(gateway)
    assert s.heartbeat_tick() is True
    assert out[-1] == {"jsonrpc": "2.0", "method": "heartbeat",
                       "params": {"type": "test_request"}}
    assert s.heartbeat_tick() is False  # not answered: close
    call(s, "public/test")
    assert s.heartbeat_tick() is True


def test_http_entry_point() -> None:
    gateway, _ = make()
    status, body = gateway.http(f"/api/v2/public/get_order_book?instrument_name={SPOT}", {})
    assert status == 200 and json.loads(body)["result"]["instrument_name"] == SPOT
    status, body = gateway.http("/api/v2/private/get_open_orders", {"Authorization": "Magic x"})
    assert status == 400 and json.loads(body)["error"]["code"] == 13009


def test_close_cancels_when_asked_and_forgets_subscriptions() -> None:
    gateway, _ = make()
    s, out = session(gateway)
    call(s, "public/auth", grant_type="client_credentials", client_id="alice",
         client_secret=SECRETS["alice"])
    call(s, "private/enable_cancel_on_disconnect")
    call(s, "public/subscribe", channels=[f"book.{SPOT}.raw"])
    call(s, "private/buy", instrument_name=SPOT, amount=1, price=1)
    assert gateway.venue.open_orders(1)
    s.close()
    assert gateway.venue.open_orders(1) == []
    assert gateway.hub.subs == {} and gateway.sessions == {}
