"""Reference points measured on the same stream as our code.

* ``SortedBook``: the "plain sortedcontainers book", the obvious design our book has to beat:
  a ``SortedDict`` per side of price -> ``deque`` of ``[oid, qty]`` entries, an id index and
  lazy cancels.
* ``lightmatchingengine`` and ``fastlob``: the pure-Python matching engines on PyPI.

Adaptations (each peer gets the stream in its own native form, converted before timing):

* lightmatchingengine keeps fully filled orders in its id map and asserts when asked to cancel
  one whose price level has since gone, so the harness checks the order's ``leaves_qty``
  (through the engine's own map) and skips cancels of orders that are no longer open. Its
  order ids are sequential from 1, like the stream's ``oid``. Sides are 1 (buy) / 2 (sell).
* fastlob takes ``OrderParams`` (Decimal price and quantity, built before timing), names orders
  with random string ids, and runs a background thread for GTD expiry: it is started before and
  stopped after every run, and its logger is disabled (it would otherwise log every order).
  It reports the quantity executed per price, not per maker, so it has no trade count.
  fastlob also never marks a maker filled when it takes the maker whole inside a level
  (``engine.fill_whole_orders`` pops it without calling ``fill``), so such an order still
  looks open, and cancelling it later corrupts the level or raises ``KeyError``. fastlob is
  therefore only sent the cancels whose target is still open (``Stream.dead_cancels``, from a
  reference replay); the others are no-ops for every engine anyway.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from sortedcontainers import SortedDict

from .streams import BUY, CANCEL, Op, Stream


class SortedBook:
    """The straightforward price-time book: sorted levels of FIFO deques.

    Cancels are lazy (the entry's quantity is zeroed and skipped when it reaches the front),
    the usual trick that keeps a cancel O(1) however long the queue, where ``deque.remove``
    would scan it.
    """

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # price -> [live count, deque of [oid, qty]]
        self.asks: SortedDict = SortedDict()
        self.index: dict[int, tuple[int, int, list[int]]] = {}  # oid -> (side, price, entry)

    def limit(self, side: int, price: int, qty: int, oid: int) -> tuple[int, int]:
        """Match, then rest any remainder; returns (quantity traded, maker fills)."""
        traded = fills = 0
        if side == BUY:
            opp, best_at = self.asks, 0
        else:
            opp, best_at = self.bids, -1
        index = self.index
        while qty and opp:
            best, level = opp.peekitem(best_at)
            if (best > price) if side == BUY else (best < price):
                break
            queue = level[1]
            while qty and queue:
                entry = queue[0]
                open_qty = entry[1]
                if not open_qty:
                    queue.popleft()
                    continue
                fill = open_qty if open_qty <= qty else qty
                entry[1] = open_qty - fill
                qty -= fill
                traded += fill
                fills += 1
                if fill == open_qty:
                    queue.popleft()
                    level[0] -= 1
                    del index[entry[0]]
            if not level[0]:
                del opp[best]
        if qty:
            own = self.bids if side == BUY else self.asks
            level = own.get(price)
            if level is None:
                level = own[price] = [0, deque()]
            entry = [oid, qty]
            level[1].append(entry)
            level[0] += 1
            index[oid] = (side, price, entry)
        return traded, fills

    def cancel(self, oid: int) -> bool:
        found = self.index.pop(oid, None)
        if found is None:
            return False
        side, price, entry = found
        own = self.bids if side == BUY else self.asks
        level = own[price]
        entry[1] = 0
        level[0] -= 1
        if not level[0]:
            del own[price]
        return True


def mark_dead_cancels(stream: Stream) -> None:
    """Record which cancels target an order that has already fully traded, by replaying the
    stream through ``SortedBook`` (price-time priority leaves no room for engines to differ)."""
    book = SortedBook()
    for _, side, price, qty, oid in stream.setup:
        book.limit(side, price, qty, oid)
    dead = []
    for kind, side, price, qty, oid in stream.ops:
        if kind == CANCEL:
            if not book.cancel(oid):
                dead.append(oid)
        else:
            book.limit(side, price, qty, oid)
    stream.dead_cancels = frozenset(dead)


class SortedBookAdapter:
    name = "sorted_book"
    label = "plain sortedcontainers book"

    def __init__(self) -> None:
        self.setup: list[Op] = []
        self.ops: list[Op] = []

    def load(self, stream: Stream) -> None:
        self.setup, self.ops = stream.setup, stream.ops

    def reset(self) -> None:
        self.book = SortedBook()
        for _, side, price, qty, oid in self.setup:
            self.book.limit(side, price, qty, oid)

    def run(self) -> tuple[int, int]:
        limit, cancel = self.book.limit, self.book.cancel
        traded = trades = 0
        for kind, side, price, qty, oid in self.ops:
            if kind == CANCEL:
                cancel(oid)
            else:
                t, f = limit(side, price, qty, oid)
                traded += t
                trades += f
        return traded, trades

    def run_latency(self, samples: list[int]) -> tuple[int, int]:
        limit, cancel = self.book.limit, self.book.cancel
        clock = time.perf_counter_ns
        traded = trades = 0
        i = 0
        for kind, side, price, qty, oid in self.ops:
            t0 = clock()
            if kind == CANCEL:
                cancel(oid)
            else:
                t, f = limit(side, price, qty, oid)
                traded += t
                trades += f
            samples[i] = clock() - t0
            i += 1
        return traded, trades

    def resting(self) -> int:
        return len(self.book.index)

    def release(self) -> None:
        self.setup, self.ops = [], []

    def close(self) -> None:
        pass


LME_INSTRUMENT = "GPUH_USD"


class LightMatchingEngineAdapter:
    name = "lightmatchingengine"
    label = "lightmatchingengine (PyPI)"
    notes = ("cancels of orders it reports fully filled (leaves_qty == 0) are skipped: it keeps "
             "them in its id map and asserts if their price level is gone")

    def __init__(self) -> None:
        self.setup: list[tuple[int, int, int, int, int]] = []
        self.ops: list[tuple[int, int, int, int, int]] = []

    @staticmethod
    def _native(ops: list[Op]) -> list[tuple[int, int, int, int, int]]:
        return [(k, 1 if s == BUY else 2, p, q, oid) for k, s, p, q, oid in ops]

    def load(self, stream: Stream) -> None:
        self.setup, self.ops = self._native(stream.setup), self._native(stream.ops)

    def reset(self) -> None:
        from lightmatchingengine.lightmatchingengine import LightMatchingEngine

        self.engine = LightMatchingEngine()
        for _, side, price, qty, _ in self.setup:
            self.engine.add_order(LME_INSTRUMENT, price, qty, side)
        self.id_map = self.engine.order_books[LME_INSTRUMENT].order_id_map

    def run(self) -> tuple[int, int]:
        add, cancel, id_map = self.engine.add_order, self.engine.cancel_order, self.id_map
        inst = LME_INSTRUMENT
        traded = trades = 0
        for kind, side, price, qty, oid in self.ops:
            if kind == CANCEL:
                order = id_map.get(oid)
                if order is not None and order.leaves_qty:
                    cancel(oid, inst)
                continue
            order, fills = add(inst, price, qty, side)
            if fills:
                traded += order.cum_qty
                trades += sum(1 for f in fills if f.order_id != order.order_id)
        return traded, trades

    def run_latency(self, samples: list[int]) -> tuple[int, int]:
        add, cancel, id_map = self.engine.add_order, self.engine.cancel_order, self.id_map
        inst = LME_INSTRUMENT
        clock = time.perf_counter_ns
        traded = trades = 0
        i = 0
        for kind, side, price, qty, oid in self.ops:
            t0 = clock()
            if kind == CANCEL:
                order = id_map.get(oid)
                if order is not None and order.leaves_qty:
                    cancel(oid, inst)
            else:
                order, fills = add(inst, price, qty, side)
                if fills:
                    traded += order.cum_qty
                    trades += sum(1 for f in fills if f.order_id != order.order_id)
            samples[i] = clock() - t0
            i += 1
        return traded, trades

    def resting(self) -> int:
        return sum(1 for o in self.id_map.values() if o.leaves_qty)

    def release(self) -> None:
        self.setup, self.ops = [], []

    def close(self) -> None:
        pass


class FastlobAdapter:
    name = "fastlob"
    label = "fastlob (PyPI)"
    notes = ("only sent cancels of still-open orders: it never marks a maker taken whole inside "
             "a level as filled, and cancelling one later raises KeyError or corrupts the level; "
             "GTD thread started/stopped around each run; logging disabled; no trade count")

    def __init__(self) -> None:
        self.setup: list = []
        self.ops: list = []
        self.lob = None

    @staticmethod
    def _native(ops: list[Op], dead: frozenset[int]) -> list:
        from fastlob import OrderParams, OrderSide

        out: list = []
        for kind, side, price, qty, oid in ops:
            if kind == CANCEL:
                out.append((True, oid, oid not in dead))
            else:
                params = OrderParams(OrderSide.BID if side == BUY else OrderSide.ASK, price, qty)
                out.append((False, oid, params))
        return out

    def load(self, stream: Stream) -> None:
        dead = stream.dead_cancels
        self.setup, self.ops = self._native(stream.setup, dead), self._native(stream.ops, dead)

    def reset(self) -> None:
        from fastlob import Orderbook

        self.close()
        self.lob = lob = Orderbook(name="bench")
        lob._logger.disabled = True  # every order would otherwise be logged
        before = set(threading.enumerate())
        lob.start()
        self.threads = set(threading.enumerate()) - before  # its GTD-expiry thread
        self.ids: dict[int, str] = {}
        for _, oid, params in self.setup:
            self.ids[oid] = lob.process(params).orderid()

    def run(self) -> tuple[int, int | None]:
        from fastlob import ResultType

        lob = self.lob
        assert lob is not None
        process, cancel, ids = lob.process, lob.cancel, self.ids
        resting_kinds = (ResultType.LIMIT, ResultType.PARTIAL_MARKET)
        traded = 0
        for is_cancel, oid, payload in self.ops:
            if is_cancel:
                fid = ids.pop(oid, None)
                if fid is not None and payload:  # payload: target still open
                    cancel(fid)
                continue
            result = process(payload)
            kind = result.kind()
            if kind is not ResultType.LIMIT:
                traded += sum(result.execprices().values())
            if kind in resting_kinds:
                ids[oid] = result.orderid()
        return int(traded), None

    def run_latency(self, samples: list[int]) -> tuple[int, int | None]:
        from fastlob import ResultType

        lob = self.lob
        assert lob is not None
        process, cancel, ids = lob.process, lob.cancel, self.ids
        resting_kinds = (ResultType.LIMIT, ResultType.PARTIAL_MARKET)
        clock = time.perf_counter_ns
        traded = 0
        i = 0
        for is_cancel, oid, payload in self.ops:
            t0 = clock()
            if is_cancel:
                fid = ids.pop(oid, None)
                if fid is not None and payload:  # payload: target still open
                    cancel(fid)
            else:
                result = process(payload)
                kind = result.kind()
                if kind is not ResultType.LIMIT:
                    traded += sum(result.execprices().values())
                if kind in resting_kinds:
                    ids[oid] = result.orderid()
            samples[i] = clock() - t0
            i += 1
        return int(traded), None

    def probe(self, stream: Stream) -> tuple[bool, str]:
        """Replay the stream untimed with *every* cancel sent, to show whether the guard is
        still needed: (ran cleanly, what happened)."""
        from fastlob import ResultType

        resting_kinds = (ResultType.LIMIT, ResultType.PARTIAL_MARKET)
        self.reset()
        lob, ids = self.lob, self.ids
        assert lob is not None
        traded = done = 0
        try:
            for is_cancel, oid, payload in self.ops:
                if is_cancel:
                    fid = ids.pop(oid, None)
                    if fid is not None:
                        lob.cancel(fid)
                else:
                    result = lob.process(payload)
                    if result.kind() is not ResultType.LIMIT:
                        traded += sum(result.execprices().values())
                    if result.kind() in resting_kinds:
                        ids[oid] = result.orderid()
                done += 1
        except Exception as exc:
            return False, f"sent every cancel: {type(exc).__name__} {exc} at op {done}"
        finally:
            self.close()
        return True, f"sent every cancel: no error, traded {int(traded)}"

    def resting(self) -> int:
        lob = self.lob
        if lob is None:
            return 0
        return sum(lim.valid_orders() for lim in lob._askside.limits()) + sum(
            lim.valid_orders() for lim in lob._bidside.limits()
        )

    def release(self) -> None:
        self.setup, self.ops = [], []

    def close(self) -> None:
        if self.lob is not None and self.lob.is_running():
            self.lob.stop()
        for thread in getattr(self, "threads", ()):
            thread.join(timeout=1.0)  # it notices the stop within one 0.1 s sleep
        self.threads = set()
        self.lob = None

