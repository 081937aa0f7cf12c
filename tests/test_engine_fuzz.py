"""Hostile input to the engine: extreme, negative and nonsensical values never crash it,
never break an invariant, and never produce state the journal or a snapshot cannot encode."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core import (
    AmendOrder,
    AnyCommand,
    Burn,
    CancelAll,
    CancelOrder,
    Deposit,
    Engine,
    Mint,
    PlaceOrder,
    Rejected,
    SetMark,
    Tick,
    Withdraw,
)
from exchange.journal import JournaledEngine, recover
from tests.helpers import FUT_NAME, SPOT_NAME, instruments

HUGE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**62, 2**63, 2**64, 10**12, 10**12 + 1]),
    st.integers(min_value=1, max_value=3000),
)
NAMES = st.sampled_from([SPOT_NAME, FUT_NAME, "CCT_USD", "", "NOPE", "GPUH_USD "])
ASSETS = st.sampled_from(["USD", "GPUH", "CCT", "", "BTC"])
ACCOUNTS = st.one_of(st.integers(min_value=-2, max_value=4), HUGE)
TEXT = st.one_of(st.none(), st.text(max_size=70))

commands = st.one_of(
    st.builds(PlaceOrder, account=ACCOUNTS, instrument=NAMES,
              side=st.sampled_from([1, -1, 0, 2]), amount=HUGE,
              price=st.one_of(st.none(), HUGE),
              type=st.sampled_from(["limit", "market", "stop", ""]),
              tif=st.sampled_from(["gtc", "gtd", "ioc", "fok", "day"]),
              post_only=st.booleans(), reject_post_only=st.booleans(),
              reduce_only=st.booleans(), label=TEXT,
              expire_ts=st.one_of(st.none(), HUGE),
              stp=st.sampled_from(["cancel_taker", "cancel_maker", "cancel_both", "x"])),
    st.builds(AmendOrder, account=ACCOUNTS, order_id=HUGE,
              amount=st.one_of(st.none(), HUGE), price=st.one_of(st.none(), HUGE)),
    st.builds(CancelOrder, account=ACCOUNTS, order_id=HUGE),
    st.builds(CancelAll, account=ACCOUNTS, instrument=st.one_of(st.none(), NAMES),
              label=TEXT),
    st.builds(Deposit, account=ACCOUNTS, asset=ASSETS, amount=HUGE),
    st.builds(Withdraw, account=ACCOUNTS, asset=ASSETS, amount=HUGE),
    st.builds(Mint, account=ACCOUNTS, asset=ASSETS, amount=HUGE),
    st.builds(Burn, account=ACCOUNTS, asset=ASSETS, amount=HUGE),
    st.builds(SetMark, instrument=NAMES, price=HUGE),
    st.builds(Tick),
)


def funded_engine() -> Engine:
    engine = Engine(instruments())
    for account in (1, 2, 3):
        engine.apply(Deposit(account=account, asset="USD", amount=10**13), 0)
        engine.apply(Mint(account=account, asset="GPUH", amount=10**4), 0)
    return engine


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=2_000_000), commands),
                min_size=1, max_size=60))
def test_hostile_commands_keep_the_engine_sound(sequence):
    engine = funded_engine()
    for ts, command in sequence:
        before, clock = engine.state_hash(), engine.now
        events = engine.apply(command, ts)
        assert events, "every command gets an answer"
        engine.check_invariants()
        if isinstance(events[0], Rejected) and len(events) == 1 and ts <= clock:
            assert engine.state_hash() == before
        msgspec.msgpack.encode(engine.snapshot())  # always encodable


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=2_000_000), commands),
                min_size=1, max_size=40))
def test_hostile_commands_are_journaled_and_replayed_exactly(tmp_path_factory, sequence):
    directory = tmp_path_factory.mktemp("journal")
    journaled = JournaledEngine(directory, instruments())
    for account in (1, 2, 3):
        journaled.apply(Deposit(account=account, asset="USD", amount=10**13), 0)
    for ts, command in sequence:
        journaled.apply(command, ts)
    journaled.close()
    engine, _ = recover(directory)
    assert engine.state_hash() == journaled.engine.state_hash()


def test_wrong_types_are_refused_at_decode_time():
    bad = [
        b'{"cmd":"PlaceOrder","account":1,"instrument":"GPUH_USD","side":1,"amount":"5"}',
        b'{"cmd":"PlaceOrder","account":1,"instrument":"GPUH_USD","side":1,"amount":1.5}',
        b'{"cmd":"PlaceOrder","account":1,"instrument":7,"side":1,"amount":1}',
        b'{"cmd":"Nope"}',
        b'{"cmd":"CancelOrder","account":1}',
        b'{"cmd":"CancelOrder","account":1,"order_id":1,"extra":[[[[1]]]]}',
        b'[1,2,3]',
        b'{"cmd":"PlaceOrder","account":1,"instrument":"GPUH_USD","side":1,"amount":NaN}',
    ]
    decoder = msgspec.json.Decoder(AnyCommand)
    accepted = 0
    for raw in bad:
        try:
            decoder.decode(raw)
            accepted += 1
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    # unknown fields are ignored by design (forward compatibility); everything else is refused
    assert accepted == 1
