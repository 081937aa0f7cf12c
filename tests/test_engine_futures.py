"""Unit tests: futures margin, P&L, reduce-only, liquidation, settlement, fees."""

from __future__ import annotations

import pytest

from exchange.core import (
    BUY,
    SELL,
    CancelAll,
    Code,
    Engine,
    InstrumentSpec,
    Liquidated,
    OrderUpdated,
    PositionChanged,
    Reason,
    SetMark,
    Settled,
    Tick,
    Trade,
    Withdraw,
)
from tests.helpers import (
    FUT_EXPIRY,
    FUT_NAME,
    SPOT_NAME,
    engine,
    fund,
    instruments,
    of_type,
    order_id,
    place,
    rejected,
)

TV = 1000  # micro-USD per tick per contract for a 0.001 tick


def fut(e, account, side, amount, price, ts=1, **kw):
    return place(e, account, side, amount, price, ts=ts, instrument=FUT_NAME, **kw)


def test_initial_margin_is_reserved_and_enforced():
    e = engine()
    # 10 contracts at 2.000 USD, 10% initial margin = 2.000 USD
    fund(e, 1, usd=2 * 1_000_000)
    assert rejected(fut(e, 1, BUY, 11, 2000)).reason == Reason.NOT_ENOUGH_MARGIN
    oid = order_id(fut(e, 1, BUY, 10, 2000))
    assert e.accounts[1].reserved == 2_000_000
    assert rejected(fut(e, 1, SELL, 1, 2100)).code == Code.NOT_ENOUGH_FUNDS
    e.apply(CancelAll(account=1), 2)
    assert e.accounts[1].reserved == 0
    assert oid not in e.orders


def test_realized_and_unrealized_pnl_are_exact():
    e = engine()
    fund(e, 1)
    fund(e, 2)
    fut(e, 1, SELL, 3, 2000)
    fut(e, 1, SELL, 3, 2001)
    fut(e, 2, BUY, 4, 2001)  # long 3 @ 2000 + 1 @ 2001: cost 8001
    pos = e.accounts[2].positions[FUT_NAME]
    assert (pos.size, pos.cost) == (4, 8001)
    fund(e, 3)
    fut(e, 3, BUY, 2, 2100)  # lifts account 1's last 2 @ 2.001 and rests nothing
    fut(e, 3, BUY, 2, 2100)  # resting bid at 2.100
    cash_before = e.accounts[2].cash
    fut(e, 2, SELL, 2, 2100)  # close 2 of 4: realize 2*2100 - floor(2*8001/4) = 200 ticks
    assert e.accounts[2].cash - cash_before == 200 * TV
    assert (pos.size, pos.cost) == (2, 8001 - 4200 + 200)
    assert pos.realized == 200 * TV
    e.apply(SetMark(instrument=FUT_NAME, price=2200), 3)
    acct = e.accounts[2]
    assert e.equity(acct) - acct.cash == (2 * 2200 - pos.cost) * TV
    e.check_invariants()


def test_position_flip_keeps_cost_basis_of_new_side():
    e = engine()
    fund(e, 1)
    fund(e, 2)
    fut(e, 1, SELL, 10, 2000)
    fut(e, 2, BUY, 10, 2000)
    fut(e, 1, BUY, 15, 2100)
    fut(e, 2, SELL, 15, 2100)
    pos = e.accounts[2].positions[FUT_NAME]
    assert (pos.size, pos.cost) == (-5, -5 * 2100)
    assert pos.realized == 10 * 100 * TV
    e.check_invariants()


def test_reduce_only_caps_and_rejects():
    e = engine()
    fund(e, 1)
    fund(e, 2)
    assert rejected(fut(e, 2, SELL, 1, 2000, reduce_only=True)).reason == (
        Reason.REDUCE_ONLY_NO_POSITION
    )
    fut(e, 1, SELL, 5, 2000)
    fut(e, 2, BUY, 5, 2000)  # account 2 long 5
    assert rejected(fut(e, 2, BUY, 1, 1900, reduce_only=True)).reason == (
        Reason.REDUCE_ONLY_NO_POSITION
    )
    events = fut(e, 2, SELL, 8, 2100, reduce_only=True)
    assert events[0].amount == 5 and events[0].reduce_only
    assert e.accounts[2].reserved == 0  # reduce-only orders need no margin
    assert rejected(fut(e, 2, SELL, 1, 2200, reduce_only=True)).reason == (
        Reason.REDUCE_ONLY_NO_POSITION
    )


def test_resting_reduce_only_is_trimmed_when_position_shrinks():
    e = engine()
    fund(e, 1)
    fund(e, 2)
    fut(e, 1, SELL, 5, 2000)
    fut(e, 2, BUY, 5, 2000)
    ro = order_id(fut(e, 2, SELL, 5, 2200, reduce_only=True))
    fut(e, 1, BUY, 3, 1990)
    events = fut(e, 2, SELL, 3, 1990)  # position now 2: the reduce-only order shrinks to 2
    trimmed = [u for u in of_type(events, OrderUpdated) if u.order_id == ro]
    assert trimmed and trimmed[-1].remaining == 2
    assert trimmed[-1].reason == Reason.REDUCE_ONLY_TRIMMED
    fut(e, 1, BUY, 2, 1990)
    events = fut(e, 2, SELL, 2, 1990)  # flat: the reduce-only order must go
    assert ro not in e.orders
    e.check_invariants()


def test_liquidation_closes_positions_in_book_and_insurance_covers_deficit():
    e = engine()
    fund(e, 1, usd=300_000)  # 0.30 USD: enough for 1 contract at 2.000 (IM 0.20)
    fund(e, 2)
    fund(e, 3)
    fut(e, 2, SELL, 1, 2000)
    fut(e, 1, BUY, 1, 2000)  # account 1 long 1 @ 2.000
    fut(e, 3, BUY, 1, 1600)  # a bid inside the 10% band below the mark absorbs it
    fut(e, 1, SELL, 5, 2500, reduce_only=True)  # capped to 1, cancelled by liquidation
    events = e.apply(SetMark(instrument=FUT_NAME, price=1700), 5)
    (liq,) = of_type(events, Liquidated)
    assert liq.account == 1
    assert liq.equity == 300_000 - 300 * TV and liq.maintenance == 1700 * TV * 500 // 10_000
    trades = of_type(events, Trade)
    assert trades and all(t.liquidation for t in trades)
    assert trades[0].price == 1600 and trades[0].taker_account == 1
    assert e.accounts[1].positions[FUT_NAME].size == 0
    assert e.accounts[1].open_orders == {}
    # loss 0.40 USD on 0.30 USD of cash: the insurance fund pays the 0.10 USD deficit
    assert liq.deficit_covered == 100_000
    assert e.accounts[1].cash == 0
    assert e.accounts[-1].cash == -100_000
    e.check_invariants()


def test_liquidation_without_liquidity_transfers_to_insurance_fund():
    e = engine()
    fund(e, 1, usd=300_000)
    fund(e, 2)
    fut(e, 2, SELL, 1, 2000)
    fut(e, 1, BUY, 1, 2000)
    events = e.apply(SetMark(instrument=FUT_NAME, price=1700), 5)
    assert of_type(events, Liquidated)
    assert not of_type(events, Trade)
    assert e.accounts[1].positions[FUT_NAME].size == 0
    assert e.accounts[-1].positions[FUT_NAME].size == 1
    assert any(isinstance(x, PositionChanged) and x.account == -1 for x in events)
    e.check_invariants()


def test_healthy_accounts_are_not_liquidated():
    e = engine()
    fund(e, 1)
    fund(e, 2)
    fut(e, 2, SELL, 1, 2000)
    fut(e, 1, BUY, 1, 2000)
    assert not of_type(e.apply(SetMark(instrument=FUT_NAME, price=100), 5), Liquidated)


def test_settlement_pays_twap_of_spot_over_window():
    e = engine()
    for a in (1, 2, 3, 4):
        fund(e, a, gpuh=100)
    fut(e, 1, SELL, 2, 2000)
    fut(e, 2, BUY, 2, 2000)
    window_start = FUT_EXPIRY - 100_000
    # spot trades at 1.800 before the window and 2.200 from its midpoint on
    place(e, 3, SELL, 1, 1800, ts=window_start - 10)
    place(e, 4, BUY, 1, 1800, ts=window_start - 10)
    place(e, 3, SELL, 1, 2200, ts=window_start + 50_000)
    place(e, 4, BUY, 1, 2200, ts=window_start + 50_000)
    resting = order_id(fut(e, 3, BUY, 1, 1000, ts=window_start + 60_000))
    cash = {a: e.accounts[a].cash for a in (1, 2)}
    events = e.apply(Tick(), FUT_EXPIRY)
    (settled,) = of_type(events, Settled)
    assert settled.price == 2000  # half the window at 1.800, half at 2.200
    assert e.accounts[2].cash - cash[2] == 0 and e.accounts[1].cash - cash[1] == 0
    assert resting not in e.orders
    assert rejected(fut(e, 1, BUY, 1, 2000, ts=FUT_EXPIRY + 1)).code == Code.ORDERBOOK_CLOSED
    e.check_invariants()


def test_settlement_moves_cash_by_pnl():
    e = engine()
    for a in (1, 2, 3, 4):
        fund(e, a, gpuh=100)
    fut(e, 1, SELL, 2, 2000)
    fut(e, 2, BUY, 2, 2000)
    place(e, 3, SELL, 1, 2500, ts=10)
    place(e, 4, BUY, 1, 2500, ts=10)
    cash = {a: e.accounts[a].cash for a in (1, 2)}
    e.apply(Tick(), FUT_EXPIRY + 5)
    assert e.settled[FUT_NAME] == 2500
    assert e.accounts[2].cash - cash[2] == 2 * 500 * TV
    assert e.accounts[1].cash - cash[1] == -2 * 500 * TV
    assert e.accounts[2].positions[FUT_NAME].size == 0
    e.check_invariants()


@pytest.mark.parametrize(("maker_ppm", "taker_ppm"), [(100, 500), (-100, 500), (0, 0)])
def test_fees_go_to_fee_account_and_usd_is_conserved(maker_ppm, taker_ppm):
    specs = [
        InstrumentSpec(name=s.name, kind=s.kind, base=s.base, tick_size=s.tick_size,
                       expiry_ts=s.expiry_ts, index=s.index, maker_fee_ppm=maker_ppm,
                       taker_fee_ppm=taker_ppm)
        for s in instruments()
    ]
    e = Engine(specs)
    fund(e, 1, gpuh=10)
    fund(e, 2)
    place(e, 1, SELL, 10, 2000)
    events = place(e, 2, BUY, 10, 2000)
    (trade,) = of_type(events, Trade)
    notional = 10 * 2000 * TV
    assert trade.taker_fee == -(-notional * taker_ppm // 1_000_000)
    assert trade.maker_fee == (notional * maker_ppm // 1_000_000 if maker_ppm >= 0
                               else -(notional * -maker_ppm // 1_000_000))
    fee_cash = e.accounts[0].cash if 0 in e.accounts else 0
    assert fee_cash == trade.maker_fee + trade.taker_fee
    fut(e, 1, SELL, 3, 2000)
    fut(e, 2, BUY, 3, 2000)
    e.check_invariants()


def test_withdraw_cannot_touch_reserved_or_margin():
    e2 = engine()
    fund(e2, 1, usd=1_000_000)
    order_id(place(e2, 1, BUY, 250, 2))  # 250 GPU-hours at 0.002 USD reserve 0.50 USD
    assert rejected(e2.apply(Withdraw(account=1, asset="USD", amount=600_000), 2)).code == (
        Code.NOT_ENOUGH_FUNDS
    )
    assert e2.apply(Withdraw(account=1, asset="USD", amount=500_000), 2)[0].command == "Withdraw"
    e2.check_invariants()


def test_spot_index_observes_trades():
    e = engine()
    fund(e, 1, gpuh=5)
    fund(e, 2)
    place(e, 1, SELL, 1, 2345, ts=7)
    place(e, 2, BUY, 1, 2345, ts=7)
    assert e.indexes[SPOT_NAME].last() == 2345
    assert e.last_prices[SPOT_NAME] == 2345
