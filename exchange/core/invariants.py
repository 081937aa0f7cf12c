"""Internal-state validation, run after every command in the randomized tests.

Each check states one invariant of the design; a violation raises AssertionError naming it.
This is deliberately slow and thorough (it recomputes everything from scratch): it exists to
catch a fast path that drifted from the truth, not to run in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .instruments import FUTURE, SPOT, USD
from .messages import BUY, SELL

if TYPE_CHECKING:
    from .engine import Engine


def check(engine: Engine) -> None:
    _check_books(engine)
    _check_accounts(engine)
    _check_conservation(engine)


def _check_books(engine: Engine) -> None:
    seen: set[int] = set()
    orders = engine.orders
    for name, book in engine.books.items():
        best_bid, best_ask = book.best_bid(), book.best_ask()
        assert best_bid is None or best_ask is None or best_bid < best_ask, (
            f"{name}: book crossed ({best_bid} >= {best_ask})"
        )
        for side in (BUY, SELL):
            for price, total, queue in book.levels(side):
                assert queue, f"{name}: empty level {price} still listed"
                assert total == sum(o.qty for o in queue), f"{name}: level {price} total drifted"
                for order in queue:
                    assert order.qty > 0 and order.price == price and order.side == side
                    assert order.instrument == name
                    assert orders.get(order.id) is order, f"order {order.id} not indexed"
                    assert order.id not in seen, f"order {order.id} rests twice"
                    seen.add(order.id)
        if name in engine.settled:
            assert best_bid is None and best_ask is None, f"{name}: orders left after settlement"
    assert seen == set(orders), "open-order index disagrees with the books"


def _check_accounts(engine: Engine) -> None:
    system = {engine.config.fee_account, engine.config.insurance_account}
    registry = engine.registry.by_name
    open_interest: dict[str, int] = {}
    for account_id, acct in engine.accounts.items():
        reserved_cash = 0
        reserved_assets: dict[str, int] = {}
        for order_id, order in acct.open_orders.items():
            assert order.id == order_id and order.account == account_id, (
                f"account {account_id}: stale order {order_id}"
            )
            spec = registry[order.instrument]
            held = engine._reservation(spec, order.side, order.price, order.qty,
                                       order.reduce_only)
            if spec.kind == SPOT and order.side == SELL:
                reserved_assets[spec.base] = reserved_assets.get(spec.base, 0) + held
            else:
                reserved_cash += held
        assert acct.reserved == reserved_cash, f"account {account_id}: cash reservation drifted"
        for asset, amount in acct.asset_reserved.items():
            assert amount == reserved_assets.get(asset, 0), (
                f"account {account_id}: {asset} reservation drifted"
            )
        for asset, amount in acct.assets.items():
            assert amount >= 0, f"account {account_id}: negative {asset}"
            assert acct.asset_reserved.get(asset, 0) <= amount, (
                f"account {account_id}: more {asset} reserved than held"
            )
        assert acct.reserved >= 0
        if account_id not in system and not acct.has_positions():
            assert acct.cash >= 0, f"account {account_id}: negative cash {acct.cash}"
            assert acct.cash >= acct.reserved, f"account {account_id}: cash below reserved"
        for label, order_id in acct.labels.items():
            order = acct.open_orders.get(order_id)
            assert order is not None and order.label == label, f"label {label!r} dangling"
        assert acct.reduce_only_orders == sum(
            1 for o in acct.open_orders.values() if o.reduce_only
        ), f"account {account_id}: reduce-only count drifted"
        labelled = sum(1 for o in acct.open_orders.values() if o.label is not None)
        assert labelled == len(acct.labels), f"account {account_id}: duplicate label"
        for name, pos in acct.positions.items():
            assert registry[name].kind == FUTURE
            open_interest[name] = open_interest.get(name, 0) + pos.size
            if pos.size == 0:
                assert pos.cost == 0, f"account {account_id}: flat {name} position has cost"
            assert (account_id in engine.holders[name]) == (pos.size != 0)
    for name, net in open_interest.items():
        assert net == 0, f"{name}: open interest does not net to zero ({net})"


def _check_conservation(engine: Engine) -> None:
    """Cash and assets only enter or leave through deposits, withdrawals, mints and burns.

    For USD the conserved quantity is cash minus the open futures cost basis: trades move cost
    between counterparties, realizing P&L moves value between cost and cash, and settlement
    pays out cost against a zero-sum mark, so the total never changes (fees move to the fee
    account, liquidation deficits to the insurance fund).
    """
    registry = engine.registry.by_name
    total_usd = 0
    totals: dict[str, int] = {}
    for acct in engine.accounts.values():
        total_usd += acct.cash
        for name, pos in acct.positions.items():
            total_usd -= pos.cost * registry[name].tick_value
        for asset, amount in acct.assets.items():
            totals[asset] = totals.get(asset, 0) + amount
    assert total_usd == engine.external.get(USD, 0), (
        f"USD not conserved: {total_usd} held vs {engine.external.get(USD, 0)} deposited"
    )
    for asset in set(totals) | (set(engine.external) - {USD}):
        assert totals.get(asset, 0) == engine.external.get(asset, 0), f"{asset} not conserved"
