"""Auth: every grant type, failures, replayed signatures, and account isolation."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from test_gateway_support import SECRETS, SPOT, Env, env_fixture, signature  # noqa: F401


def signed(client_id: str, ts: int | None = None, nonce: str = "n1", data: str = "",
           secret: str | None = None) -> dict:
    ts = ts if ts is not None else int(time.time() * 1000)
    return {"grant_type": "client_signature", "client_id": client_id, "timestamp": ts,
            "nonce": nonce, "data": data,
            "signature": signature(secret or SECRETS[client_id], ts, nonce, data)}


async def test_client_credentials_and_refresh(env: Env) -> None:
    c = await env.rpc()
    tokens = await c.login("alice")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    assert (await c.result("private/get_account_summary", {"currency": "USD"}))["balance"]
    other = await env.rpc()
    refreshed = await other.result("public/auth", {"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]})
    assert refreshed["access_token"] != tokens["access_token"]
    assert (await other.result("private/get_open_orders")) == []
    err = await other.error("public/auth", {"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]})
    assert err["code"] == 13004  # a refresh token is single use


async def test_access_token_param(env: Env) -> None:
    c = await env.rpc()
    tokens = await c.login("bob")
    anon = await env.rpc()
    result = await anon.result("private/get_open_orders",
                               {"access_token": tokens["access_token"]})
    assert result == []
    err = await anon.error("private/get_open_orders", {"access_token": "forged"})
    assert err["code"] == 13009


async def test_client_signature(env: Env) -> None:
    c = await env.rpc()
    result = await c.result("public/auth", signed("alice"))
    assert result["access_token"]
    assert await c.result("private/get_open_orders") == []


async def test_auth_failures(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = await env.rpc()
    bad = [
        {"grant_type": "client_credentials", "client_id": "alice",
         "client_secret": "wrong-secret"},
        {"grant_type": "client_credentials", "client_id": "mallory", "client_secret": "x"},
        signed("alice", secret="not-the-secret"),
        signed("alice", ts=int(time.time() * 1000) - 3_600_000),  # outside the window
        signed("nobody", secret="x"),
    ]
    for params in bad:
        err = await c.error("public/auth", params)
        assert err["code"] == 13004, params
        text = str(err)
        assert "alice-secret-123" not in text and "wrong-secret" not in text
    err = await c.error("public/auth", {"grant_type": "password"})
    assert err["code"] == -32602
    err = await c.error("public/auth", {"grant_type": "client_signature", "client_id": "alice"})
    assert err["code"] == -32602
    assert "alice-secret-123" not in caplog.text
    err = await c.error("private/get_open_orders")
    assert err["code"] == 13009


async def test_replayed_signature_rejected(env: Env) -> None:
    params = signed("alice", nonce="once")
    first = await env.rpc()
    assert (await first.result("public/auth", params))["access_token"]
    second = await env.rpc()
    err = await second.error("public/auth", params)
    assert err["code"] == 13004 and "replay" in err["data"]["reason"]
    err = await second.error("private/get_open_orders")
    assert err["code"] == 13009
    fresh = signed("alice", nonce="twice")
    assert (await second.result("public/auth", fresh))["access_token"]


async def test_accounts_are_isolated(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    placed = await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1,
                                            "label": "secret-plan"})
    oid = placed["order"]["order_id"]
    never = str(int(oid) + 1000)
    # a foreign id reads exactly like an id never issued
    foreign = await b.error("private/get_order_state", {"order_id": oid})
    unknown = await b.error("private/get_order_state", {"order_id": never})
    assert foreign == unknown
    assert foreign["code"] == 10004
    junk = await b.error("private/get_order_state", {"order_id": "abc"})
    assert junk == unknown
    # cancel and edit of a foreign order: same answer as an order that is no longer open
    err = await b.error("private/cancel", {"order_id": oid})
    assert err["code"] == 11044
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1.001})
    closed = (await b.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                             "price": 0.5}))["order"]["order_id"]
    await b.result("private/cancel", {"order_id": closed})
    assert await b.error("private/cancel", {"order_id": oid}) == \
        await b.error("private/cancel", {"order_id": closed})
    err = await b.error("private/edit", {"order_id": oid, "amount": 5, "price": 1})
    assert err["code"] == 11044
    assert await b.result("private/cancel_by_label", {"label": "secret-plan"}) == 0
    assert await b.result("private/cancel_all") == 0
    assert await b.result("private/get_open_orders") == []
    assert await b.result("private/get_user_trades_by_instrument",
                          {"instrument_name": SPOT}) == {"trades": [], "has_more": False}
    # alice's order is untouched
    state = await a.result("private/get_order_state", {"order_id": oid})
    assert state["order_state"] == "open" and state["amount"] == 1


async def test_reauth_as_other_account_switches_identity(env: Env) -> None:
    c = await env.rpc("alice")
    await c.result("private/subscribe", {"channels": ["user.orders.any.any.raw",
                                                     f"book.{SPOT}.raw"]})
    await c.note(f"book.{SPOT}.raw")
    await c.login("bob")
    placed = await c.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    assert env.gateway.venue.order(int(placed["order"]["order_id"])).account == 2
    await c.note(f"book.{SPOT}.raw")  # the public channel survived the re-auth
    await asyncio.sleep(0.05)
    # alice's private channel was dropped with her identity: bob's order is not pushed on it
    assert [n for n in c.drain() if n["params"]["channel"].startswith("user.")] == []
