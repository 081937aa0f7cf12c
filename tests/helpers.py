"""Small builders shared by the engine unit tests."""

from __future__ import annotations

from exchange.core import (
    BUY,
    SELL,
    Accepted,
    Deposit,
    Engine,
    InstrumentSpec,
    Mint,
    OrderAccepted,
    PlaceOrder,
    Rejected,
)
from exchange.core.instruments import FUTURE, SPOT

SPOT_NAME = "GPUH_USD"
FUT_NAME = "GPUH-TEST"
FUT_EXPIRY = 1_000_000


def instruments(**fut_overrides: object) -> list[InstrumentSpec]:
    """A spot GPU-hour market and one short-dated future settled on its TWAP."""
    fut: dict[str, object] = {
        "name": FUT_NAME,
        "kind": FUTURE,
        "base": "GPUH",
        "tick_size": "0.001",
        "expiry_ts": FUT_EXPIRY,
        "index": SPOT_NAME,
        "settlement_window_ns": 100_000,
        "initial_margin_bps": 1000,
        "maintenance_margin_bps": 500,
    }
    fut.update(fut_overrides)
    return [
        InstrumentSpec(name=SPOT_NAME, kind=SPOT, base="GPUH", tick_size="0.001"),
        InstrumentSpec(name="CCT_USD", kind=SPOT, base="CCT", tick_size="0.0001"),
        InstrumentSpec(**fut),  # type: ignore[arg-type]
    ]


def engine(**fut_overrides: object) -> Engine:
    return Engine(instruments(**fut_overrides))


def fund(e: Engine, account: int, usd: int = 10**12, gpuh: int = 0, ts: int = 0) -> None:
    assert isinstance(e.apply(Deposit(account=account, asset="USD", amount=usd), ts)[0], Accepted)
    if gpuh:
        assert isinstance(e.apply(Mint(account=account, asset="GPUH", amount=gpuh), ts)[0],
                          Accepted)


def place(e: Engine, account: int, side: int, amount: int, price: int | None = None,
          ts: int = 1, instrument: str = SPOT_NAME, **kw: object) -> list:
    events = e.apply(PlaceOrder(account=account, instrument=instrument, side=side,
                                amount=amount, price=price, **kw), ts)  # type: ignore[arg-type]
    e.check_invariants()
    return events


def order_id(events: list) -> int:
    first = events[0]
    assert isinstance(first, OrderAccepted), first
    return first.order_id


def rejected(events: list) -> Rejected:
    assert len(events) == 1 and isinstance(events[0], Rejected), events
    return events[0]


def of_type(events: list, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


__all__ = ["BUY", "SELL"]
