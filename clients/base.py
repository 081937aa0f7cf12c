"""The one window an agent has on the market.

An agent never touches the engine, the kernel or a socket: it calls the methods of a ``Client``
and is called back through ``on_wake`` and ``on_event``. Two implementations exist:
``clients.inproc.InProcClient`` (direct engine calls in virtual time, for fast research runs)
and a websocket client (the same agent against a live server, next to external bots). Keeping
this surface small and asynchronous in spirit is what lets one agent class run on both:

* Order actions are fire-and-forget. ``place`` returns nothing; the engine's answer
  (``OrderAccepted`` with the order id, or ``Rejected``) comes back later through
  ``Agent.on_event``, after whatever latency the transport has.
* ``open_orders`` is the client's own view, built from the events it has delivered, so an agent
  only knows what a remote trader could know.
* Market data (``best_bid``, ``depth``, ``last_price``) and account queries are synchronous
  reads of the client's current view: the live book for the in-process client, the locally
  maintained book of a subscription for a websocket client.
* Time is ``now()`` in nanoseconds and wake-ups are requested with ``wake_at``; a live client
  maps virtual nanoseconds onto the wall clock with a speed factor.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from exchange.core.instruments import InstrumentSpec
from exchange.core.messages import OPEN, OrderAccepted, OrderUpdated

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import Agent


def as_int(value: Any, what: str) -> int:
    """``value`` as the exact ``int`` the core works in: lots, ticks, ids, nanoseconds.

    Both clients apply this at the edge, so an agent behaves the same in process and live:
    integer-likes such as NumPy integers become ``int`` (the engine rejects anything else, and
    NumPy's fixed-width arithmetic would wrap silently), while a float, a bool or a string is a
    programming error in the agent, raised at its call rather than reported later as a rejection
    it may not be listening for.
    """
    if type(value) is int:
        return value
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{what} must be an integer, got {value!r} ({type(value).__name__})")


class OpenOrder:
    """The client's view of one of its agent's resting orders."""

    __slots__ = ("order_id", "instrument", "side", "price", "remaining", "label")

    def __init__(
        self, order_id: int, instrument: str, side: int, price: int, remaining: int,
        label: str | None,
    ) -> None:
        self.order_id = order_id
        self.instrument = instrument
        self.side = side
        self.price = price
        self.remaining = remaining
        self.label = label

    def __repr__(self) -> str:
        return (f"OpenOrder({self.order_id}, {self.instrument}, side={self.side}, "
                f"price={self.price}, remaining={self.remaining})")


class Client(ABC):
    """What an agent may do and see. Prices are integer ticks, amounts integer lots."""

    account: int
    agent: Agent | None
    open_orders: dict[int, OpenOrder]

    # -- time ------------------------------------------------------------------------------
    @abstractmethod
    def now(self) -> int:
        """Current time in nanoseconds (virtual in simulation, scaled wall time live)."""

    @abstractmethod
    def wake_at(self, ts: int, token: object = None) -> None:
        """Ask for ``agent.on_wake(token)`` at time ``ts`` (never earlier than now)."""

    # -- order entry (answers arrive through Agent.on_event) ---------------------------------
    @abstractmethod
    def place(
        self,
        instrument: str,
        side: int,
        amount: int,
        price: int | None = None,
        *,
        type: str = "limit",
        tif: str = "gtc",
        post_only: bool = False,
        label: str | None = None,
        expire_ts: int | None = None,
    ) -> None:
        """Send a new order."""

    @abstractmethod
    def cancel(self, order_id: int) -> None:
        """Cancel one order by id."""

    @abstractmethod
    def cancel_all(self, instrument: str | None = None) -> None:
        """Cancel every open order of this account (optionally on one instrument)."""

    @abstractmethod
    def amend(self, order_id: int, amount: int | None = None, price: int | None = None) -> None:
        """Change an order's total amount and/or price."""

    # -- market data ---------------------------------------------------------------------------
    @abstractmethod
    def instrument(self, name: str) -> InstrumentSpec:
        """The specification of a listed instrument (tick size, lot size, ...)."""

    @abstractmethod
    def best_bid(self, instrument: str) -> int | None: ...

    @abstractmethod
    def best_ask(self, instrument: str) -> int | None: ...

    @abstractmethod
    def depth(self, instrument: str, side: int, levels: int) -> list[tuple[int, int]]:
        """Best ``levels`` price levels of one side as (price, amount), best first."""

    @abstractmethod
    def last_price(self, instrument: str) -> int | None:
        """Price of the last trade, or None before the first one."""

    def mid(self, instrument: str) -> float | None:
        """Midpoint of the touch, or None when a side is empty."""
        bid = self.best_bid(instrument)
        ask = self.best_ask(instrument)
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    # -- account -------------------------------------------------------------------------------
    @abstractmethod
    def cash(self) -> int:
        """Cash balance in micro-USD (including amounts reserved by open orders)."""

    @abstractmethod
    def free_cash(self) -> int:
        """Cash not held back by open orders, micro-USD."""

    @abstractmethod
    def holding(self, asset: str) -> int:
        """Units (lots) of an asset held, including those reserved by open sell orders."""

    @abstractmethod
    def free_holding(self, asset: str) -> int: ...

    @abstractmethod
    def position(self, instrument: str) -> int:
        """Signed futures position in lots."""

    # -- world ---------------------------------------------------------------------------------
    @abstractmethod
    def series(self, name: str) -> float:
        """Current value of an exogenous series of the scenario (e.g. a fundamental value)."""

    # -- shared bookkeeping --------------------------------------------------------------------
    def track(self, event: object) -> None:
        """Update ``open_orders`` from one delivered event (the same for every transport: a
        websocket client turns its private notifications into these core event structs)."""
        kind = type(event)
        if kind is OrderAccepted:
            if event.account == self.account:  # type: ignore[attr-defined]
                e: OrderAccepted = event  # type: ignore[assignment]
                self.open_orders[e.order_id] = OpenOrder(
                    e.order_id, e.instrument, e.side, e.price, e.amount, e.label
                )
        elif kind is OrderUpdated:
            u: OrderUpdated = event  # type: ignore[assignment]
            if u.status == OPEN:
                order = self.open_orders.get(u.order_id)
                if order is not None:
                    order.remaining = u.remaining
                    order.price = u.price
            else:
                self.open_orders.pop(u.order_id, None)
