"""An unmodified ccxt (``ccxt.pro.deribit``) trades against the gateway with only its URLs
pointed at the local server."""

from __future__ import annotations

import asyncio

import ccxt.pro as ccxtpro
from test_gateway_support import SECRETS, Env, env_fixture  # noqa: F401

SYMBOL = "GPUH/USD"


def exchange(env: Env, client_id: str) -> ccxtpro.deribit:
    ex = ccxtpro.deribit({"apiKey": client_id, "secret": SECRETS[client_id]})
    ex.urls["api"] = {"rest": env.http, "ws": env.url}
    return ex


async def test_ccxt_end_to_end(env: Env) -> None:
    maker, taker = exchange(env, "alice"), exchange(env, "bob")
    try:
        async with asyncio.timeout(20):
            markets = await maker.load_markets()
            assert SYMBOL in markets and markets[SYMBOL]["spot"]
            future = next(m for m in markets.values() if m["future"])
            assert future["linear"] and future["settle"] == "USD" and future["expiry"]
            await taker.load_markets()

            balance = await maker.fetch_balance()
            assert balance["USD"]["total"] == 100000 and balance["GPUH"]["free"] == 1000

            ask = await maker.create_order(SYMBOL, "limit", "sell", 5, 2.5)
            assert ask["status"] == "open" and ask["price"] == 2.5 and ask["amount"] == 5

            book = await maker.watch_order_book(SYMBOL)
            assert book["asks"][0][:2] == [2.5, 5] and not book["bids"]
            trades_task = asyncio.create_task(maker.watch_trades(SYMBOL))
            orders_task = asyncio.create_task(maker.watch_orders())
            book_task = asyncio.create_task(maker.watch_order_book(SYMBOL))
            await asyncio.sleep(0.3)  # let both subscriptions land

            bid = await taker.create_order(SYMBOL, "limit", "buy", 2, 2.5)
            assert bid["status"] == "closed" and bid["filled"] == 2

            trades = await trades_task
            assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(2.5, 2, "buy")]
            orders = await orders_task
            assert orders[-1]["id"] == ask["id"] and orders[-1]["filled"] == 2
            book = await book_task
            assert book["asks"][0][:2] == [2.5, 3]

            cancelled = await maker.cancel_order(ask["id"])
            assert cancelled["status"] == "canceled"
            fetched = await maker.fetch_order(ask["id"])
            assert fetched["status"] == "canceled" and fetched["filled"] == 2
            assert await maker.fetch_open_orders(SYMBOL) == []
            after = await maker.fetch_balance()
            assert after["USD"]["total"] == 100005 and after["GPUH"]["total"] == 998
    finally:
        await maker.close()
        await taker.close()


async def test_ccxt_errors_map_to_exceptions(env: Env) -> None:
    ex = exchange(env, "carol")
    try:
        async with asyncio.timeout(20):
            await ex.load_markets()
            try:
                await ex.create_order(SYMBOL, "limit", "buy", 5, 2.5)
            except ccxtpro.InsufficientFunds:
                pass
            else:
                raise AssertionError("an unfunded order was accepted")
            try:
                await ex.cancel_order("999999")
            except ccxtpro.OrderNotFound:
                pass
            else:
                raise AssertionError("cancelling an unknown order succeeded")
    finally:
        await ex.close()


async def test_ccxt_tickers_trades_edits_positions(env: Env) -> None:
    maker, taker = exchange(env, "alice"), exchange(env, "bob")
    try:
        async with asyncio.timeout(20):
            markets = await maker.load_markets()
            await taker.load_markets()
            future = next(s for s, m in markets.items() if m["future"])
            await maker.create_order(SYMBOL, "limit", "sell", 3, 2.5)
            ticker_task = asyncio.create_task(maker.watch_ticker(SYMBOL))
            mine_task = asyncio.create_task(maker.watch_my_trades(SYMBOL))
            await asyncio.sleep(0.3)
            await taker.create_order(SYMBOL, "limit", "buy", 1, 2.5)
            assert (await ticker_task)["symbol"] == SYMBOL
            assert [t["side"] for t in await mine_task] == ["sell"]
            ticker = await maker.fetch_ticker(SYMBOL)
            assert ticker["last"] == 2.5 and ticker["ask"] == 2.5
            book = await maker.fetch_order_book(SYMBOL)
            assert book["asks"] == [[2.5, 2.0]]
            assert [t["amount"] for t in await maker.fetch_trades(SYMBOL)] == [1]
            assert [t["takerOrMaker"] for t in await maker.fetch_my_trades(SYMBOL)] == ["maker"]

            bid = await maker.create_order(future, "limit", "buy", 2, 2.0)
            edited = await maker.edit_order(bid["id"], future, "limit", "buy", 3, 2.001)
            assert edited["amount"] == 3 and edited["price"] == 2.001
            await taker.create_order(future, "limit", "sell", 3, 2.001)
            position = await maker.fetch_position(future)
            assert position["contracts"] == 3 and position["side"] == "long"
            await maker.cancel_all_orders(SYMBOL)
            assert await maker.fetch_open_orders(SYMBOL) == []
            assert (await maker.fetch_status())["status"] == "ok"
    finally:
        await maker.close()
        await taker.close()
