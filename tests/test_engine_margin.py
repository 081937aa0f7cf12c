"""The one-pass available-margin computation agrees with equity and margin requirements."""

from __future__ import annotations

from exchange.core import Engine
from tests.helpers import instruments
from tests.test_snapshot import random_commands


def test_available_margin_matches_its_definition():
    engine = Engine(instruments())
    checked = 0
    for ts, command in random_commands(seed=31, n=800):
        engine.apply(command, ts)
        for acct in engine.accounts.values():
            expected = engine.equity(acct) - engine.margin_requirements(acct)[0] - acct.reserved
            assert engine.available_margin(acct) == expected
            checked += acct.has_positions()
    assert checked > 100
