"""Channels: book feeds reconstruct exactly the engine's book; trades, ticker and user
channels carry what happened."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from test_gateway_support import SPOT, Env, env_fixture  # noqa: F401

from clients.local_book import LocalBook
from exchange.core.messages import BUY, SELL


def engine_book(env: Env, name: str = SPOT) -> tuple[dict, dict]:
    spec = env.gateway.venue.engine.registry.by_name[name]
    book = env.gateway.venue.engine.books[name]
    conv = {p: a for p, a in book.depth(BUY)}, {p: a for p, a in book.depth(SELL)}
    return tuple({spec.ticks_to_price(p): Decimal(a) for p, a in side.items()}  # type: ignore
                 for side in conv)


async def random_trading(env: Env, a, b, n: int, seed: int) -> None:
    rng = random.Random(seed)
    ids: list[tuple[object, str]] = []
    for _ in range(n):
        who = a if rng.random() < 0.5 else b
        r = rng.random()
        if r < 0.6 or not ids:
            side = "private/buy" if rng.random() < 0.5 else "private/sell"
            price = round(2 + rng.randint(-20, 20) / 1000, 3)
            ans = await who.call(side, {"instrument_name": SPOT, "amount": rng.randint(1, 5),
                                        "price": price})
            if "result" in ans and ans["result"]["order"]["order_state"] == "open":
                ids.append((who, ans["result"]["order"]["order_id"]))
        elif r < 0.8:
            owner, oid = ids.pop(rng.randrange(len(ids)))
            await owner.call("private/cancel", {"order_id": oid})
        else:
            owner, oid = rng.choice(ids)
            await owner.call("private/edit", {"order_id": oid, "amount": rng.randint(1, 6),
                                              "price": round(2 + rng.randint(-20, 20) / 1000, 3)})


async def follow(sub, channel: str, book: LocalBook, until_change: int) -> None:
    while book.change_id is None or book.change_id < until_change:
        note = await sub.note(channel)
        assert book.apply(note["params"]["data"]), "gap in a feed that lost nothing"


async def test_raw_book_reconstructs_engine_book(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    sub = await env.rpc()
    channel = f"book.{SPOT}.raw"
    await a.result("private/sell", {"instrument_name": SPOT, "amount": 3, "price": 2.05})
    await sub.result("public/subscribe", {"channels": [channel]})
    book = LocalBook(SPOT)
    first = await sub.note(channel)
    assert first["params"]["data"]["type"] == "snapshot"
    book.apply(first["params"]["data"])
    await random_trading(env, a, b, 150, seed=7)
    await follow(sub, channel, book, env.gateway.venue.engine.change_ids[SPOT])
    bids, asks = engine_book(env)
    assert book.bids == bids and book.asks == asks
    assert book.gaps == 0 and book.snapshots == 1


async def test_100ms_book_and_late_subscriber(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    early, late = await env.rpc(), await env.rpc()
    channel = f"book.{SPOT}.100ms"
    await early.result("public/subscribe", {"channels": [channel]})
    books = {early: LocalBook(SPOT), late: LocalBook(SPOT)}
    await random_trading(env, a, b, 60, seed=3)
    await late.result("public/subscribe", {"channels": [channel]})
    await random_trading(env, a, b, 60, seed=4)
    target = env.gateway.venue.engine.change_ids[SPOT]
    for sub, book in books.items():
        await follow(sub, channel, book, target)
        assert book.snapshots == 1
        bids, asks = engine_book(env)
        assert (book.bids, book.asks) == (bids, asks)


async def test_grouped_book_channel(env: Env) -> None:
    a = await env.rpc("alice")
    sub = await env.rpc()
    channel = f"book.{SPOT}.none.1.100ms"
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 1.5})
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 1.4})
    await sub.result("public/subscribe", {"channels": [channel]})
    data = (await sub.note(channel))["params"]["data"]
    assert data["bids"] == [[1.5, 2]] and data["asks"] == []
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1.6})
    data = (await sub.note(channel))["params"]["data"]
    assert data["bids"] == [[1.6, 1]]


async def test_trades_and_ticker_channels(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    sub = await env.rpc()
    chans = [f"trades.{SPOT}.raw", f"trades.{SPOT}.100ms", f"ticker.{SPOT}.raw",
             f"ticker.{SPOT}.100ms"]
    await sub.result("public/subscribe", {"channels": chans})
    initial = (await sub.note(f"ticker.{SPOT}.raw"))["params"]["data"]
    assert initial["instrument_name"] == SPOT and initial["best_bid_price"] is None
    await a.result("private/sell", {"instrument_name": SPOT, "amount": 5, "price": 2.2})
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 2.2})
    raw = (await sub.note(f"trades.{SPOT}.raw"))["params"]["data"]
    assert [(t["price"], t["amount"], t["direction"]) for t in raw] == [(2.2, 2, "buy")]
    assert raw[0]["trade_seq"] == 1 and isinstance(raw[0]["trade_id"], str)
    slow = (await sub.note(f"trades.{SPOT}.100ms"))["params"]["data"]
    assert slow == raw
    seen = None
    async with asyncio.timeout(5):
        while seen is None or seen.get("last_price") != 2.2:
            seen = (await sub.note(f"ticker.{SPOT}.100ms"))["params"]["data"]
    assert seen["best_ask_price"] == 2.2 and seen["best_ask_amount"] == 3


async def test_user_channels(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    await a.result("private/subscribe", {"channels": [
        "user.orders.any.any.raw", f"user.trades.{SPOT}.raw", "user.portfolio.usd",
        "user.orders.future.any.100ms"]})
    placed = await a.result("private/sell", {"instrument_name": SPOT, "amount": 5,
                                             "price": 2.0})
    oid = placed["order"]["order_id"]
    note = (await a.note("user.orders.any.any.raw"))["params"]["data"]
    assert note["order_id"] == oid and note["order_state"] == "open"
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 5, "price": 2.0})
    note = (await a.note("user.orders.any.any.raw"))["params"]["data"]
    assert note["order_state"] == "filled" and note["filled_amount"] == 5
    trades = (await a.note(f"user.trades.{SPOT}.raw"))["params"]["data"]
    assert trades[0]["order_id"] == oid and trades[0]["liquidity"] == "M"
    portfolio = (await a.note("user.portfolio.usd"))["params"]["data"]
    assert portfolio["currency"] == "USD" and portfolio["balance"] == 100010
    # bob's activity never reaches alice's user channels
    bobs = await b.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1.0})
    await asyncio.sleep(0.1)
    bob_id = bobs["order"]["order_id"]
    for n in a.drain():
        data = n["params"]["data"]
        rows = data if isinstance(data, list) else [data]
        assert all(row.get("order_id") != bob_id for row in rows)


async def test_unsubscribed_channel_goes_quiet(env: Env) -> None:
    a = await env.rpc("alice")
    sub = await env.rpc()
    channel = f"book.{SPOT}.raw"
    await sub.result("public/subscribe", {"channels": [channel]})
    await sub.note(channel)
    await sub.result("public/unsubscribe", {"channels": [channel]})
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1.0})
    await asyncio.sleep(0.1)
    assert sub.drain() == []


async def test_batched_user_channels_and_filters(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    await a.result("private/subscribe", {"channels": [
        "user.orders.spot.gpuh.100ms", "user.orders.future.any.raw",
        "user.trades.spot.any.100ms", "user.portfolio.any"]})
    placed = await a.result("private/sell", {"instrument_name": SPOT, "amount": 2,
                                             "price": 2.0})
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 2.0})
    await asyncio.sleep(0.3)  # two flushes of the 100ms channels
    by_channel: dict[str, list] = {}
    for n in a.drain():
        by_channel.setdefault(n["params"]["channel"], []).append(n["params"]["data"])
    batch = by_channel["user.orders.spot.gpuh.100ms"][-1]
    assert isinstance(batch, list)
    assert batch[-1]["order_id"] == placed["order"]["order_id"]
    assert batch[-1]["order_state"] == "filled"
    trades = by_channel["user.trades.spot.any.100ms"]
    assert [t["amount"] for batch in trades for t in batch] == [2]
    assert {d["currency"] for d in by_channel["user.portfolio.any"]} == {"USD", "GPUH"}
    assert "user.orders.future.any.raw" not in by_channel  # no future was traded


async def test_gtd_expiry_reaches_user_channel(env: Env) -> None:
    a = await env.rpc("alice")
    await a.result("private/subscribe", {"channels": ["user.orders.any.any.raw"]})
    placed = await a.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                            "price": 1.0, "time_in_force": "good_til_day"})
    await a.note("user.orders.any.any.raw")
    # jump the exchange clock past the next 08:00 UTC; the server's periodic tick expires it
    venue = env.gateway.venue
    real = venue.clock
    venue.clock = lambda: real() + 2 * 86_400 * 10**9  # type: ignore[method-assign]
    note = (await a.note("user.orders.any.any.raw"))["params"]["data"]
    assert note["order_id"] == placed["order"]["order_id"]
    assert note["order_state"] == "cancelled" and note["cancel_reason"] == "gtd_expired"


async def test_portfolio_follows_the_mark(env: Env) -> None:
    from exchange.core.instruments import default_instruments
    from exchange.core.messages import SetMark

    future = default_instruments()[3].name
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    await a.result("private/sell", {"instrument_name": future, "amount": 10, "price": 2})
    await b.result("private/buy", {"instrument_name": future, "amount": 10, "price": 2})
    await b.result("private/subscribe", {"channels": ["user.portfolio.usd"]})
    env.gateway.execute(SetMark(instrument=future, price=2500))  # $2.50
    env.gateway.publish()
    data = (await b.note("user.portfolio.usd"))["params"]["data"]
    assert data["futures_session_upl"] == 5  # 10 lots * $0.50


async def test_user_changes_channel(env: Env) -> None:
    from exchange.core.instruments import default_instruments

    future = default_instruments()[3].name
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    await b.result("private/subscribe", {"channels": [f"user.changes.{future}.raw",
                                                     "user.changes.spot.any.raw"]})
    await a.result("private/sell", {"instrument_name": future, "amount": 4, "price": 2})
    placed = await b.result("private/buy", {"instrument_name": future, "amount": 4,
                                            "price": 2})
    data = (await b.note(f"user.changes.{future}.raw"))["params"]["data"]
    assert data["instrument_name"] == future
    assert [o["order_id"] for o in data["orders"]] == [placed["order"]["order_id"]]
    assert data["orders"][0]["order_state"] == "filled"
    assert [t["amount"] for t in data["trades"]] == [4]
    assert [p["size"] for p in data["positions"]] == [4]
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    spot = (await b.note("user.changes.spot.any.raw"))["params"]["data"]
    assert spot["instrument_name"] == SPOT and spot["trades"] == [] and spot["positions"] == []


async def test_trades_by_kind_and_currency(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    sub = await env.rpc()
    await sub.result("public/subscribe", {"channels": [
        "trades.spot.gpuh.raw", "trades.any.any.100ms", "trades.future.any.raw"]})
    await a.result("private/sell", {"instrument_name": SPOT, "amount": 2, "price": 2.0})
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 2.0})
    raw = (await sub.note("trades.spot.gpuh.raw"))["params"]["data"]
    assert [(t["instrument_name"], t["amount"]) for t in raw] == [(SPOT, 2)]
    slow = (await sub.note("trades.any.any.100ms"))["params"]["data"]
    assert slow == raw
    await asyncio.sleep(0.05)
    assert not [n for n in sub.drain() if n["params"]["channel"] == "trades.future.any.raw"]
    err = await sub.error("public/subscribe", {"channels": ["trades.option.any.raw"]})
    assert err["code"] == -32602


async def test_grouped_book_channel_aggregates_price_steps(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    sub = await env.rpc()
    channel = f"book.{SPOT}.10.10.100ms"  # 10-tick ($0.01) buckets
    for price, amount in ((1.503, 1), (1.509, 2), (1.512, 4), (1.499, 8)):
        await a.result("private/buy", {"instrument_name": SPOT, "amount": amount, "price": price})
    await b.result("private/sell", {"instrument_name": SPOT, "amount": 3, "price": 1.601})
    await sub.result("public/subscribe", {"channels": [channel]})
    data = (await sub.note(channel))["params"]["data"]
    # bids round down into their bucket, asks round up
    assert data["bids"] == [[1.51, 4], [1.5, 3], [1.49, 8]]
    assert data["asks"] == [[1.61, 3]]
    bad = await sub.call("public/subscribe", {"channels": [f"book.{SPOT}.3.10.100ms"]})
    assert bad["error"]["code"] == -32602
