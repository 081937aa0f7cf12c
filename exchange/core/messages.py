"""Commands into the engine and events out of it: the single definition of every message.

Both families are tagged ``msgspec`` structs, so a ``Command`` or ``Event`` union decodes from
msgpack or JSON with validation in one call (the journal and the gateway rely on this), and
encodes deterministically (the state hash and byte-identical runs rely on that).

Conventions: ``side`` is ``BUY`` (+1) or ``SELL`` (-1) so that position arithmetic is a
multiplication; prices are integer ticks; amounts are integer lots; cash is micro-USD.
"""

from __future__ import annotations

import msgspec

from .instruments import InstrumentSpec

BUY = 1
SELL = -1

# order types, times in force and self-trade-prevention modes
LIMIT = "limit"
MARKET = "market"
GTC = "gtc"
GTD = "gtd"
IOC = "ioc"
FOK = "fok"
STP_CANCEL_TAKER = "cancel_taker"
STP_CANCEL_MAKER = "cancel_maker"
STP_CANCEL_BOTH = "cancel_both"

ORDER_TYPES = frozenset({LIMIT, MARKET})
TIMES_IN_FORCE = frozenset({GTC, GTD, IOC, FOK})
STP_MODES = frozenset({STP_CANCEL_TAKER, STP_CANCEL_MAKER, STP_CANCEL_BOTH})

# order states, as Deribit names them
OPEN = "open"
FILLED = "filled"
CANCELLED = "cancelled"


class Command(msgspec.Struct, tag=True, tag_field="cmd", kw_only=True, frozen=True, gc=False):
    """Base of every command. The tag (class name) identifies the command in a journal.

    Untracked by the cyclic collector (``gc=False``), like events: a command holds only
    numbers, strings and a frozen instrument spec, so it can never be part of a cycle, and a
    simulation creates hundreds of thousands of them."""


class PlaceOrder(Command):
    account: int
    instrument: str
    side: int
    amount: int
    price: int | None = None  # ticks; required for limit orders
    type: str = LIMIT
    tif: str = GTC
    post_only: bool = False
    reject_post_only: bool = False  # Deribit: a crossing post-only order is repriced unless set
    reduce_only: bool = False
    label: str | None = None
    expire_ts: int | None = None  # required for GTD
    stp: str = STP_CANCEL_TAKER


class AmendOrder(Command):
    """Change price and/or total amount. Deribit semantics: ``amount`` is the new total size."""

    account: int
    order_id: int
    amount: int | None = None
    price: int | None = None


class CancelOrder(Command):
    account: int
    order_id: int


class CancelAll(Command):
    """Cancel an account's open orders, optionally only on one instrument and/or one label."""

    account: int
    instrument: str | None = None
    label: str | None = None


class Deposit(Command):
    account: int
    asset: str
    amount: int


class Withdraw(Command):
    account: int
    asset: str
    amount: int


class Mint(Command):
    """Create units of a non-USD asset (e.g. GPU-hours produced by capacity this period)."""

    account: int
    asset: str
    amount: int


class Burn(Command):
    """Destroy units of a non-USD asset (e.g. unsold GPU-hours that perished)."""

    account: int
    asset: str
    amount: int


class SetMark(Command):
    """Publish a mark price: marks positions to market and liquidates accounts below
    maintenance margin; on a spot instrument it also feeds that instrument's index."""

    instrument: str
    price: int


class ListInstrument(Command):
    """List a new instrument while running (e.g. the next monthly future)."""

    spec: InstrumentSpec


class Tick(Command):
    """Let time pass: processes due GTD expiries and futures settlements and nothing else."""


AnyCommand = (
    PlaceOrder
    | AmendOrder
    | CancelOrder
    | CancelAll
    | Deposit
    | Withdraw
    | Mint
    | Burn
    | SetMark
    | ListInstrument
    | Tick
)


class Event(msgspec.Struct, tag=True, tag_field="event", frozen=True, gc=False):
    """Base of every event."""


class OrderAccepted(Event):
    """First event of an accepted PlaceOrder: the order as the engine will treat it."""

    order_id: int
    account: int
    instrument: str
    side: int
    amount: int
    price: int  # for market orders: the protection-band limit
    type: str
    tif: str
    post_only: bool
    reduce_only: bool
    label: str | None
    ts: int


class Accepted(Event):
    """First event of any other accepted command."""

    command: str
    account: int | None = None
    order_id: int | None = None


class Rejected(Event):
    """The only event of a rejected command: nothing changed."""

    command: str
    account: int | None
    code: int
    reason: str
    order_id: int | None = None
    label: str | None = None


class OrderUpdated(Event):
    """An order's new state after a fill, an amend or a cancel."""

    order_id: int
    account: int
    instrument: str
    status: str  # OPEN, FILLED or CANCELLED
    filled: int
    remaining: int
    price: int
    reason: str | None
    ts: int


class Trade(Event):
    trade_id: int
    instrument: str
    price: int
    amount: int
    aggressor: int  # side of the taker
    maker_order_id: int
    taker_order_id: int
    maker_account: int
    taker_account: int
    maker_fee: int  # micro-USD, negative is a rebate
    taker_fee: int
    ts: int
    liquidation: bool = False


class BookDelta(Event):
    """New total at one price level (0 = level removed). ``change_id`` is per instrument and
    increases by one per event, so a consumer detects any gap."""

    instrument: str
    change_id: int
    side: int
    price: int
    amount: int


class BalanceChanged(Event):
    account: int
    asset: str
    balance: int
    reserved: int


class PositionChanged(Event):
    """``cost`` is the signed sum of amount*price (tick-lots) of the open position, so
    average entry is cost/size and unrealized P&L at mark m is (size*m - cost)*tick_value."""

    account: int
    instrument: str
    size: int
    cost: int
    realized_pnl: int  # cumulative, micro-USD


class MarkUpdated(Event):
    instrument: str
    price: int


class Settled(Event):
    """A future expired and every position in it was paid out at ``price``."""

    instrument: str
    price: int
    ts: int


class Liquidated(Event):
    """An account fell below maintenance margin: its orders were cancelled and its futures
    positions closed in the book or transferred to the insurance fund."""

    account: int
    equity: int
    maintenance: int
    deficit_covered: int  # micro-USD the insurance fund paid to bring cash back to zero
    ts: int


class InstrumentListed(Event):
    instrument: str


AnyEvent = (
    OrderAccepted
    | Accepted
    | Rejected
    | OrderUpdated
    | Trade
    | BookDelta
    | BalanceChanged
    | PositionChanged
    | MarkUpdated
    | Settled
    | Liquidated
    | InstrumentListed
)
