"""Security: what test_gateway_auth.py does not already cover.

Signature replays in every form (same, re-cased, over HTTP after a websocket use), timestamps
just outside the window on both sides, keys of one account used for another, expired tokens,
every order-addressing method aimed at a foreign order (open, filled or cancelled: the answer
must be byte-for-byte one that carries no information about it), private channels of another
account, and the absence of any way for a normal key to create money: no method reaches a
deposit, withdrawal or mint, so the engine's external totals never move.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_gateway_support import SECRETS, SPOT, Env, env_fixture, signature, test_config  # noqa: F401

from exchange.gateway import Gateway, Session
from exchange.gateway.protocol import METHODS


class Clock:
    def __init__(self) -> None:
        self.ns = 1_800_000_000 * 10**9

    def now(self) -> int:
        return self.ns

    @property
    def ms(self) -> int:
        return self.ns // 1_000_000


def make() -> tuple[Gateway, Clock]:
    clock = Clock()
    return Gateway(test_config(), clock=clock.now, monotonic=lambda: 0.0), clock


class Peer:
    """One sans-I/O connection; ``call`` returns the answer without the timing fields."""

    def __init__(self, gateway: Gateway) -> None:
        self.out: list[dict[str, Any]] = []
        self.session = Session(gateway, lambda data: self.out.append(json.loads(data)))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.out.clear()
        self.session.receive(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method,
                                         "params": params}))
        answer = next(m for m in self.out if m.get("id") == 7)
        return {k: v for k, v in answer.items() if k not in ("usIn", "usOut", "usDiff")}

    def login(self, client_id: str) -> dict[str, Any]:
        answer = self.call("public/auth", grant_type="client_credentials",
                           client_id=client_id, client_secret=SECRETS[client_id])
        assert "result" in answer, answer
        return answer["result"]


def signed(client_id: str, ts: int, nonce: str, secret: str | None = None,
           data: str = "") -> dict[str, Any]:
    return {"grant_type": "client_signature", "client_id": client_id, "timestamp": ts,
            "nonce": nonce, "data": data,
            "signature": signature(secret or SECRETS[client_id], ts, nonce, data)}


def test_signature_replays_in_every_form() -> None:
    gateway, clock = make()
    first, second = Peer(gateway), Peer(gateway)
    params = signed("alice", clock.ms, "n1")
    assert "result" in first.call("public/auth", **params)
    for replay in (params, {**params, "signature": params["signature"].upper()}):
        err = second.call("public/auth", **replay)["error"]
        assert err["code"] == 13004 and "replay" in err["data"]["reason"]
    assert second.call("private/get_open_orders")["error"]["code"] == 13009
    # the same signature is still refused once the clock moved on, until its timestamp
    # falls outside the window (and then it is refused for that)
    clock.ns += (gateway.config.auth_window_ms - 1) * 1_000_000
    assert "replay" in second.call("public/auth", **params)["error"]["data"]["reason"]
    clock.ns += 10 * 1_000_000
    assert "window" in second.call("public/auth", **params)["error"]["data"]["reason"]


def test_timestamps_at_the_edges_of_the_window() -> None:
    gateway, clock = make()
    peer = Peer(gateway)
    window = gateway.config.auth_window_ms
    for n, offset in enumerate((-window - 1, window + 1, -10**12, 10**15)):
        err = peer.call("public/auth", **signed("bob", clock.ms + offset, f"x{n}"))["error"]
        assert err["code"] == 13004 and "window" in err["data"]["reason"], offset
    for n, offset in enumerate((-window, window)):
        assert "result" in peer.call("public/auth", **signed("bob", clock.ms + offset, f"y{n}"))


def test_one_accounts_key_never_opens_another() -> None:
    gateway, clock = make()
    peer = Peer(gateway)
    attempts = [
        signed("bob", clock.ms, "a", secret=SECRETS["alice"]),  # alice's key, bob's name
        {**signed("alice", clock.ms, "b"), "client_id": "bob"},  # alice's signature as bob
        {**signed("alice", clock.ms, "c"), "nonce": "d"},  # nonce not what was signed
        {**signed("alice", clock.ms, "e"), "data": "tampered"},
        {"grant_type": "client_credentials", "client_id": "bob",
         "client_secret": SECRETS["alice"]},
        {"grant_type": "client_credentials", "client_id": "bob", "client_secret": ""},
    ]
    for params in attempts:
        err = peer.call("public/auth", **params)["error"]
        assert err["code"] == 13004, params
        assert SECRETS["alice"] not in json.dumps(err) and SECRETS["bob"] not in json.dumps(err)
    assert peer.call("private/get_open_orders")["error"]["code"] == 13009
    # HTTP Basic with someone else's secret
    basic = base64.b64encode(f"bob:{SECRETS['alice']}".encode()).decode()
    status, body = gateway.http("/api/v2/private/get_open_orders",
                                {"Authorization": f"Basic {basic}"})
    assert status == 400 and json.loads(body)["error"]["code"] == 13004


def test_http_signature_cannot_be_replayed_or_moved() -> None:
    gateway, clock = make()
    uri = "/api/v2/private/get_open_orders"

    def header(target: str, nonce: str, ts: int) -> str:
        to_sign = f"{ts}\n{nonce}\nGET\n{target}\n\n"
        sig = hmac.new(SECRETS["alice"].encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"deri-hmac-sha256 id=alice,ts={ts},sig={sig},nonce={nonce}"

    good = header(uri, "h1", clock.ms)
    assert gateway.http(uri, {"Authorization": good})[0] == 200
    assert gateway.http(uri, {"Authorization": good})[0] == 400  # replayed
    # a signature for one request does not authorise another
    moved = header(uri, "h2", clock.ms)
    buy = f"/api/v2/private/buy?instrument_name={SPOT}&amount=1&price=1"
    status, body = gateway.http(buy, {"Authorization": moved})
    assert status == 400 and json.loads(body)["error"]["code"] == 13004
    assert gateway.venue.open_orders(1) == []
    expired = header(uri, "h3", clock.ms - gateway.config.auth_window_ms - 1)
    assert gateway.http(uri, {"Authorization": expired})[0] == 400


def test_expired_and_revoked_tokens() -> None:
    gateway, clock = make()
    owner = Peer(gateway)
    tokens = owner.login("alice")
    anon = Peer(gateway)
    assert anon.call("private/get_open_orders", access_token=tokens["access_token"]) \
        ["result"] == []
    clock.ns += (gateway.config.token_ttl_s + 1) * 10**9
    err = anon.call("private/get_open_orders", access_token=tokens["access_token"])["error"]
    assert err["code"] == 13009
    status, _ = gateway.http("/api/v2/private/get_open_orders",
                             {"Authorization": f"Bearer {tokens['access_token']}"})
    assert status == 400


# Every method that takes an order id, its extra params, and which of bob's own answers a
# foreign id must read exactly like. Order ids are sequential, so "was this id ever issued" is
# public; what must not leak is whether a foreign order is open, filled or cancelled. Queries
# answer a foreign id like one never issued; cancel and edit answer it like bob's own closed
# order (the engine's "not open").
BY_ORDER = [
    ("private/get_order_state", {}, "never"),
    ("private/get_user_trades_by_order", {}, "never"),
    ("private/cancel", {}, "closed"),
    ("private/edit", {"amount": 2, "price": 1}, "closed"),
]


def test_foreign_orders_leak_nothing() -> None:
    gateway, _ = make()
    alice, bob = Peer(gateway), Peer(gateway)
    alice.login("alice")
    bob.login("bob")
    closed = bob.call("private/buy", instrument_name=SPOT, amount=1, price="0.9")
    closed_id = closed["result"]["order"]["order_id"]
    bob.call("private/cancel", order_id=closed_id)
    resting = alice.call("private/sell", instrument_name=SPOT, amount=3, price=2,
                         label="alice-plan")["result"]["order"]["order_id"]
    bob.call("private/buy", instrument_name=SPOT, amount=1, price=2)  # partly fills resting
    filled = alice.call("private/buy", instrument_name=SPOT, amount=1, price="1.5")
    filled_id = filled["result"]["order"]["order_id"]
    bob.call("private/sell", instrument_name=SPOT, amount=1, price="1.5")  # fills it
    cancelled = alice.call("private/buy", instrument_name=SPOT, amount=1, price="0.5")
    cancelled_id = cancelled["result"]["order"]["order_id"]
    alice.call("private/cancel", order_id=cancelled_id)
    reference = {"never": str(10**9), "closed": closed_id}
    for method, extra, like in BY_ORDER:
        expected = bob.call(method, order_id=reference[like], **extra)
        assert "error" in expected, (method, expected)
        for foreign in (resting, filled_id, cancelled_id):
            assert bob.call(method, order_id=foreign, **extra) == expected, (method, foreign)
    # nothing of alice's changed
    state = alice.call("private/get_order_state", order_id=resting)["result"]
    assert state["order_state"] == "open" and state["amount"] == 3 and state["filled_amount"] == 1
    assert bob.call("private/cancel_by_label", label="alice-plan")["result"] == 0
    assert alice.call("private/get_order_state", order_id=resting)["result"]["order_state"] \
        == "open"
    # bob's views hold only bob's orders and trades
    for method, params in [
        ("private/get_open_orders", {}),
        ("private/get_order_history_by_instrument", {"instrument_name": SPOT, "count": 100}),
        ("private/get_user_trades_by_instrument", {"instrument_name": SPOT, "count": 100}),
    ]:
        text = json.dumps(bob.call(method, **params)["result"])
        assert "alice-plan" not in text
        assert f'"order_id": "{resting}"' not in text
        assert f'"order_id": "{cancelled_id}"' not in text


def test_private_channels_of_another_account_are_unreachable() -> None:
    gateway, _ = make()
    alice, bob, anon = Peer(gateway), Peer(gateway), Peer(gateway)
    alice.login("alice")
    bob.login("bob")
    channels = ["user.orders.any.any.raw", f"user.orders.{SPOT}.raw",
                "user.trades.any.any.raw", "user.portfolio.usd", "user.changes.any.any.raw"]
    err = anon.call("public/subscribe", channels=channels)
    assert "error" in err or err["result"] == []
    assert bob.call("private/subscribe", channels=channels)["result"] == channels
    # channel names carry no account: there is no spelling that names alice's
    for name in ("user.orders.1.any.raw", "user.1.orders.any.any.raw",
                 "user.portfolio.alice", "user.orders.any.any.raw.1"):
        answer = bob.call("private/subscribe", channels=[name])
        assert "error" in answer or answer["result"] == [], name
    bob.out.clear()
    anon.out.clear()
    alice.session.receive(json.dumps({"id": 1, "method": "private/buy", "params": {
        "instrument_name": SPOT, "amount": 1, "price": 1, "label": "alice-secret-label"}}))
    assert "alice-secret-label" not in json.dumps(bob.out + anon.out)
    assert not [m for m in bob.out if m.get("params", {}).get("channel", "").startswith("user.")]


ADMIN_NAMES = ["private/deposit", "private/mint", "private/withdraw", "public/deposit",
               "private/submit_transfer_to_user", "private/submit_transfer_to_subaccount",
               "private/submit_transfer_between_subaccounts", "private/create_deposit_address",
               "private/set_balance", "admin/deposit", "private/add_to_address_book"]


def _wealth(gateway: Gateway) -> tuple[dict[str, int], dict[str, int]]:
    engine = gateway.venue.engine
    return dict(engine.external), {
        asset: sum(a.assets.get(asset, 0) for a in engine.accounts.values())
        for asset in engine.registry.assets}


def test_no_method_creates_money_for_a_normal_key() -> None:
    gateway, _ = make()
    bob = Peer(gateway)
    bob.login("bob")
    before = _wealth(gateway)
    for name in ADMIN_NAMES:
        answer = bob.call(name, currency="USD", amount=10**9, account=2, destination=2)
        assert answer["error"]["code"] == -32601, name
    assert _wealth(gateway) == before


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["currency", "amount", "account", "asset", "price",
                                        "instrument_name", "destination", "subaccount_id",
                                        "order_id", "type"]),
                       st.one_of(st.integers(-10**15, 10**15), st.text(max_size=8),
                                 st.sampled_from(["USD", "GPUH", SPOT, "1e9", "-5"])),
                       max_size=5))
def test_every_method_keeps_external_totals(params: dict[str, Any]) -> None:
    """Whatever bob sends to whatever method, no money enters or leaves the exchange."""
    gateway, _ = make()
    bob = Peer(gateway)
    bob.login("bob")
    external = dict(gateway.venue.engine.external)
    for name in sorted(METHODS):
        if name in ("private/logout", "public/auth"):
            continue
        bob.call(name, **params)
        assert gateway.venue.engine.external == external, name
    gateway.venue.engine.check_invariants()


async def test_live_private_feed_isolation(env: Env) -> None:
    """Over real sockets: bob subscribed to every private channel sees none of alice's
    activity, even when she trades against him (he sees his own side only)."""
    alice = await env.rpc("alice")
    bob = await env.rpc("bob")
    await bob.result("private/subscribe", {"channels": [
        "user.orders.any.any.raw", "user.trades.any.any.raw", "user.changes.any.any.raw"]})
    await alice.result("private/sell", {"instrument_name": SPOT, "amount": 2, "price": 1,
                                        "label": "alice-only"})
    await bob.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1,
                                     "label": "bob-own"})
    await asyncio.sleep(0.2)
    notes = json.dumps(bob.drain())
    assert "bob-own" in notes and "alice-only" not in notes
