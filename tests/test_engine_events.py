"""The event stream is the truth: a consumer that sees only events can rebuild the books,
the balances and the positions exactly, and detects any gap in book changes."""

from __future__ import annotations

from exchange.core import (
    BUY,
    SELL,
    BalanceChanged,
    BookDelta,
    Engine,
    PositionChanged,
)
from exchange.core.instruments import USD
from tests.helpers import instruments
from tests.test_snapshot import random_commands


def test_events_rebuild_books_balances_and_positions():
    engine = Engine(instruments())
    books: dict[str, dict[int, dict[int, int]]] = {
        name: {BUY: {}, SELL: {}} for name in engine.books
    }
    last_change: dict[str, int] = dict.fromkeys(engine.books, 0)
    balances: dict[tuple[int, str], tuple[int, int]] = {}
    positions: dict[tuple[int, str], tuple[int, int]] = {}
    deltas = 0
    for ts, command in random_commands(seed=21, n=1500):
        for event in engine.apply(command, ts):
            if isinstance(event, BookDelta):
                deltas += 1
                assert event.change_id == last_change[event.instrument] + 1, "gap in changes"
                last_change[event.instrument] = event.change_id
                side = books[event.instrument][event.side]
                if event.amount:
                    side[event.price] = event.amount
                else:
                    side.pop(event.price, None)
            elif isinstance(event, BalanceChanged):
                balances[(event.account, event.asset)] = (event.balance, event.reserved)
            elif isinstance(event, PositionChanged):
                positions[(event.account, event.instrument)] = (event.size, event.cost)
        for name, book in engine.books.items():
            for side in (BUY, SELL):
                assert sorted(books[name][side].items()) == sorted(book.depth(side)), name
        for account_id, acct in engine.accounts.items():
            if (account_id, USD) in balances:
                assert balances[(account_id, USD)] == (acct.cash, acct.reserved)
            for asset, held in acct.assets.items():
                assert balances[(account_id, asset)] == (held, acct.asset_reserved.get(asset, 0))
            for name, pos in acct.positions.items():
                assert positions[(account_id, name)] == (pos.size, pos.cost)
    assert deltas > 500
    assert last_change == engine.change_ids
