"""Rejection paths the order tests and the random sequences do not reach: amends out of range,
commands the engine does not know, and instrument specs that cannot be listed. Each rejection
names its reason and changes nothing."""

from __future__ import annotations

import re

import msgspec
import pytest

from exchange.core import (
    BUY,
    SELL,
    AmendOrder,
    Engine,
    InstrumentSpec,
    ListInstrument,
    Rejected,
)
from exchange.core.codes import Code, Reason
from exchange.core.engine import MAX_LOTS, MAX_TICKS
from exchange.core.instruments import FUTURE, SPOT, Registry
from exchange.core.messages import Command
from tests.helpers import fund, order_id, place, rejected

SPEC = InstrumentSpec(name="X_USD", kind=SPOT, base="X", tick_size="0.01", min_amount=10)


@pytest.fixture
def resting() -> tuple[Engine, int]:
    """An engine with one resting buy of 20 lots at 100 ticks (min amount 10)."""
    engine = Engine([SPEC])
    fund(engine, 1)
    return engine, order_id(place(engine, 1, BUY, 20, 100, instrument="X_USD"))


@pytest.mark.parametrize(("change", "code", "reason"), [
    ({"price": 0}, Code.INVALID_PRICE, Reason.INVALID_PRICE),
    ({"price": -5}, Code.INVALID_PRICE, Reason.INVALID_PRICE),
    ({"price": MAX_TICKS + 1}, Code.PRICE_TOO_HIGH, Reason.PRICE_TOO_HIGH),
    ({"amount": MAX_LOTS + 1}, Code.INVALID_AMOUNT, Reason.AMOUNT_TOO_LARGE),
    ({"amount": 9}, Code.QTY_TOO_LOW, Reason.BELOW_MIN_AMOUNT),
    ({"amount": 0}, Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT),
    ({}, Code.BAD_ARGUMENT, Reason.NOTHING_TO_AMEND),
])
def test_amends_out_of_range_are_rejected_and_change_nothing(resting, change: dict, code: int,
                                                             reason: str) -> None:
    engine, oid = resting
    before = engine.state_hash()
    r = rejected(engine.apply(AmendOrder(account=1, order_id=oid, **change), 1))
    assert (r.code, r.reason, r.order_id) == (code, reason, oid)
    assert engine.state_hash() == before
    engine.check_invariants()


def test_a_command_the_engine_does_not_know_is_rejected() -> None:
    class Unlisted(Command):
        account: int

    engine = Engine([SPEC])
    before = engine.state_hash()
    for command in (Unlisted(account=1), Command(), "PlaceOrder", None):
        events = engine.apply(command, 0)  # type: ignore[arg-type]
        assert len(events) == 1 and type(events[0]) is Rejected
        assert (events[0].code, events[0].reason) == (Code.BAD_ARGUMENT, Reason.UNKNOWN_COMMAND)
    assert engine.state_hash() == before


@pytest.mark.parametrize(("change", "problem"), [
    ({"tick_size": "abc"}, "tick_size and lot_size must be decimal strings"),
    ({"tick_size": "0"}, "tick_size and lot_size must be positive"),
    ({"lot_size": "-1"}, "tick_size and lot_size must be positive"),
    ({"tick_size": "0.0000001"}, "tick_size * lot_size must be a whole number of micro-USD"),
    ({"kind": "option"}, "kind must be"),
    ({"kind": FUTURE}, "a future needs expiry_ts"),
    ({"min_amount": 0}, "min_amount must be at least one lot"),
    ({"maintenance_margin_bps": 0}, "need 0 < maintenance_margin_bps"),
    ({"maintenance_margin_bps": 2000, "initial_margin_bps": 1000},
     "need 0 < maintenance_margin_bps"),
    ({"initial_margin_bps": 20_000}, "need 0 < maintenance_margin_bps"),
    ({"price_band_bps": 0}, "price_band_bps must be positive"),
])
def test_instrument_specs_that_cannot_be_listed(change: dict, problem: str) -> None:
    spec = msgspec.structs.replace(SPEC, **change)
    assert problem in (spec.validate() or "")
    with pytest.raises(ValueError, match=f"instrument X_USD: {re.escape(problem)}"):
        Registry([spec])
    engine = Engine([])
    before = engine.state_hash()
    r = rejected(engine.apply(ListInstrument(spec=spec), 0))
    assert (r.code, r.reason) == (Code.BAD_ARGUMENT, Reason.INVALID_INSTRUMENT_SPEC)
    assert engine.state_hash() == before


def test_listing_twice_or_an_expired_future_is_rejected() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        Registry([SPEC, SPEC])
    engine = Engine([SPEC])
    r = rejected(engine.apply(ListInstrument(spec=SPEC), 0))
    assert r.reason == Reason.DUPLICATE_INSTRUMENT
    expired = InstrumentSpec(name="X-OLD", kind=FUTURE, base="X", tick_size="0.01",
                             expiry_ts=100, index="X_USD")
    assert expired.validate() is None
    r = rejected(engine.apply(ListInstrument(spec=expired), 100))
    assert r.reason == Reason.INVALID_INSTRUMENT_SPEC
    assert "X-OLD" not in engine.registry
    # the same future listed before its expiry (on an engine whose clock is earlier) is
    # accepted
    fresh = Engine([SPEC])
    assert type(fresh.apply(ListInstrument(spec=expired), 99)[0]) is not Rejected
    assert "X-OLD" in fresh.registry


def test_a_sell_amend_is_checked_the_same_way(resting) -> None:
    engine, _ = resting
    fund(engine, 2)
    from exchange.core import Mint

    engine.apply(Mint(account=2, asset="X", amount=50), 1)
    oid = order_id(place(engine, 2, SELL, 20, 200, instrument="X_USD"))
    r = rejected(engine.apply(AmendOrder(account=2, order_id=oid, price=MAX_TICKS + 1), 2))
    assert r.reason == Reason.PRICE_TOO_HIGH
