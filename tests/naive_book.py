"""A deliberately naive order book: the oracle for the differential tests.

It implements exactly the interface of ``exchange.core.book.Book`` that the engine uses, in the
most obvious way: every resting order of both sides sits in one Python list in arrival order;
the best price is a scan; matching sorts the crossing orders by (price, arrival) on every call;
a cancel removes the order from the list. There is no heap, no lazy deletion and no cached
total, so there is nothing that can drift. It is slow on purpose, and short enough to be
checked by reading.
"""

from __future__ import annotations

from exchange.core.book import Book, Order
from exchange.core.messages import BUY, STP_CANCEL_BOTH, STP_CANCEL_MAKER


class NaiveBook(Book):
    """Price-time priority by brute force, with the same semantics as ``Book``.

    A subclass only so the compiled engine, which types its books as ``Book``, accepts it:
    every method the engine calls is overridden here, and ``Book``'s own state is unused."""

    def __init__(self) -> None:
        # (arrival number, order), in arrival order. Arrival numbers only ever grow, so a
        # re-added order (an amend that lost priority) goes behind everything already here.
        self.resting: list[tuple[int, Order]] = []
        self.arrivals = 0

    # -- helpers --------------------------------------------------------------------------------
    def _side(self, side: int) -> list[tuple[int, Order]]:
        return [(n, o) for n, o in self.resting if o.side == side]

    def _remove(self, order: Order) -> None:
        for i, (_, o) in enumerate(self.resting):
            if o is order:
                del self.resting[i]
                return
        raise KeyError(f"order {order.id} is not resting")

    @staticmethod
    def _priority(side: int, entry: tuple[int, Order]) -> tuple[int, int]:
        """Sort key, best first: highest bid or lowest ask, then earliest arrival."""
        arrival, order = entry
        return (-order.price if side == BUY else order.price, arrival)

    def _crossing(self, taker_side: int, limit: int) -> list[Order]:
        """Resting orders an incoming order of ``taker_side`` at ``limit`` may trade with,
        in the order it meets them."""
        maker_side = -taker_side
        if taker_side == BUY:
            entries = [e for e in self._side(maker_side) if e[1].price <= limit]
        else:
            entries = [e for e in self._side(maker_side) if e[1].price >= limit]
        entries.sort(key=lambda e: self._priority(maker_side, e))
        return [o for _, o in entries]

    # -- queries --------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        prices = [o.price for _, o in self.resting if o.side == BUY]
        return max(prices) if prices else None

    def best_ask(self) -> int | None:
        prices = [o.price for _, o in self.resting if o.side != BUY]
        return min(prices) if prices else None

    def level_total(self, side: int, price: int) -> int:
        return sum(o.qty for _, o in self.resting if o.side == side and o.price == price)

    def depth(self, side: int, n: int | None = None) -> list[tuple[int, int]]:
        prices = sorted({o.price for _, o in self._side(side)}, reverse=side == BUY)
        if n is not None:
            prices = prices[:n]
        return [(p, self.level_total(side, p)) for p in prices]

    def queue(self, side: int, price: int) -> list[Order]:
        return [o for _, o in self.resting if o.side == side and o.price == price]

    def levels(self, side: int) -> list[tuple[int, int, list[Order]]]:
        return [(p, total, self.queue(side, p)) for p, total in self.depth(side)]

    def may_cross(self, side: int, price: int) -> bool:
        """Exact where ``Book`` may answer a false "yes": the engine must not care which."""
        best = self.best_ask() if side == BUY else self.best_bid()
        if best is None:
            return False
        return best <= price if side == BUY else best >= price

    def fillable(self, side: int, limit: int, qty: int, account: int, stp: str) -> int:
        """Play ``match`` through without changing anything and count what would trade."""
        total = 0
        for maker in self._crossing(side, limit):
            if total >= qty:
                break
            if maker.account == account:
                if stp == STP_CANCEL_MAKER:
                    continue
                break
            total += min(maker.qty, qty - total)
        return total

    # -- mutations ------------------------------------------------------------------------------
    def add(self, order: Order) -> int:
        self.arrivals += 1
        self.resting.append((self.arrivals, order))
        return self.level_total(order.side, order.price)

    def cancel(self, order: Order) -> int:
        self._remove(order)
        order.qty = 0
        return self.level_total(order.side, order.price)

    def reduce(self, order: Order, new_qty: int) -> int:
        if not any(o is order for _, o in self.resting):
            raise KeyError(f"order {order.id} is not resting")
        order.qty = new_qty
        return self.level_total(order.side, order.price)

    def match(
        self, side: int, limit: int, qty: int, account: int, stp: str
    ) -> tuple[list[tuple[Order, int]], list[Order], bool]:
        fills: list[tuple[Order, int]] = []
        self_cancelled: list[Order] = []
        stopped = False
        for maker in self._crossing(side, limit):
            if qty == 0:
                break
            if maker.account == account:
                if stp == STP_CANCEL_MAKER or stp == STP_CANCEL_BOTH:
                    self._remove(maker)  # keeps its qty: the caller reports it
                    self_cancelled.append(maker)
                    if stp == STP_CANCEL_MAKER:
                        continue
                stopped = True
                break
            fill = min(maker.qty, qty)
            maker.qty -= fill
            maker.filled += fill
            qty -= fill
            fills.append((maker, fill))
            if maker.qty == 0:
                self._remove(maker)
        return fills, self_cancelled, stopped
