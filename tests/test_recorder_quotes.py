"""The quotes table is exactly the sequence of distinct touches, command by command."""

from __future__ import annotations

import msgspec
from sim_helpers import small_noise_market

from scenarios.runner import Simulation


def test_quotes_match_the_touch_read_after_every_command() -> None:
    sim = Simulation(small_noise_market(900.0), seed=7)
    engine = sim.engine
    expected: list[tuple] = []
    last: dict[str, tuple] = {}

    def touch_after_each_command(command: object, events: list, ts: int) -> None:
        # The obvious way: read the touch of every book after every command, keep changes.
        for name, book in engine.books.items():
            bid, ask = book.best_bid(), book.best_ask()
            quote = (bid, book.level_total(1, bid) if bid is not None else None,
                     ask, book.level_total(-1, ask) if ask is not None else None)
            if name in last and last[name] == quote:
                continue
            if name not in last and quote == (None, None, None, None):
                continue  # an empty book was never quoted
            last[name] = quote
            expected.append((ts, name, *quote))

    sim.venue.observers.append(touch_after_each_command)
    sim.run()
    assert len(expected) > 1000  # the market is busy enough for the test to mean something
    assert [msgspec.structs.astuple(q) for q in sim.recorder.quotes] == expected
