"""The matching engine: ``Engine.apply(command, ts) -> list[event]``.

Pure, synchronous and deterministic. The engine never reads a clock (``ts`` is injected, in
nanoseconds), never draws a random number and does no I/O, so the simulator, the websocket
gateway and journal replay all drive exactly the same code and the same commands always give
the same bytes out.

Every command produces, as its first event, either an acceptance (``OrderAccepted`` for a new
order, ``Accepted`` otherwise) or a ``Rejected`` with a Deribit code and a precise reason; a
rejected command changes nothing. Time-driven work (GTD expiries, futures settlement) happens
at the start of the first command whose ``ts`` reaches it, before that command.

Accounting is exact integer arithmetic: cash in micro-USD, prices in ticks, amounts in lots.
Fees go to a fee account and liquidation losses to an insurance-fund account, so total USD is
conserved exactly (``check_invariants`` proves it after every command in the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import blake2b
from heapq import heapify, heappop, heappush

import msgspec
from msgspec.structs import astuple

from .accounts import Account, Position
from .book import Book, Order, order_fields
from .codes import Code, Reason
from .index import TwapIndex
from .instruments import FUTURE, SPOT, USD, InstrumentSpec, Registry, default_instruments
from .messages import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    OPEN,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    Accepted,
    AmendOrder,
    BalanceChanged,
    BookDelta,
    Burn,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    InstrumentListed,
    Liquidated,
    ListInstrument,
    MarkUpdated,
    Mint,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    PositionChanged,
    Rejected,
    SetMark,
    Settled,
    Tick,
    Trade,
    Withdraw,
)
from .validate import first_bad_field, rejection_of

_NEVER = 1 << 62
# Tuples, not sets: a membership test compares (identity first, so a valid constant matches at
# once) and never hashes, so an unhashable value in the field is a rejection, not a TypeError.
_STP_MODES = (STP_CANCEL_TAKER, STP_CANCEL_MAKER, STP_CANCEL_BOTH)
_TIMES_IN_FORCE = (GTC, GTD, IOC, FOK)

# Bounds on every integer a command can bring in. They keep all state within 64-bit ranges,
# so snapshots and the journal (msgpack) can always encode it, with room to spare: 10^12 lots
# or ticks is far beyond any real order, and 2^62 micro-USD is $4.6 trillion per balance.
MAX_LOTS = 10**12
MAX_TICKS = 10**12
MAX_ID = (1 << 62) - 1
MAX_BALANCE = 1 << 62


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Engine-wide settings. System accounts are exempt from margin and liquidation."""

    fee_account: int = 0
    insurance_account: int = -1
    max_label_length: int = 64
    #: Emit ``BalanceChanged`` events. The gateway needs them (private portfolio channels); an
    #: in-process simulation has no reader for them and turns them off: they are the most
    #: frequent event (about 2.7 per order placed in a busy market) and change nothing else.
    #: Balances themselves, every other event and the state hash are the same either way.
    balance_events: bool = True


def _fee(notional: int, ppm: int) -> int:
    """Fee on a notional: rounded up when charged, down (in magnitude) when a rebate."""
    if ppm >= 0:
        return -(-notional * ppm // 1_000_000)
    return -(notional * -ppm // 1_000_000)


class Engine:
    def __init__(
        self,
        instruments: Iterable[InstrumentSpec] | None = None,
        config: EngineConfig | None = None,
        book_factory: Callable[[], Book] = Book,
    ) -> None:
        self.config = config or EngineConfig()
        self._balance_events = self.config.balance_events
        self.registry = Registry()
        self._specs = self.registry.by_name  # hot-path alias
        self._open_until: dict[str, int] = {}  # instrument -> first instant it is closed
        self.book_factory = book_factory
        self.books: dict[str, Book] = {}
        self.change_ids: dict[str, int] = {}
        self.accounts: dict[int, Account] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.seq = 0  # commands applied
        self.now = 0
        self.marks: dict[str, int] = {}
        self.last_prices: dict[str, int] = {}
        self.indexes: dict[str, TwapIndex] = {}
        self.settled: dict[str, int] = {}  # future -> settlement price
        self.holders: dict[str, set[int]] = {}  # future -> accounts with a non-zero position
        self.external: dict[str, int] = {USD: 0}  # net units brought in from outside, by asset
        self._gtd_heap: list[tuple[int, int, int]] = []  # (expire_ts, order_id, account)
        self._expiry_heap: list[tuple[int, str]] = []
        self._next_due = _NEVER
        self._touched_balances: dict[tuple[int, str], None] = {}
        self._touched_positions: dict[tuple[int, str], None] = {}
        self._solvency: dict[int, None] = {}  # accounts whose futures cash moved this command
        # Per instrument, what ``_execute`` needs before its first fill, derived once from the
        # (frozen) spec instead of from six attribute reads and tests on every aggressive order.
        self._fill_context: dict[str, tuple] = {}
        self._handlers: dict[type, Callable[[Command, int, list], None]] = {
            PlaceOrder: self._place,
            AmendOrder: self._amend,
            CancelOrder: self._cancel,
            CancelAll: self._cancel_all,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            Mint: self._mint,
            Burn: self._burn,
            SetMark: self._set_mark,
            ListInstrument: self._list_instrument,
            Tick: self._tick,
        }
        for spec in default_instruments() if instruments is None else instruments:
            self._add_instrument(spec)

    # -- public API -----------------------------------------------------------------------------
    def apply(self, command: Command, ts: int) -> list:
        """Apply one command at time ``ts`` (ns); return the events it caused."""
        if ts < self.now:
            ts = self.now  # time never runs backwards inside the engine
        elif ts > MAX_ID:
            # The clock is the host's, not a client's: past 2^62 ns (146 years) it is broken.
            raise ValueError(f"ts {ts} is beyond the engine's clock range")
        self.seq += 1
        self.now = ts
        out: list = []
        if ts >= self._next_due:
            self._process_due(ts, out)
            if self._touched_balances or self._touched_positions:
                self._flush_changes(out)
        handler = self._handlers.get(type(command))
        if handler is None:
            out.append(
                Rejected(type(command).__name__, None, Code.BAD_ARGUMENT, Reason.UNKNOWN_COMMAND)
            )
            return out
        handler(command, ts, out)
        if self._solvency:
            self._check_solvency(ts, out)
        if self._touched_balances or self._touched_positions:
            self._flush_changes(out)
        return out

    def account(self, account_id: int) -> Account:
        """The account (created empty on first use)."""
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = Account(account_id)
        return acct

    @property
    def orders(self) -> dict[int, Order]:
        """Every open order by id (built on demand: the accounts hold the only index, which
        saves a dict entry per resting order and a dict update per order event)."""
        return {oid: o for acct in self.accounts.values() for oid, o in acct.open_orders.items()}

    def mark_price(self, instrument: str) -> int | None:
        """Mark used for margin: the published mark, else the last trade."""
        mark = self.marks.get(instrument)
        return mark if mark is not None else self.last_prices.get(instrument)

    def equity(self, acct: Account) -> int:
        """Cash plus unrealized futures P&L at mark, micro-USD."""
        equity = acct.cash
        for name, pos in acct.positions.items():
            if pos.size:
                mark = self.mark_price(name)
                if mark is not None:
                    equity += pos.unrealized_ticks(mark) * self.registry.by_name[name].tick_value
        return equity

    def margin_requirements(self, acct: Account) -> tuple[int, int]:
        """(initial, maintenance) margin of the account's futures positions, micro-USD."""
        initial = maintenance = 0
        for name, pos in acct.positions.items():
            if pos.size:
                spec = self.registry.by_name[name]
                mark = self.mark_price(name)
                notional = abs(pos.size * mark if mark is not None else pos.cost) * spec.tick_value
                initial += -(-notional * spec.initial_margin_bps // 10_000)
                maintenance += -(-notional * spec.maintenance_margin_bps // 10_000)
        return initial, maintenance

    def available_margin(self, acct: Account) -> int:
        """What a new futures order may still reserve: equity minus the initial margin of
        positions minus what open orders hold. One pass over the positions (this runs on
        every futures order), same arithmetic as ``equity`` and ``margin_requirements``."""
        available = acct.cash - acct.reserved
        specs = self._specs
        for name, pos in acct.positions.items():
            size = pos.size
            if size:
                spec = specs[name]
                mark = self.marks.get(name)
                if mark is None:
                    mark = self.last_prices.get(name)
                if mark is None:
                    notional = abs(pos.cost) * spec.tick_value
                else:
                    available += (size * mark - pos.cost) * spec.tick_value
                    notional = abs(size * mark) * spec.tick_value
                available -= -(-notional * spec.initial_margin_bps // 10_000)
        return available

    def state_hash(self) -> str:
        """Digest of the market state: equal hashes mean engines that behave identically from
        here on. The command counter is left out, so a rejected command (which changes
        nothing) leaves the hash unchanged."""
        state = self.snapshot()
        del state["seq"]
        return blake2b(msgspec.msgpack.encode(state), digest_size=16).hexdigest()

    def snapshot(self) -> dict:
        """The whole state as plain, canonically ordered data."""
        books = {}
        for name in sorted(self.books):
            book = self.books[name]
            books[name] = [
                [
                    [p, total, [order_fields(o) for o in queue]]
                    for p, total, queue in book.levels(side)
                ]
                for side in (BUY, SELL)
            ]
        accounts = []
        for aid in sorted(self.accounts):
            a = self.accounts[aid]
            accounts.append(
                [
                    aid,
                    a.cash,
                    a.reserved,
                    sorted(a.assets.items()),
                    sorted(a.asset_reserved.items()),
                    sorted((n, p.size, p.cost, p.realized) for n, p in a.positions.items()),
                    list(a.open_orders),
                    sorted(a.labels.items()),
                ]
            )
        return {
            "seq": self.seq,
            "now": self.now,
            "next_order_id": self.next_order_id,
            "next_trade_id": self.next_trade_id,
            "instruments": [msgspec.structs.asdict(s) for s in self.registry],
            "change_ids": sorted(self.change_ids.items()),
            "marks": sorted(self.marks.items()),
            "last_prices": sorted(self.last_prices.items()),
            "indexes": sorted((n, i.times, i.prices, i.horizon) for n, i in self.indexes.items()),
            "settled": sorted(self.settled.items()),
            "external": sorted(self.external.items()),
            "gtd": sorted(self._gtd_heap),
            "books": books,
            "accounts": accounts,
        }

    @classmethod
    def from_snapshot(
        cls,
        state: dict,
        config: EngineConfig | None = None,
        book_factory: Callable[[], Book] = Book,
    ) -> Engine:
        """Rebuild an engine from ``snapshot()`` output (possibly after a msgpack round trip).

        The rebuilt engine has the same ``state_hash()`` and produces the same events for the
        same commands as the one that was snapshotted: queues are re-filled in priority order
        and every counter (order ids, trade ids, change ids) continues where it stopped.
        """
        specs = [msgspec.convert(spec, InstrumentSpec) for spec in state["instruments"]]
        engine = cls(specs, config, book_factory)
        engine.seq = state["seq"]
        engine.now = state["now"]
        engine.next_order_id = state["next_order_id"]
        engine.next_trade_id = state["next_trade_id"]
        engine.change_ids = dict(state["change_ids"])
        engine.marks = dict(state["marks"])
        engine.last_prices = dict(state["last_prices"])
        for name, times, prices, horizon in state["indexes"]:
            index = engine.indexes.setdefault(name, TwapIndex())
            index.times, index.prices, index.horizon = list(times), list(prices), horizon
        engine._refresh_fill_contexts()
        engine.settled = dict(state["settled"])
        for name in engine.settled:
            engine._open_until[name] = -1
        engine._expiry_heap = [
            (exp, name) for exp, name in engine._expiry_heap if name not in engine.settled
        ]
        heapify(engine._expiry_heap)
        engine.external = dict(state["external"])
        engine._gtd_heap = [tuple(item) for item in state["gtd"]]  # type: ignore[misc]
        heapify(engine._gtd_heap)
        restored: dict[int, Order] = {}
        for name, sides in state["books"].items():
            book = engine.books[name]
            for levels in sides:
                for _price, _total, queue in levels:
                    for fields in queue:
                        order = Order(*fields)
                        book.add(order)
                        restored[order.id] = order
        for row in state["accounts"]:
            account_id, cash, reserved, assets, asset_reserved, positions, open_ids, labels = row
            acct = engine.account(account_id)
            acct.cash, acct.reserved = cash, reserved
            acct.assets = dict(assets)
            acct.asset_reserved = dict(asset_reserved)
            for name, size, cost, realized in positions:
                pos = acct.positions[name] = Position()
                pos.size, pos.cost, pos.realized = size, cost, realized
                if size:
                    engine.holders[name].add(account_id)
            acct.open_orders = {order_id: restored[order_id] for order_id in open_ids}
            acct.reduce_only_orders = sum(1 for o in acct.open_orders.values() if o.reduce_only)
            acct.labels = dict(labels)
        engine._refresh_due()
        return engine

    def check_invariants(self) -> None:
        """Raise AssertionError if any invariant of the design is violated."""
        from .invariants import check

        check(self)

    # -- instruments and time -------------------------------------------------------------------
    def _add_instrument(self, spec: InstrumentSpec) -> None:
        self.registry.add(spec)
        self.books[spec.name] = self.book_factory()
        self.change_ids[spec.name] = 0
        self._open_until[spec.name] = _NEVER if spec.expiry_ts is None else spec.expiry_ts
        self.external.setdefault(spec.base if spec.kind == SPOT else USD, 0)
        if spec.kind == FUTURE:
            self.holders[spec.name] = set()
            heappush(self._expiry_heap, (spec.expiry_ts, spec.name))
            if spec.index is not None:
                self.indexes.setdefault(spec.index, TwapIndex())
            self._update_index_horizons()
            self._refresh_due()
        self._refresh_fill_contexts()  # a new future may have added a spot's index

    def _refresh_fill_contexts(self) -> None:
        for spec in self.registry.by_name.values():
            self._fill_context[spec.name] = self._fill_context_of(spec)

    def _fill_context_of(self, spec: InstrumentSpec) -> tuple:
        maker_ppm, taker_ppm = spec.maker_fee_ppm, spec.taker_fee_ppm
        is_future = spec.kind == FUTURE
        return (
            spec.tick_value, maker_ppm, taker_ppm, is_future, spec.base,
            # Spot holds are linear in the amount unless a fee reserve rounds them.
            not is_future and maker_ppm <= 0 and taker_ppm <= 0,
            bool(maker_ppm or taker_ppm),
            self.indexes.get(spec.name),
        )

    def _update_index_horizons(self) -> None:
        horizons: dict[str, int] = {}
        for expiry, name in self._expiry_heap:
            spec = self.registry.by_name[name]
            if spec.index is not None:
                start = expiry - spec.settlement_window_ns
                horizons[spec.index] = min(horizons.get(spec.index, start), start)
        for index_name, index in self.indexes.items():
            index.advance_horizon(horizons.get(index_name, self.now))

    def _refresh_due(self) -> None:
        due = _NEVER
        if self._gtd_heap:
            due = self._gtd_heap[0][0]
        if self._expiry_heap and self._expiry_heap[0][0] < due:
            due = self._expiry_heap[0][0]
        self._next_due = due

    def _process_due(self, ts: int, out: list) -> None:
        # Settle expired futures and expire GTD orders in time order, as if each had happened
        # at its own instant.
        while True:
            gtd = self._gtd_heap[0][0] if self._gtd_heap else _NEVER
            exp = self._expiry_heap[0][0] if self._expiry_heap else _NEVER
            if min(gtd, exp) > ts:
                break
            if exp <= gtd:
                expiry, name = heappop(self._expiry_heap)
                self._settle(name, expiry, out)
            else:
                expire_ts, order_id, account_id = heappop(self._gtd_heap)
                order = self.accounts[account_id].open_orders.get(order_id)
                if order is not None and order.expire_ts == expire_ts:
                    self._cancel_resting(order, Reason.GTD_EXPIRED, expire_ts, out)
        self._refresh_due()

    def _settle(self, name: str, expiry: int, out: list) -> None:
        spec = self.registry.by_name[name]
        price = None
        if spec.index is not None and spec.index in self.indexes:
            price = self.indexes[spec.index].twap(expiry - spec.settlement_window_ns, expiry)
        if price is None:
            price = self.mark_price(name) or 0
        # By id, not dict order, so a restored engine (whose index is rebuilt in book order)
        # settles identically.
        victims = sorted(
            (o.id, o) for acct in self.accounts.values() for o in acct.open_orders.values()
            if o.instrument == name
        )
        for _, order in victims:
            self._cancel_resting(order, Reason.INSTRUMENT_EXPIRED, expiry, out)
        tick_value = spec.tick_value
        for account_id in sorted(self.holders[name]):
            acct = self.accounts[account_id]
            pos = acct.positions[name]
            pnl = pos.unrealized_ticks(price) * tick_value
            acct.cash += pnl
            pos.realized += pnl
            pos.size = 0
            pos.cost = 0
            self._touched_balances[(account_id, USD)] = None
            self._touched_positions[(account_id, name)] = None
            self._solvency[account_id] = None
        self.holders[name].clear()
        self.settled[name] = price
        self._open_until[name] = -1
        self.marks[name] = price
        out.append(Settled(name, price, expiry))
        self._update_index_horizons()
        self._check_solvency(expiry, out)
        self._flush_changes(out)

    # -- helpers --------------------------------------------------------------------------------
    def _reject(
        self, out: list, command: str, account: int | None, code: int, reason: str, **extra
    ) -> None:
        if type(extra.get("label")) not in (str, type(None)):
            extra["label"] = None  # a malformed label is never echoed into an event
        out.append(Rejected(command, account, code, reason, **extra))

    def _reject_field(self, out: list, c: Command, field: str | None = None) -> None:
        """Reject ``c`` for a field of the wrong type (``field``, or the first one found),
        echoing only the identifiers that are themselves well typed."""
        if field is None:
            field = first_bad_field(c) or "command"
        code, reason = rejection_of(field)
        account = getattr(c, "account", None)
        order_id = getattr(c, "order_id", None)
        label = getattr(c, "label", None)
        out.append(Rejected(type(c).__name__, account if type(account) is int else None, code,
                            reason, order_id if type(order_id) is int else None,
                            label if type(label) is str else None))

    def _delta(self, out: list, name: str, side: int, price: int, total: int) -> None:
        change_id = self.change_ids[name] + 1
        self.change_ids[name] = change_id
        out.append(BookDelta(name, change_id, side, price, total))

    @staticmethod
    def _reservation(spec: InstrumentSpec, side: int, price: int, qty: int,
                     reduce_only: bool) -> int:
        """What an open order of ``qty`` holds back: cash for spot buys (notional plus the
        worst-case fee), lots of the asset for spot sells, initial margin for futures."""
        if spec.kind == FUTURE:
            if reduce_only:
                return 0
            return -(-qty * price * spec.tick_value * spec.initial_margin_bps // 10_000)
        if side == BUY:
            notional = qty * price * spec.tick_value
            maker, taker = spec.maker_fee_ppm, spec.taker_fee_ppm
            ppm = maker if maker > taker else taker
            if ppm > 0:
                return notional - (-notional * ppm // 1_000_000)
            return notional
        return qty

    def _hold(self, acct: Account, spec: InstrumentSpec, side: int, amount: int) -> None:
        """Add ``amount`` (may be negative) to the reservation an order of this kind uses."""
        if spec.kind == SPOT and side == SELL:
            base = spec.base
            acct.asset_reserved[base] = acct.asset_reserved.get(base, 0) + amount
            self._touched_balances[(acct.id, base)] = None
        else:
            acct.reserved += amount
            self._touched_balances[(acct.id, USD)] = None

    def _release_hold(self, acct: Account, spec: InstrumentSpec, order: Order, qty: int) -> None:
        """Give back what ``qty`` of the order was holding (the order is leaving the book)."""
        held = self._reservation(spec, order.side, order.price, qty, order.reduce_only)
        if held:
            self._hold(acct, spec, order.side, -held)

    def _forget(self, acct: Account, order: Order) -> None:
        """Drop a no-longer-open order from the indexes."""
        del acct.open_orders[order.id]
        if order.label is not None and acct.labels.get(order.label) == order.id:
            del acct.labels[order.label]
        if order.reduce_only:
            acct.reduce_only_orders -= 1

    def _cancel_resting(self, order: Order, reason: str, ts: int, out: list,
                        alone: bool = False) -> None:
        """Take a resting order off the book, free what it held and report it.

        ``alone`` says the command cancels just this one order: if nothing else has moved yet,
        its balance is reported right here instead of through ``_touched_balances`` (same
        events, same order; a plain cancel is ~10% of all traffic).
        """
        name = order.instrument
        account_id = order.account
        order_id = order.id
        acct = self.accounts[account_id]
        remaining = order.qty
        side = order.side
        price = order.price
        total = self.books[name].cancel(order)
        tick_value, _, _, is_future, base, linear_spot, _, _ = self._fill_context[name]
        if is_future:
            balance = USD
            reserved = self._reservation(self._specs[name], side, price, remaining,
                                         order.reduce_only)
        elif side == SELL:
            balance = base
            reserved = remaining  # a spot sell holds its lots, fees or not
        else:
            balance = USD
            reserved = remaining * price * tick_value if linear_spot else self._reservation(
                self._specs[name], side, price, remaining, False)
        report_now = False
        if reserved:
            if balance == USD:
                acct.reserved -= reserved
            else:
                acct.asset_reserved[balance] -= reserved
            if alone and not self._touched_balances:
                report_now = self._balance_events
            else:
                self._touched_balances[(account_id, balance)] = None
        del acct.open_orders[order_id]
        label = order.label
        if label is not None and acct.labels.get(label) == order_id:
            del acct.labels[label]
        if order.reduce_only:
            acct.reduce_only_orders -= 1
        out.append(OrderUpdated(order_id, account_id, name, CANCELLED, order.filled, remaining,
                                price, reason, ts))
        change_ids = self.change_ids
        change_id = change_ids[name] + 1
        change_ids[name] = change_id
        out.append(BookDelta(name, change_id, side, price, total))
        if report_now:
            if balance == USD:
                out.append(BalanceChanged(account_id, USD, acct.cash, acct.reserved))
            else:
                out.append(BalanceChanged(account_id, balance, acct.assets.get(balance, 0),
                                          acct.asset_reserved[balance]))

    def _flush_changes(self, out: list) -> None:
        accounts = self.accounts
        if not self._balance_events:
            self._touched_balances.clear()
        for account_id, asset in self._touched_balances:
            acct = accounts[account_id]
            if asset == USD:
                out.append(BalanceChanged(account_id, USD, acct.cash, acct.reserved))
            else:
                out.append(
                    BalanceChanged(account_id, asset, acct.assets.get(asset, 0),
                                   acct.asset_reserved.get(asset, 0))
                )
        self._touched_balances.clear()
        for account_id, name in self._touched_positions:
            pos = accounts[account_id].positions[name]
            out.append(PositionChanged(account_id, name, pos.size, pos.cost, pos.realized))
        self._touched_positions.clear()

    # -- orders ---------------------------------------------------------------------------------
    def _place(self, c: PlaceOrder, ts: int, out: list) -> None:
        # Every field in one C call: compiled, thirteen generic attribute reads cost about 150
        # instructions each, and this saved 6% of the core benchmark's instructions per
        # operation (docs/performance.md). A field added to PlaceOrder fails this line loudly.
        (account_id, instrument, side, amount, price, order_type, tif, post_only,
         reject_post_only, reduce_only, label, expire_field, stp) = astuple(c)
        # Exact types of the fields every order uses (validate.py says why); the side by
        # identity below, the others where they are used. An unhashable instrument fails the
        # lookup.
        if type(account_id) is not int or type(amount) is not int:
            return self._reject_field(out, c)
        try:
            spec = self._specs.get(instrument)
        except TypeError:
            return self._reject_field(out, c, "instrument")
        cmd = "PlaceOrder"
        if spec is None:
            return self._reject(out, cmd, account_id, Code.INVALID_OR_UNSUPPORTED_INSTRUMENT,
                                Reason.UNKNOWN_INSTRUMENT, label=label)
        name = spec.name
        if ts >= self._open_until[name]:
            return self._reject(out, cmd, account_id, Code.ORDERBOOK_CLOSED,
                                Reason.INSTRUMENT_EXPIRED, label=label)
        # Identity, not equality: 1.0 and True equal BUY but are not a side. CPython keeps one
        # object per small int, and every int 1 or -1 (decoded, computed or literal) is it.
        if side is not BUY and side is not SELL:
            return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT, Reason.INVALID_SIDE,
                                label=label)
        if amount <= 0:
            return self._reject(out, cmd, account_id, Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT,
                                label=label)
        if amount > MAX_LOTS:
            return self._reject(out, cmd, account_id, Code.INVALID_AMOUNT,
                                Reason.AMOUNT_TOO_LARGE, label=label)
        if amount < spec.min_amount:
            return self._reject(out, cmd, account_id, Code.QTY_TOO_LOW, Reason.BELOW_MIN_AMOUNT,
                                label=label)
        if order_type == LIMIT:
            if type(price) is not int:
                if price is not None:
                    return self._reject_field(out, c, "price")
                return self._reject(out, cmd, account_id, Code.INVALID_PRICE,
                                    Reason.MISSING_PRICE, label=label)
            if price <= 0:
                return self._reject(out, cmd, account_id, Code.INVALID_PRICE,
                                    Reason.INVALID_PRICE, label=label)
            if price > MAX_TICKS:
                return self._reject(out, cmd, account_id, Code.PRICE_TOO_HIGH,
                                    Reason.PRICE_TOO_HIGH, label=label)
        elif order_type != MARKET:
            return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                Reason.INVALID_ORDER_TYPE, label=label)
        if stp not in _STP_MODES:
            return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT, Reason.INVALID_STP_MODE,
                                label=label)
        acct = self.accounts.get(account_id)
        if acct is None:
            # No account means no funds; reject without creating one (a rejected command
            # changes nothing).
            return self._reject(out, cmd, account_id, Code.NOT_ENOUGH_FUNDS,
                                Reason.NOT_ENOUGH_FUNDS, label=label)
        is_market = order_type == MARKET
        # Filled or cancelled on arrival, never resting; settled below for non-GTC orders.
        immediate = is_market
        expire_ts = None
        # Options most orders do not use are checked together, so a plain GTC limit order
        # pays for one test instead of six.
        if (tif != GTC or label is not None or reduce_only is not False
                or post_only is not False):
            if (type(post_only) is not bool or type(reduce_only) is not bool
                    or type(reject_post_only) is not bool):
                return self._reject_field(out, c)
            if tif not in _TIMES_IN_FORCE:
                return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                    Reason.INVALID_TIME_IN_FORCE, label=label)
            if tif == GTD:
                expire_ts = expire_field
                if type(expire_ts) is not int or not ts < expire_ts <= MAX_ID:
                    return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                        Reason.INVALID_EXPIRY, label=label)
            elif tif == IOC or tif == FOK:
                immediate = True
            if post_only and immediate:
                return self._reject(out, cmd, account_id, Code.UNSUPPORTED_ARG_COMBINATION,
                                    Reason.POST_ONLY_NOT_LIMIT, label=label)
            if label is not None:
                if type(label) is not str or not label or len(
                        label) > self.config.max_label_length:
                    return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                        Reason.INVALID_LABEL, label=label)
                if label in acct.labels:
                    return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                        Reason.DUPLICATE_LABEL, label=label)
            if reduce_only:
                if spec.kind != FUTURE:
                    return self._reject(out, cmd, account_id, Code.INVALID_ARGS_FOR_INSTRUMENT,
                                        Reason.REDUCE_ONLY_SPOT, label=label)
                room = self._reduce_only_room(acct, name, side)
                if room <= 0:
                    return self._reject(out, cmd, account_id, Code.BAD_ARGUMENT,
                                        Reason.REDUCE_ONLY_NO_POSITION, label=label)
                if amount > room:
                    amount = room  # Deribit caps a reduce-only order at what it can reduce
        book = self.books[name]
        if is_market or post_only:
            best_opposite = book.best_ask() if side == BUY else book.best_bid()
            if is_market:
                if best_opposite is None:
                    return self._reject(out, cmd, account_id, Code.OTHER_REJECT,
                                        Reason.NO_LIQUIDITY, label=label)
                band = best_opposite * spec.price_band_bps // 10_000
                price = best_opposite + band if side == BUY else max(1, best_opposite - band)
            elif best_opposite is not None and (
                price >= best_opposite if side == BUY else price <= best_opposite
            ):
                if reject_post_only:
                    return self._reject(out, cmd, account_id, Code.POST_ONLY_REJECT,
                                        Reason.POST_ONLY_WOULD_CROSS, label=label)
                price = best_opposite - 1 if side == BUY else best_opposite + 1
                if price <= 0:
                    return self._reject(out, cmd, account_id, Code.POST_ONLY_REJECT,
                                        Reason.POST_ONLY_WOULD_CROSS, label=label)
        is_future = spec.kind == FUTURE
        # What the order holds back, and whether the account can afford it.
        if is_future:
            reserve_asset = USD
            reserve = 0 if reduce_only else -(
                -amount * price * spec.tick_value * spec.initial_margin_bps // 10_000
            )
            if reserve and self.available_margin(acct) < reserve:
                return self._reject(out, cmd, account_id, Code.NOT_ENOUGH_FUNDS,
                                    Reason.NOT_ENOUGH_MARGIN, label=label)
        elif side == BUY:
            reserve_asset = USD
            reserve = amount * price * spec.tick_value
            if spec.maker_fee_ppm > 0 or spec.taker_fee_ppm > 0:
                reserve = self._reservation(spec, side, price, amount, False)
            if acct.cash - acct.reserved < reserve or (
                acct.positions and reserve > self.available_margin(acct)
            ):
                return self._reject(out, cmd, account_id, Code.NOT_ENOUGH_FUNDS,
                                    Reason.NOT_ENOUGH_FUNDS, label=label)
        else:
            reserve_asset = spec.base
            reserve = amount
            if acct.assets.get(reserve_asset, 0) - acct.asset_reserved.get(reserve_asset, 0) \
                    < reserve:
                return self._reject(out, cmd, account_id, Code.NOT_ENOUGH_FUNDS,
                                    Reason.NOT_ENOUGH_ASSET, label=label)

        if type(stp) is not str or type(tif) is not str:
            # A str subclass equal to a valid value (an enum member, say): orders keep the
            # constant itself, so every order holds exact strings.
            stp = _STP_MODES[_STP_MODES.index(stp)]
            tif = _TIMES_IN_FORCE[_TIMES_IN_FORCE.index(tif)]
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(order_id, account_id, side, price, amount, 0, ts, label, reduce_only,
                      name, tif, expire_ts, post_only, stp)
        out.append(
            OrderAccepted(order_id, account_id, name, side, amount, price, order_type, tif,
                          post_only, reduce_only, label, ts)
        )
        if immediate and tif == FOK and book.fillable(side, price, amount, account_id,
                                                      stp) < amount:
            out.append(OrderUpdated(order_id, account_id, name, CANCELLED, 0, amount, price,
                                    Reason.FOK_NOT_FILLED, ts))
            return None
        if reserve:
            if reserve_asset == USD:
                acct.reserved += reserve
            else:
                acct.asset_reserved[reserve_asset] = (
                    acct.asset_reserved.get(reserve_asset, 0) + reserve
                )
        if book.may_cross(side, price):
            # ``_take`` inlined: a third of the standard stream's time is aggressive orders.
            fills, self_cancelled, stopped = book.match(side, price, amount, account_id, stp)
            if self_cancelled:
                self._cancel_self_trades(spec, book, acct, self_cancelled, ts, out)
            if fills:
                self._execute(spec, book, order, acct, fills, ts, out, False)
            if not order.qty:  # filled on arrival: the common end of an aggressive order
                out.append(OrderUpdated(order_id, account_id, name, FILLED, order.filled, 0,
                                        price, None, ts))
            else:
                self._finish_taker(spec, book, acct, order, order_type, tif, stopped, ts, out)
        elif immediate:
            self._finish_taker(spec, book, acct, order, order_type, tif, False, ts, out)
        else:
            # Rest a passive order: the path of most orders, inlined from ``_finish_taker``.
            total = book.add(order)
            acct.open_orders[order_id] = order
            if label is not None:
                acct.labels[label] = order_id
            if reduce_only:
                acct.reduce_only_orders += 1
            if expire_ts is not None:
                heappush(self._gtd_heap, (expire_ts, order_id, account_id))
                if expire_ts < self._next_due:
                    self._next_due = expire_ts
            change_ids = self.change_ids
            change_id = change_ids[name] + 1
            change_ids[name] = change_id
            out.append(BookDelta(name, change_id, side, order.price, total))
        if reserve:
            touched = self._touched_balances
            if touched:
                touched[(account_id, reserve_asset)] = None
            elif not self._balance_events:
                pass
            elif reserve_asset == USD:
                # Fast path: nothing else moved, report the one balance directly.
                out.append(BalanceChanged(account_id, USD, acct.cash, acct.reserved))
            else:
                out.append(BalanceChanged(account_id, reserve_asset, acct.assets[reserve_asset],
                                          acct.asset_reserved[reserve_asset]))
        return None

    def _take(self, spec: InstrumentSpec, book: Book, acct: Account, order: Order, stp: str,
              ts: int, out: list, liquidation: bool = False) -> bool:
        """Match ``order`` against the book; returns True if self-trade prevention stopped it."""
        fills, self_cancelled, stopped = book.match(order.side, order.price, order.qty,
                                                    order.account, stp)
        if self_cancelled:
            self._cancel_self_trades(spec, book, acct, self_cancelled, ts, out)
        if fills:
            self._execute(spec, book, order, acct, fills, ts, out, liquidation)
        return stopped

    def _cancel_self_trades(self, spec: InstrumentSpec, book: Book, acct: Account,
                            makers: list[Order], ts: int, out: list) -> None:
        """Report and unwind the taker's own resting orders that self-trade prevention took
        out of the book (they keep their open ``qty`` until here so it can be reported)."""
        name = spec.name
        for maker in makers:
            remaining = maker.qty
            self._release_hold(acct, spec, maker, remaining)
            maker.qty = 0
            self._forget(acct, maker)
            out.append(OrderUpdated(maker.id, maker.account, name, CANCELLED, maker.filled,
                                    remaining, maker.price, Reason.SELF_TRADE, ts))
            self._delta(out, name, maker.side, maker.price, book.level_total(maker.side,
                                                                             maker.price))

    def _finish_taker(self, spec: InstrumentSpec, book: Book, acct: Account, order: Order,
                      order_type: str, tif: str, stopped: bool, ts: int, out: list,
                      report_open: bool = False) -> None:
        """After matching: rest the remainder, or cancel it, and report the taker's state."""
        remaining = order.qty
        name = spec.name
        if not remaining:
            out.append(OrderUpdated(order.id, order.account, name, FILLED, order.filled, 0,
                                    order.price, None, ts))
            return
        if stopped or order_type == MARKET or tif == IOC or tif == FOK:
            if stopped:
                reason = Reason.SELF_TRADE
            elif order_type == MARKET:
                reason = Reason.MARKET_REMAINDER
            else:
                reason = Reason.IOC_REMAINDER
            self._release_hold(acct, spec, order, remaining)
            order.qty = 0
            out.append(OrderUpdated(order.id, order.account, name, CANCELLED, order.filled,
                                    remaining, order.price, reason, ts))
            return
        total = book.add(order)
        order_id = order.id
        acct.open_orders[order_id] = order
        if order.label is not None:
            acct.labels[order.label] = order_id
        if order.reduce_only:
            acct.reduce_only_orders += 1
        expire_ts = order.expire_ts
        if expire_ts is not None:
            heappush(self._gtd_heap, (expire_ts, order_id, order.account))
            if expire_ts < self._next_due:
                self._next_due = expire_ts
        if order.filled or report_open:
            out.append(OrderUpdated(order_id, order.account, name, OPEN, order.filled, remaining,
                                    order.price, None, ts))
        change_ids = self.change_ids
        change_id = change_ids[name] + 1
        change_ids[name] = change_id
        out.append(BookDelta(name, change_id, order.side, order.price, total))

    def _execute(self, spec: InstrumentSpec, book: Book, taker: Order, taker_acct: Account,
                 fills: list, ts: int, out: list, liquidation: bool) -> None:
        """Book the fills of one taker: trades, accounts, maker updates, level deltas.

        This is the hottest code after the book itself, so the per-fill accounting is inlined
        and the taker's reservation is settled once, after all its fills.
        """
        name = spec.name
        (tick_value, maker_ppm, taker_ppm, is_future, base, linear_spot, charge_fees,
         index) = self._fill_context[name]
        accounts = self.accounts
        touched = self._touched_balances
        reservation = self._reservation
        fee_acct = self.account(self.config.fee_account) if charge_fees else None
        taker_side = taker.side
        taker_id = taker.id
        taker_account = taker.account
        taker_assets = taker_acct.assets
        changed_levels: list[int] = []
        price = total_qty = fees = maker_fee = taker_fee = 0
        trade_id = self.next_trade_id
        for maker, qty in fills:
            price = maker.price
            notional = price * qty * tick_value
            if charge_fees:
                maker_fee = _fee(notional, maker_ppm) if maker_ppm else 0
                taker_fee = _fee(notional, taker_ppm) if taker_ppm else 0
                fees += maker_fee + taker_fee
            maker_account = maker.account
            maker_acct = accounts[maker_account]
            maker_id = maker.id
            out.append(Trade(trade_id, name, price, qty, taker_side, maker_id, taker_id,
                             maker_account, taker_account, maker_fee, taker_fee, ts, liquidation))
            trade_id += 1
            total_qty += qty
            if linear_spot:
                # A spot maker's hold is linear in its amount: the filled part frees exactly
                # the lots sold or the notional at its own price.
                freed = qty if taker_side == BUY else notional
            else:
                maker_left = maker.qty
                freed = reservation(spec, maker.side, price, maker_left + qty,
                                    maker.reduce_only) - (
                    reservation(spec, maker.side, price, maker_left, maker.reduce_only)
                )
            if is_future:
                maker_acct.reserved -= freed
                self._move_position(spec, maker_acct, -taker_side * qty, price)
                self._move_position(spec, taker_acct, taker_side * qty, price)
                maker_acct.cash -= maker_fee
                taker_acct.cash -= taker_fee
                touched[(maker_account, USD)] = None
            else:
                if taker_side == BUY:  # the maker sells
                    maker_acct.asset_reserved[base] -= freed
                    maker_acct.cash += notional - maker_fee
                    maker_acct.assets[base] -= qty
                    taker_acct.cash -= notional + taker_fee
                    taker_assets[base] = taker_assets.get(base, 0) + qty
                else:  # the maker buys
                    maker_acct.reserved -= freed
                    maker_acct.cash -= notional + maker_fee
                    maker_assets = maker_acct.assets
                    maker_assets[base] = maker_assets.get(base, 0) + qty
                    taker_acct.cash += notional - taker_fee
                    taker_assets[base] -= qty
                touched[(maker_account, USD)] = None
                touched[(maker_account, base)] = None
            left = maker.qty
            if left:
                out.append(OrderUpdated(maker_id, maker_account, name, OPEN, maker.filled, left,
                                        price, None, ts))
            else:
                del maker_acct.open_orders[maker_id]
                label = maker.label
                if label is not None and maker_acct.labels.get(label) == maker_id:
                    del maker_acct.labels[label]
                if maker.reduce_only:
                    maker_acct.reduce_only_orders -= 1
                out.append(OrderUpdated(maker_id, maker_account, name, FILLED, maker.filled, 0,
                                        price, None, ts))
            if not changed_levels or changed_levels[-1] != price:
                changed_levels.append(price)
        self.next_trade_id = trade_id
        if linear_spot:
            freed = total_qty * taker.price * tick_value if taker_side == BUY else total_qty
        else:
            freed = reservation(spec, taker_side, taker.price, taker.qty, taker.reduce_only) - (
                reservation(spec, taker_side, taker.price, taker.qty - total_qty,
                            taker.reduce_only)
            )
        taker.qty -= total_qty
        taker.filled += total_qty
        if freed:
            if is_future or taker_side == BUY:
                taker_acct.reserved -= freed
            else:
                taker_acct.asset_reserved[base] -= freed
        touched[(taker_account, USD)] = None
        if not is_future:
            touched[(taker_account, base)] = None
        if fee_acct is not None:
            fee_acct.cash += fees
            touched[(fee_acct.id, USD)] = None
        self.last_prices[name] = price
        if index is not None:
            index.observe(ts, price)
        maker_side = -taker_side
        change_ids = self.change_ids
        change_id = change_ids[name]
        for level_price in changed_levels:
            change_id += 1
            out.append(BookDelta(name, change_id, maker_side, level_price,
                                 book.level_total(maker_side, level_price)))
        change_ids[name] = change_id
        if is_future:
            solvency = self._solvency
            solvency[taker_account] = None
            self._trim_reduce_only(spec, taker_acct, ts, out)
            for maker, _ in fills:
                solvency[maker.account] = None
                maker_acct = accounts[maker.account]
                if maker_acct is not taker_acct:
                    self._trim_reduce_only(spec, maker_acct, ts, out)

    def _move_position(self, spec: InstrumentSpec, acct: Account, delta: int, price: int) -> None:
        """Apply a signed position change at ``price``, realizing P&L on the closed part.

        With k lots closed out of a position of size s and cost c, the realized amount is
        X = sign(s)*k*price - floor(k*c/|s|); it moves from unrealized to cash by adding X to
        the cost, so equity is unchanged to the micro-dollar and the closed part's cost basis
        leaves the position exactly (a fully closed position always ends with cost 0).
        """
        name = spec.name
        pos = acct.positions.get(name)
        if pos is None:
            pos = acct.positions[name] = Position()
        size = pos.size
        cost = pos.cost + delta * price
        if size and (size > 0) != (delta > 0):
            abs_size = size if size > 0 else -size
            closed = min(abs_size, delta if delta > 0 else -delta)
            sign = 1 if size > 0 else -1
            realized = sign * closed * price - (closed * pos.cost) // abs_size
            cost += realized
            cash = realized * spec.tick_value
            acct.cash += cash
            pos.realized += cash
        pos.size = size + delta
        pos.cost = cost
        holders = self.holders[name]
        if pos.size:
            holders.add(acct.id)
        else:
            holders.discard(acct.id)
        self._touched_positions[(acct.id, name)] = None

    def _reduce_only_room(self, acct: Account, name: str, side: int) -> int:
        """Lots a new reduce-only order on ``side`` may still take off the position."""
        pos = acct.positions.get(name)
        size = pos.size if pos is not None else 0
        if size == 0 or (size > 0) == (side == BUY):
            return 0
        committed = sum(
            o.qty for o in acct.open_orders.values()
            if o.reduce_only and o.instrument == name and o.side == side
        )
        return abs(size) - committed

    def _trim_reduce_only(self, spec: InstrumentSpec, acct: Account, ts: int, out: list) -> None:
        """Keep resting reduce-only orders from ever increasing a position after it changed."""
        if not acct.reduce_only_orders:
            return
        name = spec.name
        orders = [o for o in acct.open_orders.values() if o.reduce_only and o.instrument == name]
        if not orders:
            return
        pos = acct.positions.get(name)
        size = pos.size if pos is not None else 0
        room = {BUY: -size if size < 0 else 0, SELL: size if size > 0 else 0}
        book = self.books[name]
        for order in orders:  # oldest first keeps the oldest intent
            allowed = room[order.side]
            if order.qty <= allowed:
                room[order.side] = allowed - order.qty
                continue
            if allowed == 0:
                self._cancel_resting(order, Reason.REDUCE_ONLY_TRIMMED, ts, out)
                continue
            room[order.side] = 0
            total = book.reduce(order, allowed)
            out.append(OrderUpdated(order.id, order.account, name, OPEN, order.filled, allowed,
                                    order.price, Reason.REDUCE_ONLY_TRIMMED, ts))
            self._delta(out, name, order.side, order.price, total)

    def _own_open_order(self, account_id: int, order_id: int) -> Order | None:
        acct = self.accounts.get(account_id)
        return acct.open_orders.get(order_id) if acct is not None else None

    def _not_open(self, out: list, command: str, account_id: int, order_id: int) -> None:
        # A foreign order answers exactly like a closed one: ids are sequential, so only
        # "was this id ever issued" is told apart, and that is public anyway.
        if 0 < order_id < self.next_order_id:
            self._reject(out, command, account_id, Code.NOT_OPEN_ORDER, Reason.NOT_OPEN_ORDER,
                         order_id=order_id)
        else:
            self._reject(out, command, account_id, Code.ORDER_NOT_FOUND, Reason.ORDER_NOT_FOUND,
                         order_id=order_id)

    def _cancel(self, c: CancelOrder, ts: int, out: list) -> None:
        if type(c.account) is not int or type(c.order_id) is not int:
            return self._reject_field(out, c)
        acct = self.accounts.get(c.account)
        order = acct.open_orders.get(c.order_id) if acct is not None else None
        if order is None:
            return self._not_open(out, "CancelOrder", c.account, c.order_id)
        out.append(Accepted("CancelOrder", c.account, order.id))
        self._cancel_resting(order, Reason.CANCELLED_BY_USER, ts, out, alone=True)
        return None

    def _cancel_all(self, c: CancelAll, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        acct = self.accounts.get(c.account)
        if not -MAX_ID <= c.account <= MAX_ID:
            return self._reject(out, "CancelAll", c.account, Code.BAD_ARGUMENT,
                                Reason.INVALID_ACCOUNT)
        if c.instrument is not None and c.instrument not in self.registry:
            return self._reject(out, "CancelAll", c.account,
                                Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, Reason.UNKNOWN_INSTRUMENT)
        out.append(Accepted("CancelAll", c.account))
        if acct is None:
            return None
        victims = [
            o for o in acct.open_orders.values()
            if (c.instrument is None or o.instrument == c.instrument)
            and (c.label is None or o.label == c.label)
        ]
        for order in victims:
            self._cancel_resting(order, Reason.CANCELLED_BY_USER, ts, out)
        return None

    def _amend(self, c: AmendOrder, ts: int, out: list) -> None:
        cmd = "AmendOrder"
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        order = self._own_open_order(c.account, c.order_id)
        if order is None:
            return self._not_open(out, cmd, c.account, c.order_id)
        spec = self.registry.by_name[order.instrument]
        acct = self.accounts[order.account]
        new_price = order.price if c.price is None else c.price
        new_remaining = order.qty if c.amount is None else c.amount - order.filled
        if c.amount is None and c.price is None:
            return self._reject(out, cmd, c.account, Code.BAD_ARGUMENT, Reason.NOTHING_TO_AMEND,
                                order_id=order.id)
        if new_price <= 0:
            return self._reject(out, cmd, c.account, Code.INVALID_PRICE, Reason.INVALID_PRICE,
                                order_id=order.id)
        if new_price > MAX_TICKS:
            return self._reject(out, cmd, c.account, Code.PRICE_TOO_HIGH, Reason.PRICE_TOO_HIGH,
                                order_id=order.id)
        if c.amount is not None and c.amount <= 0:
            return self._reject(out, cmd, c.account, Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT,
                                order_id=order.id)
        if c.amount is not None and c.amount > MAX_LOTS:
            return self._reject(out, cmd, c.account, Code.INVALID_AMOUNT,
                                Reason.AMOUNT_TOO_LARGE, order_id=order.id)
        if new_remaining <= 0:
            return self._reject(out, cmd, c.account, Code.INVALID_AMOUNT,
                                Reason.AMOUNT_NOT_ABOVE_FILLED, order_id=order.id)
        if new_remaining + order.filled < spec.min_amount:
            return self._reject(out, cmd, c.account, Code.QTY_TOO_LOW, Reason.BELOW_MIN_AMOUNT,
                                order_id=order.id)
        if order.reduce_only:
            room = self._reduce_only_room(acct, spec.name, order.side) + order.qty
            new_remaining = min(new_remaining, room)
            if new_remaining <= 0:
                return self._reject(out, cmd, c.account, Code.BAD_ARGUMENT,
                                    Reason.REDUCE_ONLY_NO_POSITION, order_id=order.id)
        book = self.books[spec.name]
        side = order.side
        best_opposite = book.best_ask() if side == BUY else book.best_bid()
        crosses = best_opposite is not None and (
            new_price >= best_opposite if side == BUY else new_price <= best_opposite
        )
        if crosses and order.post_only:
            return self._reject(out, cmd, c.account, Code.POST_ONLY_REJECT,
                                Reason.POST_ONLY_WOULD_CROSS, order_id=order.id)
        reserve = self._reservation(spec, side, new_price, new_remaining, order.reduce_only)
        held = self._reservation(spec, side, order.price, order.qty, order.reduce_only)
        extra = reserve - held
        if extra > 0:
            if spec.kind == FUTURE:
                short = self.available_margin(acct) < extra
            elif side == BUY:
                short = acct.cash - acct.reserved < extra
            else:
                short = acct.free_asset(spec.base) < extra
            if short:
                return self._reject(out, cmd, c.account, Code.NOT_ENOUGH_FUNDS,
                                    Reason.NOT_ENOUGH_FUNDS, order_id=order.id)
        out.append(Accepted(cmd, c.account, order.id))
        name = spec.name
        if new_price == order.price and new_remaining <= order.qty:
            # A pure reduction keeps its place in the queue.
            total = book.reduce(order, new_remaining)
            self._hold(acct, spec, side, extra)
            out.append(OrderUpdated(order.id, order.account, name, OPEN, order.filled,
                                    new_remaining, new_price, None, ts))
            self._delta(out, name, side, new_price, total)
            return None
        # A price change or a size increase loses priority: the order leaves its level and
        # re-enters as if new (it may trade), keeping its id, label, fills and STP mode.
        old_total = book.cancel(order)
        self._delta(out, name, side, order.price, old_total)
        self._forget(acct, order)
        replacement = Order(order.id, order.account, side, new_price, new_remaining,
                            order.filled, ts, order.label, order.reduce_only,
                            name, order.tif, order.expire_ts, order.post_only, order.stp)
        self._hold(acct, spec, side, extra)
        stopped = False
        if crosses:
            stopped = self._take(spec, book, acct, replacement, replacement.stp, ts, out)
        self._finish_taker(spec, book, acct, replacement, LIMIT, replacement.tif, stopped, ts,
                           out, report_open=True)
        return None

    # -- funds ----------------------------------------------------------------------------------
    def _asset_ok(self, asset: str) -> bool:
        return asset in self.registry.assets

    def _deposit(self, c: Deposit, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        self._credit("Deposit", c.account, c.asset, c.amount, out, allow_usd=True)

    def _mint(self, c: Mint, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        self._credit("Mint", c.account, c.asset, c.amount, out, allow_usd=False)

    def _withdraw(self, c: Withdraw, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        self._debit("Withdraw", c.account, c.asset, c.amount, out, allow_usd=True)

    def _burn(self, c: Burn, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        self._debit("Burn", c.account, c.asset, c.amount, out, allow_usd=False)

    def _check_transfer(self, cmd: str, account_id: int, asset: str, amount: int, out: list,
                        allow_usd: bool) -> bool:
        if not self._asset_ok(asset):
            self._reject(out, cmd, account_id, Code.BAD_ARGUMENT, Reason.UNKNOWN_ASSET)
            return False
        if asset == USD and not allow_usd:
            self._reject(out, cmd, account_id, Code.BAD_ARGUMENT, Reason.USD_NOT_MINTABLE)
            return False
        if not -MAX_ID <= account_id <= MAX_ID:
            self._reject(out, cmd, account_id, Code.BAD_ARGUMENT, Reason.INVALID_ACCOUNT)
            return False
        if amount <= 0:
            self._reject(out, cmd, account_id, Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT)
            return False
        if amount > MAX_BALANCE:
            self._reject(out, cmd, account_id, Code.INVALID_AMOUNT, Reason.AMOUNT_TOO_LARGE)
            return False
        return True

    def _credit(self, cmd: str, account_id: int, asset: str, amount: int, out: list,
                allow_usd: bool) -> None:
        if not self._check_transfer(cmd, account_id, asset, amount, out, allow_usd):
            return
        existing = self.accounts.get(account_id)
        held = 0
        if existing is not None:
            held = existing.cash if asset == USD else existing.assets.get(asset, 0)
        if held + amount > MAX_BALANCE or self.external.get(asset, 0) + amount > MAX_BALANCE:
            self._reject(out, cmd, account_id, Code.INVALID_AMOUNT, Reason.BALANCE_LIMIT)
            return
        acct = self.account(account_id)
        out.append(Accepted(cmd, account_id))
        if asset == USD:
            acct.cash += amount
        else:
            acct.assets[asset] = acct.assets.get(asset, 0) + amount
        self.external[asset] = self.external.get(asset, 0) + amount
        self._touched_balances[(account_id, asset)] = None

    def _debit(self, cmd: str, account_id: int, asset: str, amount: int, out: list,
               allow_usd: bool) -> None:
        if not self._check_transfer(cmd, account_id, asset, amount, out, allow_usd):
            return
        acct = self.accounts.get(account_id)
        if acct is None:
            free = 0
        elif asset == USD:
            free = acct.cash - acct.reserved
            if acct.has_positions():
                free = min(free, self.available_margin(acct))
        else:
            free = acct.free_asset(asset)
        if amount > free:
            self._reject(out, cmd, account_id, Code.NOT_ENOUGH_FUNDS,
                         Reason.NOT_ENOUGH_FUNDS if asset == USD else Reason.NOT_ENOUGH_ASSET)
            return
        assert acct is not None
        out.append(Accepted(cmd, account_id))
        if asset == USD:
            acct.cash -= amount
        else:
            acct.assets[asset] -= amount
        self.external[asset] -= amount
        self._touched_balances[(account_id, asset)] = None

    # -- marks, liquidation, listing ------------------------------------------------------------
    def _set_mark(self, c: SetMark, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        spec = self.registry.by_name.get(c.instrument)
        if spec is None:
            return self._reject(out, "SetMark", None, Code.INVALID_OR_UNSUPPORTED_INSTRUMENT,
                                Reason.UNKNOWN_INSTRUMENT)
        if c.price <= 0:
            return self._reject(out, "SetMark", None, Code.INVALID_PRICE, Reason.INVALID_PRICE)
        if c.price > MAX_TICKS:
            return self._reject(out, "SetMark", None, Code.PRICE_TOO_HIGH, Reason.PRICE_TOO_HIGH)
        if spec.name in self.settled:
            return self._reject(out, "SetMark", None, Code.ORDERBOOK_CLOSED,
                                Reason.INSTRUMENT_EXPIRED)
        out.append(Accepted("SetMark"))
        self.marks[spec.name] = c.price
        out.append(MarkUpdated(spec.name, c.price))
        index = self.indexes.get(spec.name)
        if index is not None:
            index.observe(ts, c.price)
        if spec.kind == FUTURE:
            self._liquidate_below_maintenance(spec.name, ts, out)
        return None

    def _liquidate_below_maintenance(self, name: str, ts: int, out: list) -> None:
        system = (self.config.fee_account, self.config.insurance_account)
        for account_id in sorted(self.holders[name]):
            if account_id in system:
                continue
            acct = self.accounts[account_id]
            if not acct.has_positions():
                continue  # closed by an earlier liquidation in this loop
            equity = self.equity(acct)
            maintenance = self.margin_requirements(acct)[1]
            if equity < maintenance:
                self._liquidate(acct, equity, maintenance, ts, out)

    def _check_solvency(self, ts: int, out: list) -> None:
        """Liquidate each account that futures fills or a settlement left with no position and
        less cash than its open orders hold back (possibly less than nothing).

        Liquidation on a mark only looks at accounts that hold positions, yet a reduce-only
        close needs no margin and settlement pays whatever the index says, so a realized loss
        can exceed an account's cash. Left alone that would be a negative balance nobody ever
        covers, or open orders backed by cash that is gone.
        """
        system = (self.config.fee_account, self.config.insurance_account)
        for account_id in sorted(self._solvency):
            acct = self.accounts[account_id]
            if account_id not in system and acct.cash < acct.reserved and (
                not acct.has_positions()
            ):
                self._liquidate(acct, acct.cash, 0, ts, out)
        self._solvency.clear()

    def _liquidate(self, acct: Account, equity: int, maintenance: int, ts: int,
                   out: list) -> None:
        for order in list(acct.open_orders.values()):
            self._cancel_resting(order, Reason.LIQUIDATION, ts, out)
        insurance = self.account(self.config.insurance_account)
        for name in sorted(acct.positions):
            pos = acct.positions[name]
            if not pos.size:
                continue
            spec = self.registry.by_name[name]
            book = self.books[name]
            side = SELL if pos.size > 0 else BUY
            qty = abs(pos.size)
            mark = self.mark_price(name) or abs(pos.cost // pos.size)
            band = mark * spec.price_band_bps // 10_000
            limit = mark + band if side == BUY else max(1, mark - band)
            order_id = self.next_order_id
            self.next_order_id = order_id + 1
            order = Order(order_id, acct.id, side, limit, qty, 0, ts, None, True, name, IOC)
            out.append(OrderAccepted(order_id, acct.id, name, side, qty, limit, MARKET, IOC,
                                     False, True, None, ts))
            self._take(spec, book, acct, order, STP_CANCEL_MAKER, ts, out, liquidation=True)
            remaining = order.qty
            order.qty = 0
            out.append(OrderUpdated(order_id, acct.id, name, FILLED if not remaining else CANCELLED,
                                    order.filled, remaining, limit,
                                    None if not remaining else Reason.LIQUIDATION, ts))
            if remaining:
                # What the book could not absorb within the band goes to the insurance fund
                # at the mark price.
                signed = remaining if side == BUY else -remaining
                self._move_position(spec, acct, signed, mark)
                self._move_position(spec, insurance, -signed, mark)
                self._touched_balances[(acct.id, USD)] = None
                self._touched_balances[(insurance.id, USD)] = None
        covered = 0
        if acct.cash < 0:
            covered = -acct.cash
            insurance.cash -= covered
            acct.cash = 0
            self._touched_balances[(insurance.id, USD)] = None
            self._touched_balances[(acct.id, USD)] = None
        out.append(Liquidated(acct.id, equity, maintenance, covered, ts))

    def _list_instrument(self, c: ListInstrument, ts: int, out: list) -> None:
        if first_bad_field(c) is not None:
            return self._reject_field(out, c)
        spec = c.spec
        if spec.name in self.registry:
            return self._reject(out, "ListInstrument", None, Code.BAD_ARGUMENT,
                                Reason.DUPLICATE_INSTRUMENT)
        if spec.validate() is not None or (
            spec.kind == FUTURE and spec.expiry_ts is not None and spec.expiry_ts <= ts
        ):
            return self._reject(out, "ListInstrument", None, Code.BAD_ARGUMENT,
                                Reason.INVALID_INSTRUMENT_SPEC)
        self._add_instrument(spec)
        out.append(Accepted("ListInstrument"))
        out.append(InstrumentListed(spec.name))
        return None

    def _tick(self, c: Tick, ts: int, out: list) -> None:
        out.append(Accepted("Tick"))
