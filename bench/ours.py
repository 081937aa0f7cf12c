"""Adapters that drive our own code: the bare ``Book`` and the full ``Engine``.

Every adapter (here and in ``bench.peers``) has the same shape, so ``bench.core`` measures all
of them with the same code:

* ``load(stream)``: convert the stream to the engine's native input, before any clock starts
  (our engine's input is command structs, exactly what the gateway and journal hand it);
* ``reset()``: a fresh engine with the stream's setup applied (untimed);
* ``run()``: the timed operations in a tight loop; returns (traded quantity, trade count);
* ``run_latency(samples)``: the same with ``perf_counter_ns`` around each operation;
* ``close()``: stop any background work after a run (``reset()`` starts afresh), so a peer's
  thread cannot steal time from the next engine measured;
* ``release()``: drop the converted inputs.

``run`` and ``run_latency`` repeat the loop body on purpose: a shared per-operation function
would add a Python call to every operation and blur the throughput figure.
"""

from __future__ import annotations

import time
from typing import Any

from exchange.core import (
    CancelOrder,
    Deposit,
    Engine,
    Mint,
    PlaceOrder,
    default_instruments,
)
from exchange.core.book import Book, Order
from exchange.core.messages import STP_CANCEL_TAKER

from .streams import BUY, CANCEL, Op, Stream

SPOT_INSTRUMENT = "GPUH_USD"
BUYERS = (1, 2)
SELLERS = (3, 4)
FUNDS_USD = 10**18  # micro-USD: enough that no order in any stream is short of cash
FUNDS_ASSET = 10**12  # lots


class BookAdapter:
    """``exchange.core.book.Book`` driven directly: match, then rest the remainder.

    The harness keeps the id -> Order index a venue needs for cancels (the book itself has
    none) and drops fully filled makers from it, as the engine does. Each order's account is
    its own id, so self-trade prevention never fires and the book does pure price-time work.
    """

    name = "book"
    label = "our Book alone"

    def __init__(self, core: Any = None) -> None:
        # ``core``: the interpreted twin (``implementation.interpreted_core()``) instead of the
        # package's own, possibly compiled, Book and Order.
        self.book_cls = Book if core is None else core.Book
        self.order_cls = Order if core is None else core.Order
        if core is not None:
            self.name, self.label = "book_interpreted", "our Book alone, interpreted"
        self.setup: list[Op] = []
        self.ops: list[Op] = []

    def load(self, stream: Stream) -> None:
        self.setup, self.ops = stream.setup, stream.ops

    def reset(self) -> None:
        self.book = self.book_cls()
        self.orders: dict[int, Order] = {}
        Order = self.order_cls
        for _, side, price, qty, oid in self.setup:
            order = Order(oid, oid, side, price, qty)
            self.orders[oid] = order
            self.book.add(order)

    def run(self) -> tuple[int, int]:
        book, orders, Order = self.book, self.orders, self.order_cls
        match, add, cancel = book.match, book.add, book.cancel
        stp = STP_CANCEL_TAKER
        traded = trades = 0
        for kind, side, price, qty, oid in self.ops:
            if kind == CANCEL:
                order = orders.pop(oid, None)
                if order is not None:
                    cancel(order)
                continue
            fills = match(side, price, qty, oid, stp)[0]
            if fills:
                trades += len(fills)
                for maker, fill in fills:
                    qty -= fill
                    traded += fill
                    if not maker.qty:
                        del orders[maker.id]
            if qty:
                order = Order(oid, oid, side, price, qty)
                orders[oid] = order
                add(order)
        return traded, trades

    def run_latency(self, samples: list[int]) -> tuple[int, int]:
        book, orders, Order = self.book, self.orders, self.order_cls
        match, add, cancel = book.match, book.add, book.cancel
        stp = STP_CANCEL_TAKER
        clock = time.perf_counter_ns
        traded = trades = 0
        i = 0
        for kind, side, price, qty, oid in self.ops:
            t0 = clock()
            if kind == CANCEL:
                order = orders.pop(oid, None)
                if order is not None:
                    cancel(order)
            else:
                fills = match(side, price, qty, oid, stp)[0]
                if fills:
                    trades += len(fills)
                    for maker, fill in fills:
                        qty -= fill
                        traded += fill
                        if not maker.qty:
                            del orders[maker.id]
                if qty:
                    order = Order(oid, oid, side, price, qty)
                    orders[oid] = order
                    add(order)
            samples[i] = clock() - t0
            i += 1
        return traded, trades

    def resting(self) -> int:
        return len(self.orders)

    def release(self) -> None:
        self.setup, self.ops = [], []

    def close(self) -> None:
        pass


def fills_per_op(stream: Stream) -> bytes:
    """Makers each timed op of ``stream`` trades against (a cancel: 0), capped at 255.

    Counted once, untimed, by running the stream through a ``BookAdapter``: every engine in
    the benchmark matches the same stream (their traded totals are checked to agree), so the
    count is a property of the stream, and no timed loop has to look at its results.
    """
    adapter = BookAdapter()
    adapter.load(stream)
    adapter.reset()
    book, orders = adapter.book, adapter.orders
    out = bytearray()
    for kind, side, price, qty, oid in stream.ops:
        if kind == CANCEL:
            order = orders.pop(oid, None)
            if order is not None:
                book.cancel(order)
            out.append(0)
            continue
        fills = book.match(side, price, qty, oid, STP_CANCEL_TAKER)[0]
        for maker, fill in fills:
            qty -= fill
            if not maker.qty:
                del orders[maker.id]
        if qty:
            order = Order(oid, oid, side, price, qty)
            orders[oid] = order
            book.add(order)
        out.append(min(len(fills), 255))
    return bytes(out)


class EngineAdapter:
    """``Engine.apply`` with accounts, reservations, risk checks and events.

    Buys come from accounts 1 and 2, sells from 3 and 4, so trades always cross accounts
    (no self-trade prevention) and every order passes its risk check: buyers hold ample USD,
    sellers ample GPU-hours (spot) or USD margin (a future). Every command is accepted, so the
    engine's order ids equal the stream's ``oid`` and cancels can be addressed in advance.
    """

    name = "engine"
    label = "our full Engine"

    def __init__(self, instrument: str = SPOT_INSTRUMENT, core: Any = None) -> None:
        self.instrument = instrument
        self.engine_cls = Engine if core is None else core.Engine
        if core is not None:
            self.name, self.label = "engine_interpreted", "our full Engine, interpreted"
        self.setup: list = []
        self.ops: list = []
        self.expected_orders = 0

    def _command(self, op: Op) -> PlaceOrder | CancelOrder:
        kind, side, price, qty, oid = op
        account = (BUYERS if side == BUY else SELLERS)[oid & 1]
        if kind == CANCEL:
            return CancelOrder(account=account, order_id=oid)
        return PlaceOrder(account=account, instrument=self.instrument, side=side, amount=qty,
                          price=price)

    def load(self, stream: Stream) -> None:
        self.setup = [self._command(op) for op in stream.setup]
        self.ops = [self._command(op) for op in stream.ops]
        self.expected_orders = stream.orders

    def reset(self) -> None:
        self.engine = engine = self.engine_cls(default_instruments())
        spec = engine.registry.by_name[self.instrument]
        self.is_spot = spec.kind == "spot"
        for account in BUYERS + SELLERS:
            engine.apply(Deposit(account=account, asset="USD", amount=FUNDS_USD), 0)
            if self.is_spot and account in SELLERS:
                engine.apply(Mint(account=account, asset=spec.base, amount=FUNDS_ASSET), 0)
        self.ts = 1_000_000_000
        apply = engine.apply
        for command in self.setup:
            apply(command, self.ts)
        self.base_trade_id = engine.next_trade_id
        self.base_bought = self._bought()

    def _bought(self) -> int:
        """Lots the buying accounts hold: with buys and sells on disjoint accounts this is
        exactly the quantity traded so far."""
        engine, total = self.engine, 0
        for account in BUYERS:
            acct = engine.accounts[account]
            if self.is_spot:
                total += acct.assets.get("GPUH", 0)
            else:
                pos = acct.positions.get(self.instrument)
                total += pos.size if pos is not None else 0
        return total

    def _result(self) -> tuple[int, int]:
        placed = self.engine.next_order_id - 1
        if placed != self.expected_orders:
            raise RuntimeError(
                f"engine accepted {placed} orders, expected {self.expected_orders}"
                " (an order was rejected; check funding)"
            )
        return self._bought() - self.base_bought, self.engine.next_trade_id - self.base_trade_id

    def run(self) -> tuple[int, int]:
        apply = self.engine.apply
        ts = self.ts
        for command in self.ops:
            ts += 1000
            apply(command, ts)
        self.ts = ts
        return self._result()

    def run_latency(self, samples: list[int]) -> tuple[int, int]:
        apply = self.engine.apply
        clock = time.perf_counter_ns
        ts = self.ts
        i = 0
        for command in self.ops:
            ts += 1000
            t0 = clock()
            apply(command, ts)
            samples[i] = clock() - t0
            i += 1
        self.ts = ts
        return self._result()

    def resting(self) -> int:
        return len(self.engine.orders)

    def release(self) -> None:
        self.setup, self.ops = [], []

    def close(self) -> None:
        pass
