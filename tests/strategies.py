"""Hypothesis strategies for long random engine command sequences.

Commands are generated in an *abstract* form (``Op``) and turned into concrete ``Command``s
only when they are applied, against the engine's state at that moment: "amend the account's
second open order", "cancel an order that is already closed", "place a GTD order expiring 40 ns
from now". Generating concrete order ids up front would make almost every amend and cancel
miss; resolving late keeps them meaningful while the sequence stays a plain, shrinkable list.
Resolution reads only state that the differential tests assert identical across engines, so
both engines always receive the same concrete command.

The market is deliberately tiny and dense: a handful of accounts, prices in a 20-tick band,
small funds and high leverage, futures expiring a few thousand nanoseconds in, so that crosses,
self-trades, margin rejections, liquidations, expiries and settlement all happen many times
inside one sequence. Half the scenarios trade only the futures and their index, with prices
drifting from the last trade, full-leverage entries and reduce-only exits, so that losses
larger than an account's cash happen too.
"""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import strategies as st

from exchange.core import (
    FUTURE,
    SPOT,
    USD,
    AmendOrder,
    Burn,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    Engine,
    EngineConfig,
    InstrumentSpec,
    ListInstrument,
    Mint,
    Order,
    PlaceOrder,
    SetMark,
    Tick,
    Withdraw,
)
from exchange.core.messages import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
)

CONFIG = EngineConfig(fee_account=0, insurance_account=-1)
TRADERS = (1, 2, 3, 4)
NO_FUNDS_ACCOUNT = 5  # never funded: every order from it must be rejected without a trace
ACCOUNTS = (*TRADERS, NO_FUNDS_ACCOUNT)
LABELS = ("a", "b", "c")
ASSETS = (USD, "GPUH", "KWH", "DOGE")  # DOGE is not an asset of this market
LOT_VALUE_USD = 1_000_000  # micro-USD: one lot at 100 ticks of 0.01


def make_universe(
    near_expiry: int, far_expiry: int, fees: bool = True, window: int = 2_000
) -> list[InstrumentSpec]:
    """Two spot markets and two futures on the GPU-hour index, one expiring mid-sequence.

    With ``fees`` the instruments charge taker fees and pay a maker rebate on one spot and one
    future, and charge both sides on the other future, so every sign of fee is exercised.
    """
    spot_fees = {"maker_fee_ppm": -100, "taker_fee_ppm": 500} if fees else {}
    near_fees = {"maker_fee_ppm": 200, "taker_fee_ppm": 700} if fees else {}
    far_fees = {"maker_fee_ppm": -250, "taker_fee_ppm": 300} if fees else {}
    return [
        InstrumentSpec(name="GPUH_USD", kind=SPOT, base="GPUH", tick_size="0.01", **spot_fees),
        InstrumentSpec(name="KWH_USD", kind=SPOT, base="KWH", tick_size="0.01", min_amount=2,
                       price_band_bps=300),
        InstrumentSpec(name="GPUH-NEAR", kind=FUTURE, base="GPUH", tick_size="0.01",
                       expiry_ts=near_expiry, index="GPUH_USD", settlement_window_ns=window,
                       initial_margin_bps=500, maintenance_margin_bps=250, **near_fees),
        InstrumentSpec(name="GPUH-FAR", kind=FUTURE, base="GPUH", tick_size="0.01",
                       expiry_ts=far_expiry, index="GPUH_USD", settlement_window_ns=window,
                       initial_margin_bps=2000, maintenance_margin_bps=1000,
                       price_band_bps=500, **far_fees),
    ]


# -- abstract operations ------------------------------------------------------------------------


class OrderRef(NamedTuple):
    """Which order an amend or cancel targets, resolved against the state when applied."""

    kind: str  # "own" open order, "foreign" open order, "closed" id, or "unknown" id
    k: int


class PlaceOp(NamedTuple):
    dt: int
    account: int
    inst: int
    side: int
    amount: int
    price: int | None
    type: str
    tif: str
    post_only: bool
    reject_post_only: bool
    reduce_only: bool
    label: str | None
    expire_in: int
    stp: str
    # Price relative to the instrument's last trade (price - 100 ticks away from it) instead
    # of absolute: a random walk, so prices trend and leveraged positions win or lose big.
    drift: bool = False


class AmendOp(NamedTuple):
    dt: int
    account: int
    ref: OrderRef
    # ("abs", total), ("rel", change of the total) or ("filled", k): the filled amount - k
    amount: tuple[str, int] | None
    price: tuple[str, int] | None  # ("abs", ticks) or ("rel", change in ticks)


class CancelOp(NamedTuple):
    dt: int
    account: int
    ref: OrderRef


class CancelAllOp(NamedTuple):
    dt: int
    account: int
    inst: int | None  # None: every instrument; an index past the end: an unknown name
    label: str | None


class TransferOp(NamedTuple):
    dt: int
    kind: str  # Deposit, Withdraw, Mint or Burn
    account: int
    asset: str
    amount: int


class MarkOp(NamedTuple):
    dt: int
    inst: int
    price: int


class TickOp(NamedTuple):
    dt: int


class ListOp(NamedTuple):
    dt: int
    name: str
    expire_in: int


class CloseOp(NamedTuple):
    """Close the account's whole position in a future with a reduce-only order: how losses
    get realized by trading (rather than by liquidation at a mark)."""

    dt: int
    account: int
    inst: int
    price: int
    tif: str


class AllInOp(NamedTuple):
    """Open the largest futures position the account's free margin allows: full leverage,
    so that a small move against it costs more than the account's cash."""

    dt: int
    account: int
    inst: int
    side: int
    price: int
    tif: str


Op = (
    PlaceOp | AmendOp | CancelOp | CancelAllOp | TransferOp | MarkOp | TickOp | ListOp | CloseOp
    | AllInOp
)

# -- strategies ---------------------------------------------------------------------------------
#
# Hypothesis on its own spreads choices evenly over the branches of ``one_of`` and leans hard
# on boundary values; over hundreds of commands that makes most orders invalid or unfunded and
# lets time race past every expiry. ``choose`` states the intended mix explicitly instead. It
# draws one bounded integer per choice, so examples still shrink, towards the first entry of
# each table, which is therefore the plainest option. Bounded integers also land on their
# upper bound far more often than uniform, so the last entry is always a common, valid one and
# the malformed options sit in the middle.


def choose(*table: tuple[int, object]) -> st.SearchStrategy:
    """A weighted choice among constants and strategies: ``choose((3, "a"), (1, st.none()))``."""
    total = sum(weight for weight, _ in table)
    bounds: list[int] = []
    running = 0
    for weight, _ in table:
        running += weight
        bounds.append(running)

    @st.composite
    def pick(draw: st.DrawFn) -> object:
        i = draw(st.integers(0, total - 1))
        value = next(v for (_, v), bound in zip(table, bounds, strict=True) if i < bound)
        return draw(value) if isinstance(value, st.SearchStrategy) else value

    return pick()


# Usually the same instant or a few nanoseconds on; now and then a jump across GTD expiries,
# settlement windows and expiries.
dts = choose((30, 0), (55, st.integers(1, 25)), (2, st.integers(100, 2_500)))
accounts = choose((5, st.sampled_from(TRADERS)), (1, NO_FUNDS_ACCOUNT), (2, 2))
traders = st.sampled_from(TRADERS)
sides = choose((20, BUY), (1, 0), (20, SELL))  # 0 is an invalid side
prices = choose((40, st.integers(90, 110)), (1, None), (1, 0), (1, -3), (40, st.integers(90, 110)))
amounts = choose((50, st.integers(1, 12)), (1, 0), (1, -1), (12, st.integers(13, 40)))
labels = choose((24, None), (1, ""), (1, "x" * 65), (12, st.sampled_from(LABELS)))
stps = choose((12, STP_CANCEL_TAKER), (8, STP_CANCEL_MAKER), (1, "bogus"), (8, STP_CANCEL_BOTH))
# Listing order: GPUH_USD, KWH_USD, GPUH-NEAR, GPUH-FAR, then listed ones; past the end is
# an unknown instrument.
instruments = choose((8, 0), (3, 1), (1, 4), (1, 5), (1, 9), (8, 2), (6, 3))
order_types = choose((60, LIMIT), (1, "stop"), (10, MARKET))
tifs = choose((60, GTC), (20, GTD), (1, "day"), (15, IOC), (12, FOK))
expire_ins = choose((10, st.integers(1, 300)), (1, st.integers(-5, 0)),
                    (5, st.integers(300, 4_000)))


NO_DRIFT = st.just(False)
futures_instruments = choose((10, 2), (1, 4), (1, 1), (1, 0), (6, 3))
futures_amounts = choose((10, st.integers(1, 12)), (1, 0), (10, st.integers(13, 60)))


@st.composite
def place_ops(
    draw: st.DrawFn,
    instruments: st.SearchStrategy[int] = instruments,
    amounts: st.SearchStrategy[int] = amounts,
    drift: st.SearchStrategy[bool] = NO_DRIFT,
) -> PlaceOp:
    """Mostly well-formed orders (each kind of malformed one is drawn now and then)."""
    inst = draw(instruments)
    order_type = draw(order_types)
    tif = draw(tifs)
    resting = order_type == LIMIT and tif in (GTC, GTD)
    future = inst in (2, 3, 4, 5)
    return PlaceOp(
        dt=draw(dts),
        account=draw(choose((20, st.sampled_from(TRADERS)), (1, NO_FUNDS_ACCOUNT), (10, 1))),
        inst=inst,
        side=draw(sides),
        amount=draw(amounts),
        price=draw(prices),
        type=order_type,
        tif=tif,
        post_only=draw(choose((6, False), (1, True)) if resting else choose((40, False),
                                                                            (1, True))),
        reject_post_only=draw(st.booleans()),
        reduce_only=draw(choose((4, False), (1, True)) if future else choose((40, False),
                                                                             (1, True))),
        label=draw(labels),
        expire_in=draw(expire_ins),
        stp=draw(stps),
        drift=draw(drift),
    )


order_refs = st.builds(
    OrderRef,
    kind=choose((12, "own"), (2, "foreign"), (2, "closed"), (1, "unknown"), (6, "own")),
    k=st.integers(0, 50),
)

amend_ops = st.builds(
    AmendOp,
    dt=dts,
    account=traders,
    ref=order_refs,
    amount=choose((4, None), (1, st.tuples(st.just("abs"), st.integers(-1, 40))),
                  (6, st.tuples(st.just("rel"), st.integers(-6, 25))),
                  # at or below what the order has already filled: the rejection that needs a
                  # partly filled order, too rare to be reached reliably by chance
                  (3, st.tuples(st.just("filled"), st.integers(0, 2)))),
    price=choose((4, None), (1, st.tuples(st.just("abs"), st.integers(-1, 112))),
                 (6, st.tuples(st.just("rel"), st.integers(-4, 4)))),
)

cancel_ops = st.builds(CancelOp, dt=dts, account=traders, ref=order_refs)

cancel_all_ops = st.builds(
    CancelAllOp,
    dt=dts,
    account=accounts,
    inst=choose((2, None), (1, 9), (3, st.integers(0, 4))),
    label=choose((3, None), (1, st.sampled_from(LABELS))),
)

usd_amounts = choose(
    (10, st.integers(1, 60).map(lambda n: n * LOT_VALUE_USD)),
    (1, st.sampled_from((0, -5))),
    (3, st.integers(1, 3_000_000)),
)
unit_amounts = choose((12, st.integers(1, 60)), (1, st.sampled_from((0, -2))), (6, 5))


@st.composite
def transfer_ops(draw: st.DrawFn) -> TransferOp:
    kind = draw(choose((5, "Deposit"), (3, "Withdraw"), (3, "Mint"), (2, "Burn"), (3, "Deposit")))
    asset = draw(choose((6, USD), (3, "GPUH"), (1, "DOGE"), (2, "KWH"), (3, USD)))
    amount = draw(usd_amounts if asset == USD else unit_amounts)
    if kind in ("Burn", "Withdraw") and draw(choose((4, False), (1, True))):
        amount *= 1000  # more than anyone holds: the not-enough rejections, reliably reached
    return TransferOp(draw(dts), kind, draw(accounts), asset, amount)


mark_ops = st.builds(
    MarkOp,
    dt=dts,
    inst=choose((8, 2), (2, 0), (1, 1), (2, 4), (1, 9), (6, 3)),
    price=choose((10, st.integers(85, 115)), (1, 0), (6, st.integers(20, 180))),
)
futures_mark_ops = st.builds(
    MarkOp, dt=dts, inst=choose((5, 2), (5, 0), (4, 3)),
    price=choose((10, st.integers(80, 120)), (10, st.integers(50, 150))),
)

tick_ops = st.builds(TickOp, dt=dts)

list_ops = st.builds(
    ListOp,
    dt=dts,
    name=st.sampled_from(("GPUH-L1", "GPUH-L2")),
    expire_in=choose((10, st.integers(1, 3_000)), (1, st.integers(-10, 0)), (3, 1_000)),
)

# Every kind of command, across the whole market.
mixed_ops = choose(
    (50, place_ops()),
    (12, amend_ops),
    (10, cancel_ops),
    (3, cancel_all_ops),
    (8, transfer_ops()),
    (6, mark_ops),
    (2, tick_ops),
    (1, list_ops),
)
# Leveraged trading in the futures and their index, with frequent marks: the liquidation,
# reduce-only and settlement paths.
close_ops = st.builds(
    CloseOp, dt=dts, account=traders, inst=choose((3, 2), (2, 3)), price=st.integers(85, 115),
    tif=choose((3, GTC), (2, IOC)),
)

all_in_ops = st.builds(
    AllInOp, dt=dts, account=traders, inst=choose((3, 2), (2, 3)),
    side=st.sampled_from((BUY, SELL)), price=st.integers(90, 110),
    tif=choose((3, GTC), (2, IOC)),
)

futures_ops = choose(
    (50, place_ops(futures_instruments, futures_amounts, choose((1, False), (2, True)))),
    (8, close_ops),
    (10, all_in_ops),
    (8, amend_ops),
    (6, cancel_ops),
    (3, transfer_ops()),
    (12, futures_mark_ops),
    (1, cancel_all_ops),
    (1, list_ops),
)


@st.composite
def funding(draw: st.DrawFn) -> list[Op]:
    """A prelude that gives every trader some USD and spot assets, so trading starts early."""
    out: list[Op] = []
    for account in TRADERS:
        # the last trader is thinly funded, so leverage (and liquidation) comes quickly
        lots = draw(st.integers(1, 6)) if account == TRADERS[-1] else 10 + draw(st.integers(0, 60))
        out.append(TransferOp(0, "Deposit", account, USD, lots * LOT_VALUE_USD))
        out.append(TransferOp(0, "Mint", account, "GPUH", 10 + draw(st.integers(0, 60))))
        out.append(TransferOp(0, "Mint", account, "KWH", 10 + draw(st.integers(0, 60))))
    return out


class Scenario(NamedTuple):
    near_expiry: int
    far_expiry: int
    ops: list[Op]


@st.composite
def scenarios(
    draw: st.DrawFn, min_ops: int = 150, max_ops: int = 300, futures_only: bool = False
) -> Scenario:
    """The funding prelude, then either the whole market or leveraged futures trading."""
    near = draw(st.integers(2_500, 9_000))
    far = near + draw(st.integers(8_000, 30_000))
    ops = futures_ops if futures_only else (mixed_ops, futures_ops)[draw(st.integers(0, 1))]
    body = draw(st.lists(ops, min_size=min_ops, max_size=max_ops))
    return Scenario(near, far, draw(funding()) + body)


# -- resolution ---------------------------------------------------------------------------------


def open_orders(engine: Engine) -> dict[int, Order]:
    """Every open order by id, from the accounts (the one index every engine version has)."""
    return {oid: o for acct in engine.accounts.values() for oid, o in acct.open_orders.items()}


def _pick(ids: list[int], k: int) -> int | None:
    return ids[k % len(ids)] if ids else None


def resolve_order_id(engine: Engine, account: int, ref: OrderRef) -> int:
    """Turn an abstract reference into a concrete order id, falling back to a closed or
    unknown id when the wanted kind does not exist right now."""
    orders = open_orders(engine)
    open_ids = sorted(orders)
    if ref.kind == "own":
        acct = engine.accounts.get(account)
        found = _pick(sorted(acct.open_orders) if acct else [], ref.k)
        if found is not None:
            return found
    elif ref.kind == "foreign":
        found = _pick([i for i in open_ids if orders[i].account != account], ref.k)
        if found is not None:
            return found
    if ref.kind != "unknown":
        found = _pick([i for i in range(1, engine.next_order_id) if i not in orders],
                      ref.k)
        if found is not None:
            return found
    return (engine.next_order_id + ref.k, 0, -1 - ref.k)[ref.k % 3]


def instrument_name(engine: Engine, index: int) -> str:
    """Instruments in listing order; an index past the end names an unknown instrument."""
    names = list(engine.registry.by_name)
    return names[index] if index < len(names) else "NOPE-1"


def drifted(engine: Engine, name: str, price: int) -> int:
    """``price - 100`` ticks away from the last trade (100 before the first trade)."""
    return max(1, engine.last_prices.get(name, 100) + price - 100)


def resolve(op: Op, engine: Engine) -> tuple[Command, int]:
    """The concrete command an abstract op stands for, and the time to apply it at."""
    ts = engine.now + op.dt
    if isinstance(op, PlaceOp):
        name = instrument_name(engine, op.inst)
        return PlaceOrder(
            account=op.account,
            instrument=name,
            side=op.side,
            amount=op.amount,
            price=drifted(engine, name, op.price) if op.drift and op.price else op.price,
            type=op.type,
            tif=op.tif,
            post_only=op.post_only,
            reject_post_only=op.reject_post_only,
            reduce_only=op.reduce_only,
            label=op.label,
            expire_ts=ts + op.expire_in if op.tif == GTD or op.expire_in % 7 == 0 else None,
            stp=op.stp,
        ), ts
    if isinstance(op, AmendOp):
        order_id = resolve_order_id(engine, op.account, op.ref)
        if op.amount is not None and op.amount[0] == "filled" and op.ref.kind == "own":
            # aim at one of the account's partly filled orders, if it has any
            acct = engine.accounts.get(op.account)
            partly = sorted(i for i, o in acct.open_orders.items() if o.filled) if acct else []
            order_id = _pick(partly, op.ref.k) or order_id
        order = open_orders(engine).get(order_id)
        amount = price = None
        if op.amount is not None:
            mode, value = op.amount
            if mode == "rel" and order is not None:
                amount = order.filled + order.qty + value
            elif mode == "filled" and order is not None:
                amount = order.filled - value
            else:
                amount = value
        if op.price is not None:
            mode, value = op.price
            if mode == "rel" and order is not None:
                price = order.price + value
            else:
                price = value
        return AmendOrder(account=op.account, order_id=order_id, amount=amount, price=price), ts
    if isinstance(op, CancelOp):
        return CancelOrder(account=op.account,
                           order_id=resolve_order_id(engine, op.account, op.ref)), ts
    if isinstance(op, CancelAllOp):
        inst = None if op.inst is None else instrument_name(engine, op.inst)
        return CancelAll(account=op.account, instrument=inst, label=op.label), ts
    if isinstance(op, TransferOp):
        kinds = {"Deposit": Deposit, "Withdraw": Withdraw, "Mint": Mint, "Burn": Burn}
        return kinds[op.kind](account=op.account, asset=op.asset, amount=op.amount), ts
    if isinstance(op, MarkOp):
        return SetMark(instrument=instrument_name(engine, op.inst), price=op.price), ts
    if isinstance(op, TickOp):
        return Tick(), ts
    if isinstance(op, CloseOp):
        name = instrument_name(engine, op.inst)
        acct = engine.accounts.get(op.account)
        pos = acct.positions.get(name) if acct is not None else None
        size = pos.size if pos is not None else 0
        return PlaceOrder(account=op.account, instrument=name, side=SELL if size > 0 else BUY,
                          amount=abs(size) or 1, price=drifted(engine, name, op.price),
                          tif=op.tif,
                          reduce_only=True), ts
    if isinstance(op, AllInOp):
        name = instrument_name(engine, op.inst)
        acct = engine.accounts.get(op.account)
        amount = 1
        spec = engine.registry.by_name.get(name)
        if acct is not None and spec is not None:
            price = drifted(engine, name, op.price)
            per_lot = -(-price * spec.tick_value * spec.initial_margin_bps // 10_000)
            amount = max(1, engine.available_margin(acct) // per_lot)
        return PlaceOrder(account=op.account, instrument=name, side=op.side, amount=amount,
                          price=drifted(engine, name, op.price), tif=op.tif), ts
    if isinstance(op, ListOp):
        spec = InstrumentSpec(name=op.name, kind=FUTURE, base="GPUH", tick_size="0.01",
                              expiry_ts=ts + op.expire_in, index="GPUH_USD",
                              settlement_window_ns=500, maker_fee_ppm=-50, taker_fee_ppm=150)
        return ListInstrument(spec=spec), ts
    raise TypeError(f"not an op: {op!r}")


def fresh_engine(scenario: Scenario, book_factory: object = None, fees: bool = True) -> Engine:
    """An engine on the scenario's tiny market."""
    specs = make_universe(scenario.near_expiry, scenario.far_expiry, fees=fees)
    if book_factory is None:
        return Engine(specs, CONFIG)
    return Engine(specs, CONFIG, book_factory=book_factory)  # type: ignore[arg-type]
