"""A bot on unmodified ccxt (``ccxt.pro.deribit``), pointed at the local exchange.

It watches the book and, whenever the spread is wider than it likes, joins the best bid with a
small post-only order, cancelling its previous one; it prints fills from ``watch_orders``.

    python -m clients.examples.ccxt_bot --rest http://127.0.0.1:8765 \\
        --ws ws://127.0.0.1:8765/ws/api/v2 --api-key bot --secret bot-secret
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import ccxt.pro as ccxtpro


def make_exchange(rest: str, ws: str, api_key: str, secret: str) -> ccxtpro.deribit:
    exchange = ccxtpro.deribit({"apiKey": api_key, "secret": secret})
    exchange.urls["api"] = {"rest": rest, "ws": ws}  # the only change from real Deribit
    return exchange


async def main(rest: str, ws: str, api_key: str, secret: str, symbol: str = "GPUH/USD",
               duration: float | None = 10.0) -> dict[str, int]:
    exchange = make_exchange(rest, ws, api_key, secret)
    stats = {"books": 0, "orders": 0, "cancels": 0}
    resting: str | None = None
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    try:
        await exchange.load_markets()
        balance = await exchange.fetch_balance()
        print(f"USD free {balance['USD']['free']}")
        while deadline is None or loop.time() < deadline:
            try:
                book = await asyncio.wait_for(exchange.watch_order_book(symbol), 1.0)
            except TimeoutError:
                book = None
            if book is None:
                continue
            stats["books"] += 1
            if not book["bids"] or not book["asks"]:
                continue
            best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
            if best_ask - best_bid > 0.01:
                if resting is not None:
                    with contextlib.suppress(ccxtpro.OrderNotFound, ccxtpro.InvalidOrder):
                        await exchange.cancel_order(resting, symbol)
                        stats["cancels"] += 1
                order = await exchange.create_order(symbol, "limit", "buy", 1, best_bid,
                                                    {"postOnly": True})
                resting = order["id"] if order["status"] == "open" else None
                stats["orders"] += 1
    finally:
        if resting is not None:
            with contextlib.suppress(Exception):
                await exchange.cancel_order(resting, symbol)
        await exchange.close()
    return stats


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest", default="http://127.0.0.1:8765")
    parser.add_argument("--ws", default="ws://127.0.0.1:8765/ws/api/v2")
    parser.add_argument("--api-key", default="bot")
    parser.add_argument("--secret", default="bot-secret")
    parser.add_argument("--symbol", default="GPUH/USD")
    parser.add_argument("--duration", type=float, default=None)
    args = parser.parse_args()
    print(asyncio.run(main(args.rest, args.ws, args.api_key, args.secret, args.symbol,
                           args.duration)))


if __name__ == "__main__":
    cli()
