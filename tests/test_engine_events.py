"""The event stream is the truth: a consumer that sees only events can rebuild the books,
the balances and the positions exactly, and detects any gap in book changes."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from strategies import CONFIG, Scenario, make_universe, resolve, scenarios

from exchange.core import (
    BUY,
    SELL,
    BalanceChanged,
    BookDelta,
    Engine,
    PositionChanged,
)
from exchange.core.implementation import interpreted_core
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


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(scenario=scenarios())
def test_without_balance_events_everything_else_is_the_same(scenario: Scenario) -> None:
    """``EngineConfig(balance_events=False)`` (what simulations use) drops exactly the
    ``BalanceChanged`` events: every other event, in order, the balances and the state hash
    are those of an engine that reports them, compiled and interpreted."""
    specs = make_universe(scenario.near_expiry, scenario.far_expiry)
    quiet_config = msgspec.structs.replace(CONFIG, balance_events=False)
    for engine_cls in (Engine, interpreted_core().Engine):
        full = engine_cls(specs, CONFIG)
        quiet = engine_cls(specs, quiet_config)
        dropped = 0
        for step, op in enumerate(scenario.ops):
            command, ts = resolve(op, full)
            assert resolve(op, quiet) == (command, ts), f"step {step}"
            events = full.apply(command, ts)
            kept = [e for e in events if type(e) is not BalanceChanged]
            dropped += len(events) - len(kept)
            assert quiet.apply(command, ts) == kept, f"step {step}: {command!r}"
        assert dropped > 0  # the sequence did move balances
        assert quiet.state_hash() == full.state_hash()
        assert quiet.snapshot() == full.snapshot()
