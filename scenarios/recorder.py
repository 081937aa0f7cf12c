"""Turns the engine's event stream into the run's tables.

Events are the truth: trades, top-of-book quotes and the order log are all read off the events
of each command as it is applied (nothing is reconstructed from agent state). Rows are kept in
lists during the run as small structs the cyclic garbage collector never tracks (a tuple would
be examined by a collection before being untracked, and a day records about a million rows),
and become Arrow columns once at the end.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exchange.core.engine import Engine
from exchange.core.messages import (
    BUY,
    CANCELLED,
    BalanceChanged,
    BookDelta,
    Command,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    Rejected,
    Trade,
)

TRADES_SCHEMA = pa.schema([
    ("ts", pa.int64()), ("instrument", pa.string()), ("trade_id", pa.int64()),
    ("price_ticks", pa.int64()), ("amount", pa.int64()), ("aggressor", pa.int8()),
    ("maker_account", pa.int64()), ("taker_account", pa.int64()),
    ("maker_order_id", pa.int64()), ("taker_order_id", pa.int64()),
])
QUOTES_SCHEMA = pa.schema([
    ("ts", pa.int64()), ("instrument", pa.string()),
    ("bid_ticks", pa.int64()), ("bid_size", pa.int64()),
    ("ask_ticks", pa.int64()), ("ask_size", pa.int64()),
])
ORDERS_SCHEMA = pa.schema([
    ("ts", pa.int64()), ("account", pa.int64()), ("order_id", pa.int64()),
    ("instrument", pa.string()), ("action", pa.string()), ("side", pa.int8()),
    ("price_ticks", pa.int64()), ("amount", pa.int64()), ("remaining", pa.int64()),
    ("type", pa.string()), ("tif", pa.string()), ("reason", pa.string()),
])


class TradeRow(msgspec.Struct, gc=False):
    """One row of the trades table (fields named as its columns).

    Rows are structs the cyclic collector never tracks: a day records about a million of
    them, and as tuples each one was examined by a collection before being untracked, which
    cost about a tenth of a recorded run (docs/scenarios.md)."""

    ts: int
    instrument: str
    trade_id: int
    price_ticks: int
    amount: int
    aggressor: int
    maker_account: int
    taker_account: int
    maker_order_id: int
    taker_order_id: int


class OrderRow(msgspec.Struct, gc=False):
    """One row of the order log (fields named as its columns); see ``TradeRow``."""

    ts: int
    account: int
    order_id: int | None
    instrument: str
    action: str
    side: int | None
    price_ticks: int | None
    amount: int | None
    remaining: int | None
    type: str | None
    tif: str | None
    reason: str | None


class QuoteRow(msgspec.Struct, gc=False):
    """One row of the quotes table (fields named as its columns); see ``TradeRow``."""

    ts: int
    instrument: str
    bid_ticks: int | None
    bid_size: int | None
    ask_ticks: int | None
    ask_size: int | None


class Recorder:
    """An observer for ``Venue``: ``recorder(command, events, ts)`` after every command."""

    def __init__(self, engine: Engine, orders: bool = True, quotes: bool = True) -> None:
        self.engine = engine
        self.record_orders = orders
        self.record_quotes = quotes
        self.trades: list[TradeRow] = []
        self.quotes: list[QuoteRow] = []
        self.orders: list[OrderRow] = []
        self.last_quote: dict[str, tuple] = {}

    def __call__(self, command: Command, events: list, ts: int) -> None:
        touched: str | None = None
        touched_more: set[str] | None = None
        record_orders = self.record_orders
        last_quote = self.last_quote
        for event in events:
            kind = type(event)
            if kind is BalanceChanged:
                continue  # the most frequent event, and not recorded
            if kind is BookDelta:
                name = event.instrument
                # A level strictly behind the last recorded touch cannot move the touch: a
                # change of the best level, or a new better one, has a delta of its own. Most
                # resting orders join deeper levels, so this skips most touch lookups.
                last = last_quote.get(name)
                if last is not None:
                    if event.side == BUY:
                        if last[0] is not None and event.price < last[0]:
                            continue
                    elif last[2] is not None and event.price > last[2]:
                        continue
                if touched is None:
                    touched = name
                elif name != touched:
                    if touched_more is None:
                        touched_more = set()
                    touched_more.add(name)
            elif kind is Trade:
                self.trades.append(TradeRow(
                    ts, event.instrument, event.trade_id, event.price, event.amount,
                    event.aggressor, event.maker_account, event.taker_account,
                    event.maker_order_id, event.taker_order_id,
                ))
            elif not record_orders:
                continue
            elif kind is OrderAccepted:
                self.orders.append(OrderRow(
                    ts, event.account, event.order_id, event.instrument, "new", event.side,
                    event.price, event.amount, event.amount, event.type, event.tif, None,
                ))
            elif kind is OrderUpdated:
                if event.status == CANCELLED:
                    self.orders.append(OrderRow(
                        event.ts, event.account, event.order_id, event.instrument,
                        "cancelled", None, event.price, event.filled, event.remaining, None,
                        None, event.reason,
                    ))
                elif not event.remaining:
                    self.orders.append(OrderRow(
                        ts, event.account, event.order_id, event.instrument, "filled", None,
                        event.price, event.filled, 0, None, None, None,
                    ))
            elif kind is Rejected and type(command) is PlaceOrder:
                c: Any = command
                self.orders.append(OrderRow(
                    ts, c.account, None, c.instrument, "rejected", c.side, c.price, c.amount,
                    None, c.type, c.tif, event.reason,
                ))
        if touched is not None and self.record_quotes:
            self._quote(touched, ts)
            if touched_more:
                for name in sorted(touched_more):
                    self._quote(name, ts)

    def _quote(self, name: str, ts: int) -> None:
        book = self.engine.books[name]
        bid = book.bid.best()
        ask = book.ask.best()
        bid_size = book.bid.levels[bid].total if bid is not None else None
        ask_size = book.ask.levels[ask].total if ask is not None else None
        quote = (bid, bid_size, ask, ask_size)
        if self.last_quote.get(name) != quote:
            self.last_quote[name] = quote
            self.quotes.append(QuoteRow(ts, name, bid, bid_size, ask, ask_size))

    # -- tables ----------------------------------------------------------------------------------
    def tables(self) -> dict[str, pa.Table]:
        return {
            "trades": rows_to_table(self.trades, TRADES_SCHEMA),
            "quotes": rows_to_table(self.quotes, QUOTES_SCHEMA),
            "orders": rows_to_table(self.orders, ORDERS_SCHEMA),
        }


def rows_to_table(rows: list[tuple] | list[msgspec.Struct], schema: pa.Schema) -> pa.Table:
    """Rows (tuples, or structs with a field per column) -> an Arrow table with exactly
    ``schema`` (also when there are no rows)."""
    if not rows:
        return schema.empty_table()
    # One C-level pass per column (map + itemgetter/attrgetter) is several times faster than
    # transposing with zip(*rows) once rows number in the millions.
    getters = ([itemgetter(i) for i in range(len(schema))] if type(rows[0]) is tuple
               else [attrgetter(field.name) for field in schema])
    return pa.table(
        [pa.array(list(map(get, rows)), type=field.type)
         for get, field in zip(getters, schema, strict=True)],
        schema=schema,
    )


def instrument_mask(column: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    """Boolean numpy mask of the rows of one instrument, computed in Arrow (no Python strings)."""
    return pc.equal(column, name).to_numpy(zero_copy_only=False).astype(bool)
