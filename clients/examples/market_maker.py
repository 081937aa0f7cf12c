"""A small market maker on the SDK: quote both sides around the mid, requote on every book
change, and cancel everything on exit (and on disconnect, server-side).

    python -m clients.examples.market_maker --url ws://127.0.0.1:8765/ws/api/v2 \\
        --client-id maker --client-secret maker-secret --instrument GPUH_USD
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from decimal import Decimal

from clients.ws import ApiError, Client


class MarketMaker:
    """Keeps one post-only bid and one ask ``spread_ticks`` either side of a fair value.

    The fair value starts at the book's mid (or ``fair`` on an empty book) and follows the
    mid of the other participants' quotes; an order is only amended when its target price
    moved, so the bot's own book changes do not make it requote in a loop.
    """

    def __init__(self, client: Client, instrument: str, size: Decimal, spread_ticks: int,
                 fair: Decimal) -> None:
        self.client = client
        self.instrument = instrument
        self.size = size
        self.spread_ticks = spread_ticks
        self.fair = fair
        self.tick = Decimal("0.001")
        self.quotes: dict[str, tuple[str, Decimal] | None] = {"buy": None, "sell": None}
        self.requotes = 0
        self._dirty = asyncio.Event()

    async def start(self) -> None:
        instruments = await self.client.get_instruments()
        spec = next(i for i in instruments if i.instrument_name == self.instrument)
        self.tick = spec.tick_size
        await self.client.enable_cancel_on_disconnect()
        await self.client.subscribe([f"user.orders.{self.instrument}.raw"], self._on_order)
        await self.client.subscribe_book(self.instrument,
                                         callback=lambda ch, data: self._dirty.set())
        book = await self.client.wait_book(self.instrument)
        if book.mid() is not None:
            self.fair = book.mid()  # type: ignore[assignment]
        self._dirty.set()

    def _on_order(self, channel: str, order: dict) -> None:
        """A quote filled or was cancelled: forget it so the next requote replaces it."""
        if order.get("order_state") == "open":
            return
        for side, quote in self.quotes.items():
            if quote is not None and quote[0] == order.get("order_id"):
                self.quotes[side] = None
                self._dirty.set()

    def others_mid(self) -> Decimal | None:
        """Mid of the best levels not made only of our own quotes."""
        book = self.client.books[self.instrument]
        mine = {q[1]: self.size for q in self.quotes.values() if q is not None}
        bids = [p for p, a in book.levels("bids") if a > mine.get(p, 0)]
        asks = [p for p, a in book.levels("asks") if a > mine.get(p, 0)]
        if not bids or not asks:
            return None
        return (bids[0] + asks[0]) / 2

    def targets(self) -> tuple[Decimal, Decimal]:
        mid = self.others_mid()
        if mid is not None:
            self.fair = mid
        half = self.spread_ticks * self.tick
        return (self.fair - half).quantize(self.tick), (self.fair + half).quantize(self.tick)

    async def requote(self) -> None:
        bid, ask = self.targets()
        for side, price in (("buy", bid), ("sell", ask)):
            quote = self.quotes[side]
            if quote is not None and quote[1] == price:
                continue
            try:
                if quote is None:
                    place = self.client.buy if side == "buy" else self.client.sell
                    result = await place(self.instrument, self.size, price, post_only=True)
                else:
                    result = await self.client.edit(quote[0], self.size, price)
            except ApiError as exc:
                if exc.code in (11044, 10004):  # filled or gone: quote afresh next time
                    self.quotes[side] = None
                    continue
                raise
            order = result.order
            self.quotes[side] = ((order.order_id, order.price or price)
                                 if order.order_state == "open" else None)
            self.requotes += 1

    async def run(self, duration: float | None = None) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        try:
            while deadline is None or loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._dirty.wait(), 1.0)
                self._dirty.clear()
                await self.requote()
        finally:
            with contextlib.suppress(ApiError, ConnectionError):
                await self.client.cancel_all(self.instrument)


async def main(url: str, client_id: str, secret: str, instrument: str,
               duration: float | None = None) -> int:
    async with Client(url, client_id=client_id, client_secret=secret, heartbeat=10) as client:
        bot = MarketMaker(client, instrument, Decimal(5), 3, Decimal("2.000"))
        await bot.run(duration)
        return bot.requotes


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws/api/v2")
    parser.add_argument("--client-id", default="maker")
    parser.add_argument("--client-secret", default="maker-secret")
    parser.add_argument("--instrument", default="GPUH_USD")
    parser.add_argument("--duration", type=float, help="seconds to run (default: forever)")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.client_id, args.client_secret, args.instrument,
                     args.duration))


if __name__ == "__main__":
    cli()
