"""Snapshots: an engine rebuilt from its snapshot is indistinguishable from the original."""

from __future__ import annotations

import random

import msgspec

from exchange.core import (
    BUY,
    SELL,
    AmendOrder,
    CancelOrder,
    Deposit,
    Engine,
    Mint,
    PlaceOrder,
    SetMark,
    Tick,
)
from tests.helpers import FUT_EXPIRY, FUT_NAME, SPOT_NAME, instruments


def random_commands(seed: int, n: int) -> list[tuple[int, object]]:
    """A mixed, seeded command stream touching spot, futures, GTD, amends and expiry."""
    rng = random.Random(seed)
    commands: list[tuple[int, object]] = []
    for account in range(1, 5):
        commands.append((0, Deposit(account=account, asset="USD", amount=10**10)))
        commands.append((0, Mint(account=account, asset="GPUH", amount=1000)))
    ts = 1
    for _ in range(n):
        ts += rng.randint(0, 3000)
        r = rng.random()
        account = rng.randint(1, 4)
        side = rng.choice((BUY, SELL))
        if r < 0.6:
            instrument = rng.choice((SPOT_NAME, FUT_NAME))
            kw: dict[str, object] = {}
            if rng.random() < 0.1:
                kw = {"tif": "gtd", "expire_ts": ts + rng.randint(1, 20_000)}
            elif rng.random() < 0.1:
                kw = {"tif": "ioc"}
            commands.append((ts, PlaceOrder(account=account, instrument=instrument, side=side,
                                            amount=rng.randint(1, 8),
                                            price=rng.randint(1990, 2010), **kw)))
        elif r < 0.75:
            commands.append((ts, CancelOrder(account=account, order_id=rng.randint(1, 400))))
        elif r < 0.9:
            commands.append((ts, AmendOrder(account=account, order_id=rng.randint(1, 400),
                                            price=rng.randint(1990, 2010))))
        elif r < 0.97:
            commands.append((ts, SetMark(instrument=FUT_NAME, price=rng.randint(1900, 2100))))
        else:
            commands.append((ts, Tick()))
    return commands


def test_restored_engine_continues_identically():
    commands = random_commands(seed=7, n=900)
    assert commands[-1][0] > FUT_EXPIRY  # the stream crosses the future's settlement
    for cut in (10, 250, 600):
        original = Engine(instruments())
        for ts, command in commands[:cut]:
            original.apply(command, ts)
        blob = msgspec.msgpack.encode(original.snapshot())
        restored = Engine.from_snapshot(msgspec.msgpack.decode(blob))
        assert restored.state_hash() == original.state_hash()
        restored.check_invariants()
        for ts, command in commands[cut:]:
            assert restored.apply(command, ts) == original.apply(command, ts)
        assert restored.state_hash() == original.state_hash()
        assert restored.snapshot() == original.snapshot()
