"""The recorder's trade and order tables hold exactly what the event stream says, in order.

Each table is checked against rows built the obvious way, one event at a time, by an observer
watching the same commands.
"""

from __future__ import annotations

from sim_helpers import small_noise_market

from exchange.core.messages import (
    CANCELLED,
    FILLED,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    Rejected,
    Trade,
)
from scenarios.recorder import ORDERS_SCHEMA, TRADES_SCHEMA
from scenarios.runner import Simulation


def _run(seed: int) -> tuple[Simulation, list[tuple], list[tuple]]:
    loaded = small_noise_market(900.0)
    sim = Simulation(loaded, seed=seed)
    trades: list[tuple] = []
    orders: list[tuple] = []

    def obvious_rows(command: object, events: list, ts: int) -> None:
        for e in events:
            if type(e) is Trade:
                trades.append((ts, e.instrument, e.trade_id, e.price, e.amount, e.aggressor,
                               e.maker_account, e.taker_account, e.maker_order_id,
                               e.taker_order_id))
            elif type(e) is OrderAccepted:
                orders.append((ts, e.account, e.order_id, e.instrument, "new", e.side, e.price,
                               e.amount, e.amount, e.type, e.tif, None))
            elif type(e) is OrderUpdated and e.status == CANCELLED:
                orders.append((e.ts, e.account, e.order_id, e.instrument, "cancelled", None,
                               e.price, e.filled, e.remaining, None, None, e.reason))
            elif type(e) is OrderUpdated and e.status == FILLED:
                orders.append((ts, e.account, e.order_id, e.instrument, "filled", None,
                               e.price, e.filled, 0, None, None, None))
            elif type(e) is Rejected and isinstance(command, PlaceOrder):
                c = command
                orders.append((ts, c.account, None, c.instrument, "rejected", c.side, c.price,
                               c.amount, None, c.type, c.tif, e.reason))

    sim.venue.observers.insert(0, obvious_rows)
    sim.run()
    return sim, trades, orders


def _rows(table: object) -> list[tuple]:
    columns = table.to_pydict()  # type: ignore[attr-defined]
    return list(zip(*columns.values(), strict=True))


def test_trade_and_order_tables_are_the_event_stream_row_by_row() -> None:
    sim, trades, orders = _run(seed=11)
    tables = sim.recorder.tables()
    assert tables["trades"].schema == TRADES_SCHEMA
    assert tables["orders"].schema == ORDERS_SCHEMA
    assert len(trades) > 500 and len(orders) > 2000  # busy enough to mean something
    actions = {row[4] for row in orders}
    assert {"new", "cancelled", "filled"} <= actions
    assert _rows(tables["trades"]) == trades
    assert _rows(tables["orders"]) == orders


def test_rejected_orders_are_logged_with_their_reason() -> None:
    sim, _, orders = _run(seed=11)
    # Reject one order on purpose (an unknown instrument) through the same venue and observer.
    sim.venue.apply_now(PlaceOrder(account=1, instrument="NOPE", side=1, amount=1, price=1))
    tables = sim.recorder.tables()
    last = _rows(tables["orders"])[-1]
    assert last[4] == "rejected" and last[3] == "NOPE" and last[2] is None
    assert last[11] == "unknown_instrument"
