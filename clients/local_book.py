"""A local order book kept from a ``book.{instrument}.{interval}`` feed.

The first message is a snapshot; every later one is a change whose ``prev_change_id`` must be
the ``change_id`` of the message before it. If it is not, messages were lost and the book can
no longer be trusted: :meth:`LocalBook.apply` returns False, marks the book invalid, and the
owner re-subscribes and *replaces* the book with the next snapshot (merging would keep stale
levels forever).
"""

from __future__ import annotations

import heapq
import zlib
from decimal import Decimal
from typing import Any

CHECKSUM_DEPTH = 10


class LocalBook:
    """``tick_size``/``lot_size``, when given, let the book verify the server's ``checksum``
    extension (CRC32 of the top levels in integer ticks and lots) after every message; a
    mismatch is handled like a gap."""

    def __init__(self, instrument: str, tick_size: Decimal | None = None,
                 lot_size: Decimal | None = None) -> None:
        self.instrument = instrument
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.change_id: int | None = None
        self.valid = False
        self.snapshots = 0
        self.gaps = 0
        self.mismatches = 0

    def apply(self, data: dict[str, Any]) -> bool:
        """Apply one feed message; False when a gap was detected (re-subscribe then)."""
        if data.get("type") == "snapshot":
            self.bids = {Decimal(str(p)): Decimal(str(a)) for _, p, a in data["bids"]}
            self.asks = {Decimal(str(p)): Decimal(str(a)) for _, p, a in data["asks"]}
            self.change_id = data["change_id"]
            self.valid = True
            self.snapshots += 1
            return self._verify(data)
        if not self.valid or data.get("prev_change_id") != self.change_id:
            if self.valid:
                self.gaps += 1
            self.valid = False
            return False
        for side, rows in ((self.bids, data.get("bids", ())), (self.asks, data.get("asks", ()))):
            for action, price, amount in rows:
                key = Decimal(str(price))
                if action == "delete":
                    side.pop(key, None)
                else:
                    side[key] = Decimal(str(amount))
        self.change_id = data["change_id"]
        return self._verify(data)

    def checksum(self) -> int:
        """The checksum of this book as the server computes it (needs tick and lot size)."""
        assert self.tick_size is not None and self.lot_size is not None
        tick, lot = self.tick_size, self.lot_size

        def side(prices: list[Decimal], book: dict[Decimal, Decimal]) -> str:
            return ",".join(f"{int(p / tick)}:{int(book[p] / lot)}" for p in prices)

        bids = heapq.nlargest(CHECKSUM_DEPTH, self.bids)
        asks = heapq.nsmallest(CHECKSUM_DEPTH, self.asks)
        return zlib.crc32((side(bids, self.bids) + "|" + side(asks, self.asks)).encode())

    def _verify(self, data: dict[str, Any]) -> bool:
        expected = data.get("checksum")
        if expected is None or self.tick_size is None or self.lot_size is None:
            return True
        if self.checksum() != expected:
            self.mismatches += 1
            self.valid = False
            return False
        return True

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        if not self.bids:
            return None
        price = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        if not self.asks:
            return None
        price = min(self.asks)
        return price, self.asks[price]

    def levels(self, side: str, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Levels best first; ``side`` is "bids" or "asks"."""
        book = self.bids if side == "bids" else self.asks
        prices = sorted(book, reverse=side == "bids")
        if depth is not None:
            prices = prices[:depth]
        return [(p, book[p]) for p in prices]

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2
