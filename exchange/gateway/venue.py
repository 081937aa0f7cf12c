"""The engine as the gateway sees it: clock injection and the history Deribit clients expect.

The core keeps only live state; clients also ask for closed orders, their own past trades and
recent public trades. :class:`Venue` applies commands at wall-clock time and folds every event
into bounded histories, so memory stays flat however long the exchange runs.

With a journal (:class:`exchange.journal.JournaledEngine`, injected by ``cmx serve --journal``)
every command goes through the journal, and :meth:`Venue.commit` makes what was applied durable;
the gateway holds acknowledgements until then. The histories are not journaled: after a restart
the venue rebuilds the records of the orders still open from the engine (which is what the
journal restores), while closed orders, past trades and trade statistics start empty.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exchange.core import Engine, EngineConfig, InstrumentSpec
from exchange.core.messages import (
    BUY,
    FILLED,
    OPEN,
    Command,
    OrderAccepted,
    OrderUpdated,
    Trade,
)

if TYPE_CHECKING:
    from exchange.journal import JournaledEngine


@dataclass(slots=True)
class OrderRecord:
    """An order's Deribit-visible life: what was asked, what happened."""

    order_id: int
    account: int
    instrument: str
    side: int
    price: int  # ticks (market orders: the protection-band limit)
    amount: int  # lots, filled + remaining
    filled: int
    state: str
    order_type: str
    tif: str
    post_only: bool
    reduce_only: bool
    label: str | None
    created_ms: int
    updated_ms: int
    filled_notional: int = 0  # sum of price*amount of fills, tick-lots
    commission: int = 0  # micro-USD
    cancel_reason: str | None = None
    replaced: bool = False
    liquidation: bool = False


@dataclass(slots=True)
class UserTrade:
    """One side of a trade, as the account that took part sees it."""

    trade: Trade
    trade_seq: int
    account: int
    order_id: int
    side: int
    fee: int
    maker: bool
    tick_direction: int


@dataclass(slots=True)
class PublicTrade:
    trade: Trade
    trade_seq: int
    tick_direction: int


DAY_NS = 24 * 3600 * 1_000_000_000


class Stats:
    """Trade statistics per instrument over a rolling 24 hours, as Deribit's ticker reports
    them. Volume is a running sum and high/low come from monotonic queues, so adding a trade
    and reading the figures are O(1) amortized however many trades the day holds."""

    __slots__ = ("window_ns", "trades", "highs", "lows", "volume", "last", "direction", "seq")

    def __init__(self, window_ns: int = DAY_NS) -> None:
        self.window_ns = window_ns
        self.trades: deque[tuple[int, int, int]] = deque()  # (ts, price, amount)
        self.highs: deque[tuple[int, int]] = deque()  # (ts, price), prices decreasing
        self.lows: deque[tuple[int, int]] = deque()  # (ts, price), prices increasing
        self.volume = 0
        self.last: int | None = None
        self.direction = 0  # Deribit tick_direction of the last trade
        self.seq = 0

    def add(self, ts: int, price: int, amount: int) -> None:
        self.trades.append((ts, price, amount))
        self.volume += amount
        highs, lows = self.highs, self.lows
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts, price))
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts, price))

    def expire(self, now: int) -> None:
        """Forget trades older than the window."""
        cutoff = now - self.window_ns
        trades = self.trades
        while trades and trades[0][0] <= cutoff:
            self.volume -= trades.popleft()[2]
        while self.highs and self.highs[0][0] <= cutoff:
            self.highs.popleft()
        while self.lows and self.lows[0][0] <= cutoff:
            self.lows.popleft()

    @property
    def high(self) -> int | None:
        return self.highs[0][1] if self.highs else None

    @property
    def low(self) -> int | None:
        return self.lows[0][1] if self.lows else None

    @property
    def first(self) -> int | None:
        """Price of the oldest trade still in the window."""
        return self.trades[0][1] if self.trades else None


class Venue:
    def __init__(self, instruments: list[InstrumentSpec] | None = None, *,
                 clock: Callable[[], int] = time.time_ns, trades_history: int = 1000,
                 closed_orders_history: int = 100_000, user_trades_history: int = 10_000,
                 engine_config: EngineConfig | None = None,
                 journal: JournaledEngine | None = None) -> None:
        self.journal = journal
        if journal is not None:
            self.engine = journal.engine
            self._apply: Callable[[Command, int], list] = journal.apply  # type: ignore[assignment]
        else:
            self.engine = Engine(instruments, engine_config)
            self._apply = self.engine.apply
        self.clock = clock
        self.open_records: dict[int, OrderRecord] = {}
        self.closed_records: OrderedDict[int, OrderRecord] = OrderedDict()
        self.closed_limit = closed_orders_history
        self.trades_limit = trades_history
        self.user_trades_limit = user_trades_history
        self.public_trades: dict[str, deque[PublicTrade]] = {}
        self.user_trades: dict[int, deque[UserTrade]] = {}
        self.stats: dict[str, Stats] = {}
        self.cancel_reason_override: str | None = None
        # ``observe(command, events, ts)`` after every applied command: how a process in the
        # server (a live scenario's economy) watches the whole market, as in-process observers
        # watch a simulation's venue
        self.observers: list[Callable[[Command, list, int], None]] = []
        self._restore_open_records()

    @property
    def registry(self):
        return self.engine.registry

    def spec(self, name: str) -> InstrumentSpec | None:
        return self.engine.registry.by_name.get(name)

    def now_ms(self) -> int:
        return self.clock() // 1_000_000

    def apply(self, command: Command) -> list:
        """Apply ``command`` now; fold its events into the histories; return the events."""
        ts = self.clock()
        events = self._apply(command, ts)
        for event in events:
            kind = type(event)
            if kind is OrderUpdated:
                self._order_updated(event)
            elif kind is Trade:
                self._trade(event)
            elif kind is OrderAccepted:
                self._order_accepted(event)
        for observe in self.observers:
            observe(command, events, ts)
        return events

    def uncommitted(self) -> bool:
        """True while a journaled command is not yet durable: nothing it caused may be sent."""
        journal = self.journal
        return journal is not None and journal.writer.undurable

    def journal_seq(self) -> int:
        """Sequence number of the newest journaled command (0 without a journal)."""
        return self.journal.writer.last_seq if self.journal is not None else 0

    def durable_seq(self) -> int:
        """Sequence number up to which the journal is durable under its policy."""
        return self.journal.writer.durable_seq if self.journal is not None else 0

    def commit(self) -> None:
        """Make every command applied so far durable under the journal's fsync policy."""
        if self.journal is not None:
            self.journal.commit()

    def write_journal(self) -> bool:
        """First half of a commit: hand the journaled commands to the OS. True if something
        was written that the policy wants :meth:`sync_journal` to cover before it counts as
        durable."""
        return self.journal is not None and self.journal.writer.write_out()

    def sync_journal(self) -> int:
        """Second half of a commit (blocking; may run in a worker thread while the event loop
        writes the next batch): returns the sequence number now durable."""
        if self.journal is None:
            return 0
        return self.journal.writer.sync()

    def _restore_open_records(self) -> None:
        """Records for the orders a recovered engine holds, so that they can be listed,
        queried, edited and cancelled again. What the engine does not keep (the fill notional
        of a partly filled order, its commission so far, whether it was edited) starts at zero."""
        for acct in self.engine.accounts.values():
            for order_id, order in acct.open_orders.items():
                ms = order.ts // 1_000_000
                self.open_records[order_id] = OrderRecord(
                    order_id, order.account, order.instrument, order.side, order.price,
                    order.filled + order.qty, order.filled, OPEN, "limit", order.tif,
                    order.post_only, order.reduce_only, order.label, ms, ms,
                )

    def order(self, order_id: int) -> OrderRecord | None:
        return self.open_records.get(order_id) or self.closed_records.get(order_id)

    # -- folding -------------------------------------------------------------------------------
    def _order_accepted(self, e: OrderAccepted) -> None:
        ms = e.ts // 1_000_000
        self.open_records[e.order_id] = OrderRecord(
            e.order_id, e.account, e.instrument, e.side, e.price, e.amount, 0, OPEN, e.type,
            e.tif, e.post_only, e.reduce_only, e.label, ms, ms,
        )

    def _order_updated(self, e: OrderUpdated) -> None:
        rec = self.open_records.get(e.order_id)
        if rec is None:
            return
        if rec.state == OPEN and e.status == OPEN and (
            e.price != rec.price or e.filled + e.remaining != rec.amount
        ):
            rec.replaced = True
        rec.state = e.status
        rec.filled = e.filled
        rec.amount = e.filled + e.remaining
        rec.price = e.price
        rec.updated_ms = e.ts // 1_000_000
        if e.status != OPEN:
            if e.status != FILLED:
                rec.cancel_reason = self.cancel_reason_override or e.reason
            del self.open_records[e.order_id]
            closed = self.closed_records
            closed[e.order_id] = rec
            if len(closed) > self.closed_limit:
                closed.popitem(last=False)

    def _trade(self, t: Trade) -> None:
        stats = self.stats.get(t.instrument)
        if stats is None:
            stats = self.stats[t.instrument] = Stats()
        if stats.last is None or t.price == stats.last:
            direction = {0: 1, 1: 1, 2: 3, 3: 3}[stats.direction] if stats.last else 0
        else:
            direction = 0 if t.price > stats.last else 2
        stats.direction = direction
        stats.seq += 1
        stats.add(t.ts, t.price, t.amount)
        stats.last = t.price
        trades = self.public_trades.get(t.instrument)
        if trades is None:
            trades = self.public_trades[t.instrument] = deque(maxlen=self.trades_limit)
        trades.append(PublicTrade(t, stats.seq, direction))
        for account, order_id, side, fee, maker in (
            (t.maker_account, t.maker_order_id, -t.aggressor, t.maker_fee, True),
            (t.taker_account, t.taker_order_id, t.aggressor, t.taker_fee, False),
        ):
            rec = self.open_records.get(order_id)
            if rec is not None:
                rec.filled_notional += t.price * t.amount
                rec.commission += fee
                if t.liquidation and not maker:
                    rec.liquidation = True
            mine = self.user_trades.get(account)
            if mine is None:
                mine = self.user_trades[account] = deque(maxlen=self.user_trades_limit)
            mine.append(UserTrade(t, stats.seq, account, order_id, side, fee, maker, direction))

    # -- queries -------------------------------------------------------------------------------
    def open_orders(self, account: int) -> list[OrderRecord]:
        acct = self.engine.accounts.get(account)
        if acct is None:
            return []
        records = self.open_records
        return [records[oid] for oid in acct.open_orders if oid in records]

    def best(self, name: str, side: int) -> int | None:
        book = self.engine.books[name]
        return book.best_bid() if side == BUY else book.best_ask()
