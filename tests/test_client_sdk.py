"""The asyncio SDK: typed calls, local books with gap recovery, heartbeats, reconnects."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from test_gateway_support import SECRETS, SPOT, Env, env_fixture  # noqa: F401

from clients.local_book import LocalBook
from clients.ws import ApiError, Client
from exchange.core.messages import BUY, SELL
from exchange.gateway.server import start_server


def client(env: Env, client_id: str | None = None, **kw) -> Client:
    secret = SECRETS[client_id] if client_id else None
    return Client(env.url, client_id=client_id, client_secret=secret, **kw)


def engine_levels(env: Env) -> tuple[dict, dict]:
    spec = env.gateway.venue.engine.registry.by_name[SPOT]
    book = env.gateway.venue.engine.books[SPOT]
    return tuple(  # type: ignore[return-value]
        {spec.ticks_to_price(p): Decimal(a) for p, a in book.depth(side)}
        for side in (BUY, SELL))


async def settle(c: Client, env: Env) -> None:
    """Wait until the local book caught up with the engine."""
    async with asyncio.timeout(5):
        while (c.books[SPOT].change_id != env.gateway.venue.engine.change_ids[SPOT]
               or not c.books[SPOT].valid):
            await asyncio.sleep(0.01)


async def test_typed_calls(env: Env) -> None:
    async with client(env, "alice") as a, client(env, "bob") as b:
        assert await a.get_time() > 0
        instruments = await a.get_instruments(kind="spot")
        assert SPOT in [i.instrument_name for i in instruments]
        placed = await a.sell(SPOT, 3, Decimal("2.5"), label="s1")
        assert placed.order.order_state == "open" and placed.order.price == Decimal("2.5")
        hit = await b.buy(SPOT, 1, "2.5")
        assert hit.order.order_state == "filled" and hit.trades[0].price == Decimal("2.5")
        book = await a.get_order_book(SPOT)
        assert book.asks == [(Decimal("2.5"), Decimal(2))]
        edited = await a.edit(placed.order.order_id, 4, "2.6")
        assert edited.order.amount == 4
        assert [o.order_id for o in await a.get_open_orders(SPOT)] == [placed.order.order_id]
        assert (await a.cancel(placed.order.order_id)).order_state == "cancelled"
        state = await a.get_order_state(placed.order.order_id)
        assert state.cancel_reason == "user_request"
        summary = await a.get_account_summary("USD")
        assert summary.balance == Decimal("100002.5")
        assert await a.get_positions() == []
        assert await a.cancel_all() == 0 and await a.cancel_all(SPOT) == 0
        with pytest.raises(ApiError) as info:
            await b.buy(SPOT, 1, "1.0001")
        assert info.value.code == 10043 and "tick" in info.value.reason


async def test_local_book_matches_engine(env: Env) -> None:
    async with client(env, "alice") as a, client(env, "bob") as b, client(env) as watcher:
        book = await watcher.subscribe_book(SPOT)
        await watcher.wait_book(SPOT)
        for i in range(40):
            who = a if i % 2 else b
            if i % 3:
                await who.buy(SPOT, 1 + i % 4, Decimal("2") - Decimal(i % 7) / 1000)
            else:
                await who.sell(SPOT, 1 + i % 3, Decimal("1.997") + Decimal(i % 9) / 1000)
        await settle(watcher, env)
        assert (book.bids, book.asks) == engine_levels(env)
        assert book.best_bid() is not None and book.mid() is not None
        assert book.tick_size == Decimal("0.001") and book.mismatches == 0


async def test_gap_detected_resubscribes_and_replaces(env: Env) -> None:
    async with client(env, "alice") as a, client(env) as watcher:
        book = await watcher.subscribe_book(SPOT)
        await watcher.wait_book(SPOT)
        original = watcher._notify
        dropped = []

        async def lossy(channel: str, data: object) -> None:
            if channel.startswith("book.") and isinstance(data, dict) \
                    and data.get("type") == "change" and not dropped:
                dropped.append(data)  # lose one message on the wire
                return
            await original(channel, data)

        watcher._notify = lossy  # type: ignore[method-assign]
        for i in range(5):
            await a.buy(SPOT, 1, Decimal("1.5") + Decimal(i) / 1000)
        await settle(watcher, env)
        assert dropped and book.gaps == 1 and watcher.resyncs == 1
        assert book.snapshots == 2
        assert (book.bids, book.asks) == engine_levels(env)


def test_local_book_gap_logic() -> None:
    book = LocalBook(SPOT)
    assert not book.apply({"type": "change", "prev_change_id": 0, "change_id": 1,
                           "bids": [], "asks": []})
    book.apply({"type": "snapshot", "change_id": 5, "bids": [["new", 1.0, 2]],
                "asks": [["new", 2.0, 1]]})
    assert book.apply({"type": "change", "prev_change_id": 5, "change_id": 6,
                       "bids": [["delete", 1.0, 0]], "asks": [["change", 2.0, 3]]})
    assert book.bids == {} and book.asks == {Decimal("2.0"): Decimal(3)}
    assert not book.apply({"type": "change", "prev_change_id": 7, "change_id": 8,
                           "bids": [], "asks": []})
    assert not book.valid and book.gaps == 1
    book.apply({"type": "snapshot", "change_id": 9, "bids": [], "asks": []})
    assert book.valid and book.asks == {}  # replaced, not merged


async def test_heartbeats_are_answered(env: Env) -> None:
    async with client(env, heartbeat=0.05) as c:
        await asyncio.sleep(0.4)  # several test_requests came and were answered
        assert c.connected.is_set() and c.reconnects == 0
        assert await c.get_time() > 0


async def test_reconnect_reauths_and_resubscribes(env: Env) -> None:
    port = env.port
    c = client(env, "alice", backoff=(0.02, 0.2))
    await c.connect()
    try:
        book = await c.subscribe_book(SPOT)
        await c.wait_book(SPOT)
        await env.server.close()
        await asyncio.sleep(0.1)
        assert not c.connected.is_set()
        with pytest.raises(ConnectionError):
            await c.get_time()
        env.server = await start_server(env.gateway, "127.0.0.1", port)
        async with asyncio.timeout(5):
            while not (c.connected.is_set() and c.authenticated and book.valid):
                await asyncio.sleep(0.02)
        assert c.reconnects == 1 and book.snapshots == 2
        placed = await c.buy(SPOT, 1, "1.5")
        assert placed.order.order_state == "open"
        await settle(c, env)
        assert (book.bids, book.asks) == engine_levels(env)
    finally:
        await c.close()


async def test_callbacks_receive_channel_data(env: Env) -> None:
    async with client(env, "alice") as a:
        got: asyncio.Queue = asyncio.Queue()
        await a.subscribe(["user.orders.any.any.raw"], lambda ch, data: got.put_nowait(data))
        placed = await a.buy(SPOT, 1, "1.2")
        data = await asyncio.wait_for(got.get(), 5)
        assert data["order_id"] == placed.order.order_id
        assert await a.unsubscribe(["user.orders.any.any.raw"]) == ["user.orders.any.any.raw"]


async def test_checksum_mismatch_resyncs(env: Env) -> None:
    async with client(env, "alice") as a, client(env) as watcher:
        book = await watcher.subscribe_book(SPOT)
        await watcher.wait_book(SPOT)
        original = watcher._notify
        tampered = []

        async def corrupting(channel: str, data: object) -> None:
            if isinstance(data, dict) and data.get("type") == "change" and not tampered:
                rows = data["bids"] or data["asks"]
                rows[0][2] = rows[0][2] + 1  # a wrong amount, yet no gap in change ids
                tampered.append(data)
            await original(channel, data)

        watcher._notify = corrupting  # type: ignore[method-assign]
        for i in range(3):
            await a.buy(SPOT, 1, Decimal("1.5") + Decimal(i) / 1000)
        await settle(watcher, env)
        assert tampered and book.mismatches == 1 and book.gaps == 0
        assert watcher.resyncs == 1 and book.snapshots == 2
        assert (book.bids, book.asks) == engine_levels(env)


def test_checksum_matches_server_definition() -> None:
    from exchange.gateway.feeds import book_checksum

    book = LocalBook(SPOT, Decimal("0.001"), Decimal("1"))
    book.apply({"type": "snapshot", "change_id": 1,
                "bids": [["new", 1.5, 2], ["new", 1.499, 3]], "asks": [["new", 1.6, 1]],
                "checksum": book_checksum([(1500, 2), (1499, 3)], [(1600, 1)])})
    assert book.valid and book.mismatches == 0
    assert book.checksum() == book_checksum([(1500, 2), (1499, 3)], [(1600, 1)])
