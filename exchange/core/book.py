"""A price-time priority limit order book, tuned for CPython.

Measured choices (see ``docs/performance.md`` for the numbers):

* Levels live in a plain ``dict`` keyed by integer price, so the common operations (join a
  level, cancel, fill) are O(1) hash lookups. The best price comes from a binary heap of level
  prices (``heapq``, implemented in C) with *lazy deletion*: a price whose level has gone stays
  in the heap until it reaches the top, where it is discarded. A membership set keeps each price
  in the heap at most once, so churn at far-away prices cannot grow the heap without bound.
  This beats a ``SortedDict`` index because inserting a new level is a C-level ``heappush``
  instead of a pure-Python bisect-and-insert, and the book only ever needs the *best* level on
  the hot path; sorted depth is computed on demand for snapshots.
* Each level is a FIFO ``deque`` plus its running total and live count. Cancels are lazy: the
  order's remaining quantity is zeroed and it is skipped when it reaches the front, so a cancel
  never scans a queue. A level is dropped the moment its live count reaches zero, and a queue
  that is mostly dead entries is compacted.
* Resting orders are invisible to the cyclic garbage collector, which otherwise pauses for
  tens of milliseconds when 100k+ orders are live: interpreted they are
  ``msgspec.Struct(gc=False)`` (cheap to create, small), compiled an extension type whose
  fields (C integers, exact strings) cannot hold a cycle (``book.pxd``).

The book does no accounting: it moves quantity between orders and reports fills. The engine
owns ids, accounts and events. ``tests/naive_book.py`` implements the same interface in the
most obvious way and is used as an oracle in randomized differential tests.
"""

from __future__ import annotations

import types
from collections import deque
from heapq import heappop, heappush, nlargest, nsmallest

from .messages import BUY, GTC, STP_CANCEL_BOTH, STP_CANCEL_MAKER, STP_CANCEL_TAKER

_NOTHING: tuple[tuple, tuple, bool] = ((), (), False)


class Order:
    """A live order. ``qty`` is the open (remaining) amount; zero marks a dead queue entry.

    What an order holds back (cash, asset or margin) is not stored: it is a pure function of
    its side, price and remaining amount (``Engine._reservation``), which keeps orders small
    and makes a drifting reservation impossible.

    Compiled, this is an extension type (``book.pxd``) with C integer fields and only fields
    that cannot hold a reference cycle, so the cyclic collector never tracks it; interpreted,
    the ``msgspec`` struct of ``order_struct.py`` replaces it (``gc=False``), being faster
    to build and read in the interpreter.
    """

    def __init__(self, id, account, side, price, qty, filled=0, ts=0, label=None,
                 reduce_only=False, instrument="", tif=GTC, expire_ts=None, post_only=False,
                 stp=STP_CANCEL_TAKER):
        self.id = id
        self.account = account
        self.side = side
        self.price = price
        self.qty = qty
        self.filled = filled
        self.ts = ts
        self.label = label
        self.reduce_only = reduce_only
        self.instrument = instrument
        self.tif = tif
        # An expiry is always after the order's (non-negative) time, so 0 can mean "none".
        self._expire_ts = 0 if expire_ts is None else expire_ts
        self.post_only = post_only
        self.stp = stp

    @property
    def expire_ts(self):
        return None if self._expire_ts == 0 else self._expire_ts

    def __repr__(self):
        return "Order" + repr(order_fields(self))

    def __eq__(self, other):
        if type(other) is not Order:
            return NotImplemented
        return order_fields(self) == order_fields(other)


def _probe() -> None:
    """Compiled, this is not a Python function object: that is how the module knows."""


COMPILED = not isinstance(_probe, types.FunctionType)
if not COMPILED:
    # Interpreted: the msgspec struct (order_struct.py) replaces the class above.
    from . import order_struct

    globals()["Order"] = order_struct.Order


def order_fields(o: Order) -> tuple:
    """An order's fields in declaration order: what snapshots store and ``Order(*t)`` takes."""
    return (o.id, o.account, o.side, o.price, o.qty, o.filled, o.ts, o.label, o.reduce_only,
            o.instrument, o.tif, o.expire_ts, o.post_only, o.stp)


class Level:
    __slots__ = ("queue", "total", "count", "price")

    def __init__(self, price: int) -> None:
        self.price = price  # one int object shared by every order at this level
        self.queue: deque[Order] = deque()
        self.total = 0
        self.count = 0


class _Side:
    """One side of the book. ``sign`` turns prices into min-heap keys: asks +1, bids -1."""

    __slots__ = ("levels", "heap", "in_heap", "sign")

    def __init__(self, sign: int) -> None:
        self.levels: dict[int, Level] = {}
        self.heap: list[int] = []
        self.in_heap: set[int] = set()
        self.sign = sign

    def best(self) -> int | None:
        heap, levels, sign = self.heap, self.levels, self.sign
        while heap:
            price = heap[0] * sign
            if price in levels:
                return price
            heappop(heap)
            self.in_heap.discard(price)
        return None


def _live(queue: deque) -> deque:
    """A level's queue without the cancelled (zero-quantity) entries it keeps lazily."""
    return deque(o for o in queue if o.qty)


class Book:
    """Price-time priority book for one instrument."""

    __slots__ = ("bid", "ask")

    def __init__(self) -> None:
        self.bid = _Side(-1)
        self.ask = _Side(1)

    # -- queries ------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self.bid.best()

    def best_ask(self) -> int | None:
        return self.ask.best()

    def level_total(self, side: int, price: int) -> int:
        level = (self.bid if side == BUY else self.ask).levels.get(price)
        return level.total if level is not None else 0

    def depth(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        """Best ``n`` levels (all when None) as (price, total), best first."""
        levels = (self.bid if side == BUY else self.ask).levels
        if n is None:
            prices = sorted(levels, reverse=side == BUY)
        elif side == BUY:
            prices = nlargest(n, levels)
        else:
            prices = nsmallest(n, levels)
        return [(p, levels[p].total) for p in prices]

    def queue(self, side: int, price: int) -> list[Order]:
        """Live orders at one level in priority order."""
        level = (self.bid if side == BUY else self.ask).levels.get(price)
        if level is None:
            return []
        return [o for o in level.queue if o.qty]

    def levels(self, side: int) -> list[tuple[int, int, list[Order]]]:
        """Every level best first, as (price, total, live orders in queue order)."""
        book_side = self.bid if side == BUY else self.ask
        return [
            (p, book_side.levels[p].total, self.queue(side, p))
            for p, _ in self.depth(side)
        ]

    def may_cross(self, side: int, price: int) -> bool:
        """Whether an order at ``price`` might trade on arrival.

        A cheap peek at the heap top: never a false "no", occasionally a false "yes" when the
        top is a stale price (``match`` then finds nothing and discards it). This lets the
        engine skip matching for the passive majority of orders without computing the best
        price.
        """
        if side == BUY:
            heap = self.ask.heap
            return bool(heap) and heap[0] <= price
        heap = self.bid.heap
        return bool(heap) and heap[0] <= -price

    def fillable(self, side: int, limit: int, qty: int, account: int, stp: str) -> int:
        """How much of an incoming order could trade now (used for fill-or-kill).

        Mirrors ``match`` exactly, including self-trade prevention: cancel-maker skips own
        orders; cancel-taker and cancel-both stop at the first one.
        """
        opp = self.ask if side == BUY else self.bid
        levels = opp.levels
        if side == BUY:
            prices = sorted(p for p in levels if p <= limit)
        else:
            prices = sorted((p for p in levels if p >= limit), reverse=True)
        skip_own = stp == STP_CANCEL_MAKER
        total = 0
        for price in prices:
            for order in levels[price].queue:
                if not order.qty:
                    continue
                if order.account == account:
                    if skip_own:
                        continue
                    return total
                total += order.qty
                if total >= qty:
                    return qty
        return total

    # -- mutations ----------------------------------------------------------------------------
    def add(self, order: Order) -> int:
        """Rest an order at the back of its level; returns the level's new total."""
        side = self.bid if order.side == BUY else self.ask
        price = order.price
        level = side.levels.get(price)
        if level is None:
            level = side.levels[price] = Level(price)
            if price not in side.in_heap:
                side.in_heap.add(price)
                heappush(side.heap, price * side.sign)
        else:
            # Share the level's int: 28 bytes less per interpreted order (compiled, the
            # price is a C field and this is a plain store).
            order.price = level.price
        level.queue.append(order)
        level.total += order.qty
        level.count += 1
        return level.total

    def cancel(self, order: Order) -> int:
        """Take a resting order out (lazily); returns the level's new total."""
        side = self.bid if order.side == BUY else self.ask
        price = order.price
        level = side.levels[price]
        level.total -= order.qty
        level.count -= 1
        order.qty = 0
        if level.count == 0:
            del side.levels[price]
            return 0
        queue = level.queue
        if queue[0] is order:
            queue.popleft()
        elif len(queue) > 2 * level.count + 16:
            level.queue = _live(queue)
        return level.total

    def reduce(self, order: Order, new_qty: int) -> int:
        """Lower a resting order's open quantity in place (it keeps its priority)."""
        side = self.bid if order.side == BUY else self.ask
        level = side.levels[order.price]
        level.total += new_qty - order.qty
        order.qty = new_qty
        return level.total

    def match(
        self, side: int, limit: int, qty: int, account: int, stp: str
    ) -> tuple[list[tuple[Order, int]] | tuple, list[Order] | tuple, bool]:
        """Trade an incoming order of ``side`` up to ``limit`` for at most ``qty``.

        Returns (fills, makers cancelled by self-trade prevention, taker stopped by STP).
        Fills are (maker, quantity) in execution order; they print at the maker's price.
        Makers' quantities are updated here; the taker's bookkeeping is the caller's.
        A maker cancelled by STP keeps its ``qty`` so the caller can report it.
        """
        if side == BUY:
            opp = self.ask
            bound = limit
        else:
            opp = self.bid
            bound = -limit
        heap = opp.heap
        if not heap or heap[0] > bound:
            # Nothing can cross (a stale top above the bound means every key is above it).
            # Most orders in a real stream are passive, so this exit matters.
            return _NOTHING
        levels, sign = opp.levels, opp.sign
        fills: list[tuple[Order, int]] = []
        self_cancelled: list[Order] = []
        stopped = False
        while qty and heap:
            key = heap[0]
            price = key * sign
            level = levels.get(price)
            if level is None:
                heappop(heap)
                opp.in_heap.discard(price)
                continue
            if key > bound:
                break
            queue = level.queue
            while queue:
                maker = queue[0]
                maker_qty = maker.qty
                if not maker_qty:
                    queue.popleft()
                    continue
                if maker.account == account:
                    if stp == STP_CANCEL_MAKER or stp == STP_CANCEL_BOTH:
                        queue.popleft()
                        level.total -= maker_qty
                        level.count -= 1
                        self_cancelled.append(maker)
                        if stp == STP_CANCEL_MAKER:
                            continue
                    stopped = True
                    break
                if maker_qty <= qty:
                    queue.popleft()
                    level.count -= 1
                    fill = maker_qty
                else:
                    fill = qty
                maker.qty = maker_qty - fill
                maker.filled += fill
                level.total -= fill
                qty -= fill
                fills.append((maker, fill))
                if not qty:
                    break
            if level.count == 0:
                del levels[price]
                heappop(heap)
                opp.in_heap.discard(price)
            if stopped:
                break
        return fills, self_cancelled, stopped
