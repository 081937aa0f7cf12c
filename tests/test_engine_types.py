"""A command built in Python with a field of the wrong type is rejected with that field's
reason and changes nothing: the core's integers never become floats, and no value raises."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from exchange.core import (
    BUY,
    SELL,
    AmendOrder,
    Burn,
    CancelAll,
    CancelOrder,
    Deposit,
    Engine,
    InstrumentSpec,
    ListInstrument,
    Mint,
    OrderAccepted,
    PlaceOrder,
    Rejected,
    SetMark,
    Trade,
    Withdraw,
)
from exchange.core.codes import Reason
from exchange.core.instruments import SPOT
from exchange.core.validate import FIELD_REJECTS, SCHEMAS, first_bad_field
from tests.helpers import SPOT_NAME, instruments

TS = 10
INT_BAD = [1.0, 1.5, True, "1", np.int64(1), [1], float("nan")]
STR_BAD = [5, b"GPUH_USD", ["GPUH_USD"], 1.5]
BOOL_BAD = [0, 1, "yes", "", [True]]


def funded() -> tuple[Engine, int]:
    """Accounts 1 (buyer) and 2 (seller) with funds, and one resting order of account 1."""
    engine = Engine(instruments())
    engine.apply(Deposit(account=1, asset="USD", amount=10**12), 0)
    engine.apply(Mint(account=2, asset="GPUH", amount=10**6), 0)
    events = engine.apply(PlaceOrder(account=1, instrument=SPOT_NAME, side=BUY, amount=5,
                                     price=1000, label="resting"), 1)
    return engine, next(e.order_id for e in events if type(e) is OrderAccepted)


def valid_commands(order_id: int) -> list[msgspec.Struct]:
    """One command of each kind that the engine from ``funded()`` accepts, each using every
    field it has (a post-only GTD order with a label, so no field is ignored)."""
    spec = InstrumentSpec(name="KWH_TEST", kind=SPOT, base="KWH", tick_size="0.001")
    return [
        PlaceOrder(account=2, instrument=SPOT_NAME, side=SELL, amount=3, price=1200,
                   tif="gtd", expire_ts=10**9, post_only=True,
                   reject_post_only=False, reduce_only=False, label="mine",
                   stp="cancel_maker"),
        AmendOrder(account=1, order_id=order_id, amount=6, price=1001),
        CancelOrder(account=1, order_id=order_id),
        CancelAll(account=1, instrument=SPOT_NAME, label="resting"),
        Deposit(account=3, asset="USD", amount=100),
        Withdraw(account=1, asset="USD", amount=100),
        Mint(account=3, asset="GPUH", amount=7),
        Burn(account=2, asset="GPUH", amount=7),
        SetMark(instrument=SPOT_NAME, price=1100),
        ListInstrument(spec=spec),
    ]


def bad_values(accepted: tuple[type, ...]) -> list:
    if int in accepted:
        values = INT_BAD
    elif str in accepted:
        values = STR_BAD
    elif bool in accepted:
        values = BOOL_BAD
    else:
        values = [5, "spec", None]
    return [v for v in values if type(v) not in accepted]


def cases() -> list[tuple[int, str, object]]:
    out = []
    for index, command in enumerate(valid_commands(0)):
        for field, accepted, _ in SCHEMAS[type(command)]:
            for value in bad_values(accepted):
                out.append((index, field, value))
    return out


def test_the_valid_commands_are_accepted() -> None:
    for command in valid_commands(funded()[1]):
        engine, order_id = funded()
        command = msgspec.structs.replace(command, order_id=order_id) if hasattr(
            command, "order_id") else command
        events = engine.apply(command, TS)
        assert type(events[0]) is not Rejected, (command, events[0])
        assert first_bad_field(command) is None


@pytest.mark.parametrize(("index", "field", "value"), cases())
def test_a_field_of_the_wrong_type_is_rejected_and_changes_nothing(index: int, field: str,
                                                                    value: object) -> None:
    engine, order_id = funded()
    command = valid_commands(order_id)[index]
    bad = msgspec.structs.replace(command, **{field: value})
    before = engine.state_hash()
    events = engine.apply(bad, TS)
    assert len(events) == 1 and type(events[0]) is Rejected, events
    rejected = events[0]
    assert (rejected.code, rejected.reason) == FIELD_REJECTS[field], (field, value, rejected)
    # only well-typed identifiers are echoed back
    assert rejected.account is None or type(rejected.account) is int
    assert rejected.order_id is None or type(rejected.order_id) is int
    assert rejected.label is None or type(rejected.label) is str
    engine.check_invariants()
    # the clock moved to TS and nothing else did: the same as an engine that was only told
    # the time
    told, _ = funded()
    told.apply(SetMark(instrument="NOPE", price=1), TS)
    assert before != told.state_hash() == engine.state_hash()


@pytest.mark.parametrize("field", ["account", "side", "amount", "price", "instrument", "type",
                                   "stp", "post_only", "reduce_only"])
def test_a_plain_limit_order_checks_every_field_it_uses(field: str) -> None:
    """The fast path (a GTC limit order without options) checks its decisive fields too."""
    engine, _ = funded()
    plain = PlaceOrder(account=2, instrument=SPOT_NAME, side=SELL, amount=3, price=1200)
    value = {"account": 2.0, "side": -1.0, "amount": 3.0, "price": 1200.0,
             "instrument": ["GPUH_USD"], "type": ["limit"], "stp": ["cancel_taker"],
             "post_only": 0, "reduce_only": None}[field]
    events = engine.apply(msgspec.structs.replace(plain, **{field: value}), TS)
    assert [type(e) for e in events] == [Rejected]
    assert (events[0].code, events[0].reason) == FIELD_REJECTS[field]


def test_a_bool_side_and_a_bool_amount_are_not_ints() -> None:
    engine, _ = funded()
    for kw in ({"side": True}, {"amount": True}, {"price": True}):
        order = {"account": 1, "instrument": SPOT_NAME, "side": BUY, "amount": 2,
                 "price": 900, **kw}
        events = engine.apply(PlaceOrder(**order), TS)
        assert type(events[0]) is Rejected, kw


def test_fields_an_order_does_not_use_are_ignored() -> None:
    """Like Deribit: the price of a market order and the expiry of a GTC order are not read,
    so whatever they hold does not matter."""
    engine, _ = funded()
    events = engine.apply(PlaceOrder(account=2, instrument=SPOT_NAME, side=SELL, amount=1,
                                     type="market", price=12.5), TS)
    # accepted with its price-protection limit (an int), and it traded at the bid
    assert type(events[0]) is OrderAccepted and type(events[0].price) is int
    assert [e.price for e in events if type(e) is Trade] == [1000]
    events = engine.apply(PlaceOrder(account=2, instrument=SPOT_NAME, side=SELL, amount=1,
                                     price=1500, expire_ts=1.5), TS)
    assert type(events[0]) is OrderAccepted and type(events[0].price) is int


def test_reasons_of_fields_without_their_own_are_named() -> None:
    assert FIELD_REJECTS["post_only"][1] == Reason.INVALID_FLAG
    assert FIELD_REJECTS["order_id"][1] == Reason.INVALID_ORDER_ID
    every_field = {f for schema in SCHEMAS.values() for f, _, _ in schema}
    assert every_field <= set(FIELD_REJECTS), every_field - set(FIELD_REJECTS)
