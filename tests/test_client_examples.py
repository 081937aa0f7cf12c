"""The example bots run against a live gateway and do what they say."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from test_gateway_support import SECRETS, Env, env_fixture  # noqa: F401

from clients.examples import ccxt_bot, market_maker
from clients.ws import Client

SPOT = "GPUH_USD"


async def test_market_maker_quotes_and_cleans_up(env: Env) -> None:
    task = asyncio.create_task(market_maker.main(env.url, "alice", SECRETS["alice"], SPOT,
                                                 duration=1.0))
    async with Client(env.url, client_id="bob", client_secret=SECRETS["bob"]) as bob:
        book = await bob.subscribe_book(SPOT)
        async with asyncio.timeout(5):
            while not (book.best_bid() and book.best_ask()):
                await asyncio.sleep(0.02)
        bid, ask = book.best_bid(), book.best_ask()
        assert bid[0] == Decimal("1.997") and ask[0] == Decimal("2.003")  # type: ignore[index]
        hit = await bob.sell(SPOT, 5, "1.997")  # takes the bot's bid
        assert hit.order.filled_amount == 5
        requotes = await asyncio.wait_for(task, 10)
        assert requotes >= 3  # initial quotes plus a new bid after the fill
    assert env.gateway.venue.open_orders(1) == []  # cancelled everything on exit


async def test_ccxt_bot_joins_the_bid(env: Env) -> None:
    async with Client(env.url, client_id="bob", client_secret=SECRETS["bob"]) as bob:
        await bob.buy(SPOT, 2, "1.5")
        await bob.sell(SPOT, 2, "2.5")
        stats = await asyncio.wait_for(
            ccxt_bot.main(env.http, env.url, "alice", SECRETS["alice"], duration=1.5), 20)
    assert stats["books"] >= 1 and stats["orders"] >= 1
    assert env.gateway.venue.open_orders(1) == []
