"""Rate limits, heartbeats, slow consumers, cancel on disconnect."""

from __future__ import annotations

import asyncio
import socket

from test_gateway_support import SPOT, Env, close_env, env_fixture, make_env  # noqa: F401

from exchange.gateway.config import RateLimitConfig


async def test_rate_limit_per_account() -> None:
    e = await make_env(rate_limit=RateLimitConfig(capacity=500, refill_per_second=100,
                                                  matching_cost=100, other_cost=1))
    try:
        a = await e.rpc("alice")
        codes = []
        for _ in range(8):
            ans = await a.call("private/buy", {"instrument_name": SPOT, "amount": 1,
                                               "price": 1})
            codes.append(ans["error"]["code"] if "error" in ans else 0)
        assert codes[:4] == [0, 0, 0, 0]
        assert 10028 in codes
        err = next(c for c in codes if c)
        assert err == 10028
        # the same account on a second connection shares the bucket
        a2 = await e.rpc("alice")
        ans = await a2.call("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
        assert ans["error"]["code"] == 10028
        assert ans["error"]["message"] == "too_many_requests"
        # other accounts are unaffected, and the bucket refills
        b = await e.rpc("bob")
        assert "result" in await b.call("private/buy", {"instrument_name": SPOT, "amount": 1,
                                                        "price": 1})
        await asyncio.sleep(1.1)
        assert "result" in await a.call("private/buy", {"instrument_name": SPOT, "amount": 1,
                                                        "price": 1})
        # nothing was lost: every accepted order is open
        opened = await a.result("private/get_open_orders")
        assert len(opened) == codes.count(0) + 1
    finally:
        await close_env(e)


async def test_heartbeat_answered_keeps_connection(env: Env) -> None:
    c = await env.rpc()
    assert await c.result("public/set_heartbeat", {"interval": 0.1}) == "ok"
    for _ in range(3):
        note = await c.note()
        assert note["method"] == "heartbeat" and note["params"]["type"] == "test_request"
        await c.result("public/test")
    assert await c.result("public/disable_heartbeat") == "ok"


async def test_heartbeat_unanswered_closes(env: Env) -> None:
    c = await env.rpc()
    await c.result("public/set_heartbeat", {"interval": 0.1})
    await asyncio.wait_for(c.reader, 5)
    assert c.ws.close_code == 4000
    assert "heartbeat" in c.ws.close_reason


async def test_heartbeat_interval_validated(env: Env) -> None:
    c = await env.rpc()
    err = await c.error("public/set_heartbeat", {"interval": 0.001})
    assert err["code"] == -32602 and err["data"]["param"] == "interval"
    err = await c.error("public/set_heartbeat", {})
    assert err["code"] == -32602


async def test_slow_consumer_disconnected() -> None:
    e = await make_env(outbound_queue=50)
    try:
        trader = await e.rpc("alice")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", e.port))
        slow = await e.rpc("alice", max_queue=1, sock=sock)
        await slow.result("private/subscribe", {"channels": [
            f"book.{SPOT}.raw", f"ticker.{SPOT}.raw", "user.orders.any.any.raw",
            "user.portfolio.any"]})
        slow.reader.cancel()  # stop reading: the server must not buffer for it forever
        async with asyncio.timeout(20):
            sent = 0
            while e.server.connections == 2 and sent < 20_000:
                burst = [trader.call("private/buy", {
                    "instrument_name": SPOT, "amount": 1,
                    "price": round(1 + ((sent + i) % 500) / 1000, 3)}) for i in range(100)]
                for answer in await asyncio.gather(*burst):
                    assert "result" in answer  # the trader is never held back
                sent += 100
            while e.server.connections != 1:  # the slow consumer was disconnected
                await asyncio.sleep(0.05)
        assert "result" in await trader.call("public/test")
        slow.ws.transport.abort()
    finally:
        await close_env(e)


async def test_pipelining_client_gets_backpressure_not_dropped() -> None:
    e = await make_env(outbound_queue=20)
    try:
        c = await e.rpc()
        answers = await asyncio.gather(*(c.call("public/get_time") for _ in range(500)))
        assert all("result" in a for a in answers)
        assert e.server.connections == 1
    finally:
        await close_env(e)


async def test_cancel_on_disconnect(env: Env) -> None:
    a = await env.rpc("alice")
    watcher = await env.rpc("alice")
    await a.result("private/enable_cancel_on_disconnect")
    ids = []
    for i in range(3):
        placed = await a.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                                "price": 1 + i / 100})
        ids.append(placed["order"]["order_id"])
    await a.close()
    async with asyncio.timeout(5):
        while await watcher.result("private/get_open_orders"):
            await asyncio.sleep(0.02)
    state = await watcher.result("private/get_order_state", {"order_id": ids[0]})
    assert state["order_state"] == "cancelled"
    assert state["cancel_reason"] == "cancel_on_disconnect"


async def test_no_cancel_on_disconnect_by_default(env: Env) -> None:
    a = await env.rpc("alice")
    watcher = await env.rpc("alice")
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    await a.close()
    await asyncio.sleep(0.1)
    assert len(await watcher.result("private/get_open_orders")) == 1


async def test_account_scope_cancel_on_disconnect(env: Env) -> None:
    a = await env.rpc("alice")
    other = await env.rpc("alice")
    await other.result("private/enable_cancel_on_disconnect", {"scope": "account"})
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    await other.close()
    async with asyncio.timeout(5):
        while await a.result("private/get_open_orders"):
            await asyncio.sleep(0.02)


async def test_protocol_ping_pong(env: Env) -> None:
    c = await env.rpc()
    pong = await c.ws.ping()
    latency = await asyncio.wait_for(pong, 5)
    assert latency >= 0
