"""The in-process client: agents trade against an ``Engine`` in the kernel's virtual time.

``Venue`` is the exchange side of the simulation. An order an agent sends at time t reaches the
engine at t + the agent's order latency (``kernel.schedule``), is applied there with that
timestamp, and the events about the agent's own orders travel back with its event latency.
Per-agent FIFO is kept, as on one TCP connection: a message never overtakes an earlier one of
the same agent even when latencies are random.

Market data and account queries read the engine directly at the moment the agent asks, the way
a co-located feed would show it; only order acknowledgements and fills are delayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from clients.base import Client, OpenOrder, as_int
from exchange.core.engine import Engine
from exchange.core.instruments import USD, InstrumentSpec
from exchange.core.messages import (
    GTC,
    LIMIT,
    Accepted,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    Rejected,
    Trade,
)
from scenarios.kernel import Kernel

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import Agent

EventObserver = Callable[[Command, list, int], None]


class LatencyModel:
    """Fixed one-way delays plus an optional uniform jitter, in nanoseconds.

    The jitter comes from the agent's own latency stream, so changing one agent's latency never
    changes what any other agent draws.
    """

    __slots__ = ("order_ns", "event_ns", "jitter_ns", "rng", "_jitter")

    def __init__(self, order_ns: int = 0, event_ns: int = 0, jitter_ns: int = 0,
                 rng: np.random.Generator | None = None) -> None:
        if min(order_ns, event_ns, jitter_ns) < 0:
            raise ValueError("latencies must be >= 0")
        self.order_ns = order_ns
        self.event_ns = event_ns
        self.jitter_ns = jitter_ns
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._jitter: list[int] = []

    def _draw(self) -> int:
        """Jitter drawn in blocks (one numpy call per 256 messages)."""
        buf = self._jitter
        if not buf:
            buf = self._jitter = self.rng.integers(0, self.jitter_ns + 1, 256).tolist()
        return buf.pop()

    def order_delay(self) -> int:
        if self.jitter_ns:
            return self.order_ns + self._draw()
        return self.order_ns

    def event_delay(self) -> int:
        if self.jitter_ns:
            return self.event_ns + self._draw()
        return self.event_ns


class Venue:
    """The exchange inside the simulation: applies commands and routes events back."""

    def __init__(self, engine: Engine, kernel: Kernel,
                 series: Callable[[str, int], float] | None = None) -> None:
        self.engine = engine
        self.kernel = kernel
        self.listeners: dict[int, InProcClient] = {}  # account -> client that wants events
        self.observers: list[EventObserver] = []
        self.series = series or _no_series
        self.commands = 0
        self.events = 0
        self._arrive_handler = self._arrive  # bound once: scheduled for every order

    def connect(self, client: InProcClient) -> None:
        if client.notify:
            self.listeners[client.account] = client

    def apply_now(self, command: Command) -> list:
        """Apply a command immediately (scenario setup, shocks): no latency, no routing."""
        now = self.kernel.now
        events = self.engine.apply(command, now)
        self.commands += 1
        self.events += len(events)
        for observe in self.observers:
            observe(command, events, now)
        return events

    def submit(self, client: InProcClient, command: Command) -> None:
        kernel = self.kernel
        latency = client.latency
        arrival = kernel.now + (latency.order_delay() if latency.jitter_ns else latency.order_ns)
        if arrival < client.last_arrival:
            arrival = client.last_arrival  # FIFO per connection
        client.last_arrival = arrival
        kernel.schedule(arrival, self._arrive_handler, command)

    def _arrive(self, command: Command) -> None:
        now = self.kernel.now
        events = self.engine.apply(command, now)
        self.commands += 1
        self.events += len(events)
        for observe in self.observers:
            observe(command, events, now)
        listeners = self.listeners
        if not listeners:
            return
        batches: dict[InProcClient, list] = {}
        for event in events:
            kind = type(event)
            if kind is Trade:
                client = listeners.get(event.maker_account)
                if client is not None:
                    batches.setdefault(client, []).append(event)
                account = event.taker_account
            elif kind is OrderUpdated or kind is OrderAccepted:
                account = event.account
            elif kind is Rejected or kind is Accepted:
                account = event.account
                if account is None:
                    continue
            else:
                continue
            client = listeners.get(account)
            if client is not None:
                batches.setdefault(client, []).append(event)
        schedule = self.kernel.schedule
        for client, batch in batches.items():
            due = now + client.latency.event_delay()
            if due < client.last_delivery:
                due = client.last_delivery  # FIFO on the way back too
            client.last_delivery = due
            schedule(due, client.deliver, batch)


def _no_series(name: str, ts: int) -> float:
    raise KeyError(f"no exogenous series named {name!r} in this scenario")


class InProcClient(Client):
    """One agent's connection to a ``Venue``."""

    def __init__(self, venue: Venue, account: int, latency: LatencyModel | None = None,
                 notify: bool = True) -> None:
        self.venue = venue
        self.engine = venue.engine
        self.kernel = venue.kernel
        self.account = account
        self.latency = latency or LatencyModel()
        self.notify = notify
        self.agent: Agent | None = None
        self.open_orders: dict[int, OpenOrder] = {}
        self.last_arrival = 0
        self.last_delivery = 0
        self._wake = self._on_wake  # bound once: scheduled on every wake-up

    def attach(self, agent: Agent) -> None:
        self.agent = agent
        self.notify = bool(getattr(agent, "listens", True))
        self._wake = agent.on_wake  # wake-ups go straight to the agent: one call, not two
        self.venue.connect(self)

    # -- delivery from the venue -------------------------------------------------------------
    def deliver(self, events: list) -> None:
        agent = self.agent
        track = self.track
        for event in events:
            track(event)
            if agent is not None:
                agent.on_event(event)

    def _on_wake(self, token: Any) -> None:
        agent = self.agent
        if agent is not None:
            agent.on_wake(token)

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> int:
        return self.kernel.now

    def wake_at(self, ts: int, token: object = None) -> None:
        self.kernel.schedule(ts, self._wake, token)

    # -- orders --------------------------------------------------------------------------------
    def place(self, instrument: str, side: int, amount: int, price: int | None = None, *,
              type: str = LIMIT, tif: str = GTC, post_only: bool = False,
              label: str | None = None, expire_ts: int | None = None) -> None:
        # the `is int` tests keep the common case at one comparison per field (as_int says why)
        if amount.__class__ is not int:
            amount = as_int(amount, "amount")
        if price is not None and price.__class__ is not int:
            price = as_int(price, "price")
        if expire_ts is not None and expire_ts.__class__ is not int:
            expire_ts = as_int(expire_ts, "expire_ts")
        self.venue.submit(self, PlaceOrder(
            account=self.account, instrument=instrument, side=side, amount=amount, price=price,
            type=type, tif=tif, post_only=post_only, label=label, expire_ts=expire_ts,
        ))

    def cancel(self, order_id: int) -> None:
        self.venue.submit(self, CancelOrder(account=self.account,
                                            order_id=as_int(order_id, "order_id")))

    def cancel_all(self, instrument: str | None = None) -> None:
        self.venue.submit(self, CancelAll(account=self.account, instrument=instrument))

    def amend(self, order_id: int, amount: int | None = None, price: int | None = None) -> None:
        self.venue.submit(self, AmendOrder(
            account=self.account, order_id=as_int(order_id, "order_id"),
            amount=None if amount is None else as_int(amount, "amount"),
            price=None if price is None else as_int(price, "price")))

    # -- market data ---------------------------------------------------------------------------
    def instrument(self, name: str) -> InstrumentSpec:
        return self.engine.registry.by_name[name]

    def best_bid(self, instrument: str) -> int | None:
        return self.engine.books[instrument].bid.best()

    def best_ask(self, instrument: str) -> int | None:
        return self.engine.books[instrument].ask.best()

    def mid(self, instrument: str) -> float | None:
        book = self.engine.books[instrument]
        bid = book.bid.best()
        ask = book.ask.best()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def depth(self, instrument: str, side: int, levels: int) -> list[tuple[int, int]]:
        return self.engine.books[instrument].depth(side, levels)

    def last_price(self, instrument: str) -> int | None:
        return self.engine.last_prices.get(instrument)

    # -- account -------------------------------------------------------------------------------
    def cash(self) -> int:
        acct = self.engine.accounts.get(self.account)
        return acct.cash if acct is not None else 0

    def free_cash(self) -> int:
        acct = self.engine.accounts.get(self.account)
        return acct.cash - acct.reserved if acct is not None else 0

    def holding(self, asset: str) -> int:
        if asset == USD:
            return self.cash()
        acct = self.engine.accounts.get(self.account)
        return acct.assets.get(asset, 0) if acct is not None else 0

    def free_holding(self, asset: str) -> int:
        acct = self.engine.accounts.get(self.account)
        return acct.free_asset(asset) if acct is not None else 0

    def position(self, instrument: str) -> int:
        acct = self.engine.accounts.get(self.account)
        if acct is None:
            return 0
        pos = acct.positions.get(instrument)
        return pos.size if pos is not None else 0

    # -- world ---------------------------------------------------------------------------------
    def series(self, name: str) -> float:
        return self.venue.series(name, self.kernel.now)
