"""Unit tests: every order type and the edge cases of the matching rules."""

from __future__ import annotations

import pytest

from exchange.core import (
    BUY,
    SELL,
    AmendOrder,
    BookDelta,
    CancelAll,
    CancelOrder,
    Code,
    OffTickError,
    OrderUpdated,
    Reason,
    Tick,
    Trade,
)
from tests.helpers import SPOT_NAME, engine, fund, of_type, order_id, place, rejected


@pytest.fixture
def e():
    eng = engine()
    fund(eng, 1, gpuh=1000)
    fund(eng, 2, gpuh=1000)
    fund(eng, 3, gpuh=1000)
    return eng


def book_side(e, side):
    return [(p, t, [(o.id, o.qty) for o in q]) for p, t, q in e.books[SPOT_NAME].levels(side)]


def test_limit_rests_and_trades_at_maker_price(e):
    sell = order_id(place(e, 1, SELL, 10, 2000))
    events = place(e, 2, BUY, 4, 2100)
    (trade,) = of_type(events, Trade)
    assert (trade.price, trade.amount, trade.aggressor) == (2000, 4, BUY)
    assert trade.maker_order_id == sell and trade.maker_account == 1 and trade.taker_account == 2
    taker_update = of_type(events, OrderUpdated)[-1]
    assert taker_update.status == "filled" and taker_update.filled == 4
    assert book_side(e, SELL) == [(2000, 6, [(sell, 6)])]
    # cash: buyer paid 4 * 2.000 USD, reserved nothing after the fill
    assert e.accounts[2].cash == 10**12 - 4 * 2000 * 1000
    assert e.accounts[2].reserved == 0
    assert e.accounts[2].assets["GPUH"] == 1004


def test_price_time_priority_across_levels(e):
    a = order_id(place(e, 1, SELL, 5, 2001))
    b = order_id(place(e, 1, SELL, 5, 2000))
    c = order_id(place(e, 3, SELL, 5, 2000))
    trades = of_type(place(e, 2, BUY, 12, 2001), Trade)
    assert [(t.maker_order_id, t.amount, t.price) for t in trades] == [
        (b, 5, 2000), (c, 5, 2000), (a, 2, 2001)
    ]


def test_ioc_remainder_is_cancelled(e):
    place(e, 1, SELL, 3, 2000)
    events = place(e, 2, BUY, 10, 2000, tif="ioc")
    assert sum(t.amount for t in of_type(events, Trade)) == 3
    last = of_type(events, OrderUpdated)[-1]
    assert (last.status, last.filled, last.remaining, last.reason) == (
        "cancelled", 3, 7, Reason.IOC_REMAINDER
    )
    assert e.books[SPOT_NAME].best_bid() is None
    assert e.accounts[2].reserved == 0


def test_fok_fills_fully_or_not_at_all(e):
    place(e, 1, SELL, 3, 2000)
    place(e, 3, SELL, 3, 2001)
    events = place(e, 2, BUY, 7, 2001, tif="fok")
    assert not of_type(events, Trade)
    assert of_type(events, OrderUpdated)[-1].reason == Reason.FOK_NOT_FILLED
    events = place(e, 2, BUY, 6, 2001, tif="fok")
    assert sum(t.amount for t in of_type(events, Trade)) == 6
    assert of_type(events, OrderUpdated)[-1].status == "filled"


def test_fok_ignores_liquidity_beyond_limit(e):
    place(e, 1, SELL, 3, 2000)
    place(e, 1, SELL, 3, 2005)
    assert not of_type(place(e, 2, BUY, 4, 2004, tif="fok"), Trade)


def test_post_only_rejected_or_repriced_when_crossing(e):
    place(e, 1, SELL, 5, 2000)
    r = rejected(place(e, 2, BUY, 1, 2000, post_only=True, reject_post_only=True))
    assert (r.code, r.reason) == (Code.POST_ONLY_REJECT, Reason.POST_ONLY_WOULD_CROSS)
    events = place(e, 2, BUY, 1, 2050, post_only=True)
    assert events[0].price == 1999 and not of_type(events, Trade)
    assert e.books[SPOT_NAME].best_bid() == 1999


def test_post_only_with_ioc_is_an_unsupported_combination(e):
    r = rejected(place(e, 2, BUY, 1, 1990, post_only=True, tif="ioc"))
    assert r.code == Code.UNSUPPORTED_ARG_COMBINATION


def test_market_order_is_bounded_by_price_band(e):
    place(e, 1, SELL, 2, 2000)
    place(e, 1, SELL, 2, 2150)  # within a 10% band of 2000
    place(e, 1, SELL, 2, 2300)  # beyond it
    events = place(e, 2, BUY, 10, type="market")
    assert [t.price for t in of_type(events, Trade)] == [2000, 2150]
    last = of_type(events, OrderUpdated)[-1]
    assert last.status == "cancelled" and last.reason == Reason.MARKET_REMAINDER
    assert e.books[SPOT_NAME].best_ask() == 2300


def test_market_order_without_liquidity_is_rejected(e):
    r = rejected(place(e, 2, BUY, 1, type="market"))
    assert r.reason == Reason.NO_LIQUIDITY


def test_gtd_order_expires(e):
    oid = order_id(place(e, 1, SELL, 5, 2000, tif="gtd", expire_ts=500))
    assert e.books[SPOT_NAME].best_ask() == 2000
    events = e.apply(Tick(), 499)
    assert all(not isinstance(x, OrderUpdated) for x in events)
    events = e.apply(Tick(), 500)
    (upd,) = of_type(events, OrderUpdated)
    assert upd.order_id == oid and upd.reason == Reason.GTD_EXPIRED
    assert e.books[SPOT_NAME].best_ask() is None
    assert e.accounts[1].asset_reserved["GPUH"] == 0
    e.check_invariants()


def test_gtd_needs_future_expiry(e):
    assert rejected(place(e, 1, SELL, 5, 2000, ts=10, tif="gtd", expire_ts=10)).reason == (
        Reason.INVALID_EXPIRY
    )


def test_amend_reduction_keeps_priority_increase_loses_it(e):
    a = order_id(place(e, 1, SELL, 5, 2000))
    b = order_id(place(e, 3, SELL, 5, 2000))
    e.apply(AmendOrder(account=1, order_id=a, amount=3), 2)
    assert book_side(e, SELL) == [(2000, 8, [(a, 3), (b, 5)])]
    e.apply(AmendOrder(account=1, order_id=a, amount=6), 3)
    assert book_side(e, SELL) == [(2000, 11, [(b, 5), (a, 6)])]
    e.check_invariants()


def test_amend_price_loses_priority_and_can_trade(e):
    a = order_id(place(e, 1, SELL, 5, 2001))
    b = order_id(place(e, 3, SELL, 5, 2000))
    bid = order_id(place(e, 2, BUY, 5, 1990))
    e.apply(AmendOrder(account=1, order_id=a, price=2000), 2)
    assert book_side(e, SELL) == [(2000, 10, [(b, 5), (a, 5)])]
    events = e.apply(AmendOrder(account=2, order_id=bid, price=2000), 3)
    trades = of_type(events, Trade)
    assert [(t.maker_order_id, t.taker_order_id, t.amount) for t in trades] == [(b, bid, 5)]
    e.check_invariants()


def test_amend_of_partially_filled_order_uses_total_amount(e):
    a = order_id(place(e, 1, SELL, 10, 2000))
    place(e, 2, BUY, 4, 2000)
    r = rejected(e.apply(AmendOrder(account=1, order_id=a, amount=4), 2))
    assert r.reason == Reason.AMOUNT_NOT_ABOVE_FILLED
    e.apply(AmendOrder(account=1, order_id=a, amount=5), 2)
    assert book_side(e, SELL) == [(2000, 1, [(a, 1)])]


def test_cancel_unknown_filled_and_foreign_orders_are_clean_rejects(e):
    a = order_id(place(e, 1, SELL, 5, 2000))
    place(e, 2, BUY, 5, 2000)
    before = e.state_hash()
    assert rejected(e.apply(CancelOrder(account=1, order_id=a), 3)).code == Code.NOT_OPEN_ORDER
    assert rejected(e.apply(CancelOrder(account=1, order_id=999), 3)).code == (
        Code.ORDER_NOT_FOUND
    )
    b = order_id(place(e, 1, SELL, 5, 2010))
    before = e.state_hash()
    foreign = rejected(e.apply(CancelOrder(account=2, order_id=b), 3))
    closed = rejected(e.apply(CancelOrder(account=2, order_id=a), 3))
    # a foreign open order answers exactly like a closed one
    assert (foreign.code, foreign.reason) == (closed.code, closed.reason)
    assert e.state_hash() == before


def test_cancel_releases_reservation_and_emits_delta(e):
    oid = order_id(place(e, 2, BUY, 5, 2000))
    assert e.accounts[2].reserved == 5 * 2000 * 1000
    events = e.apply(CancelOrder(account=2, order_id=oid), 2)
    (upd,) = of_type(events, OrderUpdated)
    assert upd.status == "cancelled" and upd.remaining == 5
    (delta,) = of_type(events, BookDelta)
    assert (delta.side, delta.price, delta.amount) == (BUY, 2000, 0)
    assert e.accounts[2].reserved == 0


def test_cancel_all_by_account_instrument_and_label(e):
    place(e, 1, SELL, 1, 2000, label="a")
    place(e, 1, SELL, 1, 2001, label="b")
    place(e, 2, SELL, 1, 2002, label="a")
    e.apply(CancelAll(account=1, label="a"), 2)
    assert [p for p, _, _ in book_side(e, SELL)] == [2001, 2002]
    e.apply(CancelAll(account=1, instrument=SPOT_NAME), 2)
    assert [p for p, _, _ in book_side(e, SELL)] == [2002]
    e.apply(CancelAll(account=2), 2)
    assert book_side(e, SELL) == []
    e.check_invariants()


def test_labels_unique_among_open_orders_only(e):
    place(e, 1, SELL, 1, 2000, label="x")
    assert rejected(place(e, 1, SELL, 1, 2001, label="x")).reason == Reason.DUPLICATE_LABEL
    place(e, 2, SELL, 1, 2001, label="x")  # another account may use it
    place(e, 3, BUY, 2, 2001)  # fills both "x" orders
    place(e, 1, SELL, 1, 2000, label="x")  # free again once closed


@pytest.mark.parametrize(
    ("mode", "maker_left", "taker_traded", "taker_reason"),
    [
        ("cancel_taker", True, 0, Reason.SELF_TRADE),
        ("cancel_maker", False, 5, None),
        ("cancel_both", False, 0, Reason.SELF_TRADE),
    ],
)
def test_self_trade_prevention_modes(e, mode, maker_left, taker_traded, taker_reason):
    own = order_id(place(e, 1, SELL, 5, 2000))
    place(e, 2, SELL, 5, 2001)
    events = place(e, 1, BUY, 5, 2001, stp=mode)
    assert sum(t.amount for t in of_type(events, Trade)) == taker_traded
    assert all(t.maker_account != t.taker_account for t in of_type(events, Trade))
    assert (own in e.orders) == maker_left
    last = of_type(events, OrderUpdated)[-1]
    assert last.reason == taker_reason
    if not maker_left:
        cancelled = [u for u in of_type(events, OrderUpdated) if u.order_id == own]
        assert cancelled[0].reason == Reason.SELF_TRADE


@pytest.mark.parametrize(
    ("kwargs", "code", "reason"),
    [
        ({"instrument": "NOPE"}, Code.INVALID_OR_UNSUPPORTED_INSTRUMENT,
         Reason.UNKNOWN_INSTRUMENT),
        ({"amount": 0}, Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT),
        ({"price": 0}, Code.INVALID_PRICE, Reason.INVALID_PRICE),
        ({"price": None}, Code.INVALID_PRICE, Reason.MISSING_PRICE),
        ({"side": 0}, Code.BAD_ARGUMENT, Reason.INVALID_SIDE),
        ({"tif": "day"}, Code.BAD_ARGUMENT, Reason.INVALID_TIME_IN_FORCE),
        ({"type": "stop"}, Code.BAD_ARGUMENT, Reason.INVALID_ORDER_TYPE),
        ({"stp": "allow"}, Code.BAD_ARGUMENT, Reason.INVALID_STP_MODE),
        ({"label": ""}, Code.BAD_ARGUMENT, Reason.INVALID_LABEL),
        ({"label": "x" * 65}, Code.BAD_ARGUMENT, Reason.INVALID_LABEL),
        ({"reduce_only": True}, Code.INVALID_ARGS_FOR_INSTRUMENT, Reason.REDUCE_ONLY_SPOT),
        ({"amount": 10**9}, Code.NOT_ENOUGH_FUNDS, Reason.NOT_ENOUGH_FUNDS),
    ],
)
def test_rejections_have_codes_and_change_nothing(e, kwargs, code, reason):
    before = e.state_hash()
    args = {"account": 2, "side": BUY, "amount": 1, "price": 2000, "instrument": SPOT_NAME}
    args.update(kwargs)
    r = rejected(place(e, args.pop("account"), args.pop("side"), args.pop("amount"),
                       args.pop("price"), ts=0, **args))
    assert (r.code, r.reason) == (code, reason)
    assert e.state_hash() == before


def test_spot_sell_needs_the_asset(e):
    fund(e, 9)
    assert rejected(place(e, 9, SELL, 1, 2000)).reason == Reason.NOT_ENOUGH_ASSET


def test_unfunded_account_is_rejected_without_being_created(e):
    before = e.state_hash()
    assert rejected(place(e, 77, BUY, 1, 2000, ts=0)).code == Code.NOT_ENOUGH_FUNDS
    assert 77 not in e.accounts and e.state_hash() == before


def test_min_amount():
    from exchange.core import Engine, InstrumentSpec

    eng = Engine([InstrumentSpec(name="X_USD", kind="spot", base="X", tick_size="0.01",
                                 min_amount=10)])
    fund(eng, 1)
    r = rejected(place(eng, 1, BUY, 9, 100, instrument="X_USD"))
    assert r.code == Code.QTY_TOO_LOW and r.reason == Reason.BELOW_MIN_AMOUNT


def test_off_tick_prices_are_refused_at_the_edge():
    from exchange.core import default_instruments

    spec = {s.name: s for s in default_instruments()}["GPUH_USD"]
    assert spec.price_to_ticks("2.345") == 2345
    assert spec.price_to_ticks(1.65) == 1650
    with pytest.raises(OffTickError):
        spec.price_to_ticks("2.3455")
    with pytest.raises(OffTickError):
        spec.price_to_ticks(float("nan"))


def test_change_ids_increase_by_one_per_delta(e):
    place(e, 1, SELL, 5, 2000)
    place(e, 1, SELL, 5, 2001)
    events = place(e, 2, BUY, 7, 2001)
    place(e, 2, BUY, 1, 1990)
    ids = []
    for ev in events:
        if isinstance(ev, BookDelta):
            ids.append(ev.change_id)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert e.change_ids[SPOT_NAME] == 5
