"""The conftest keeps Hypothesis from mixing project constants into generated data, so property
tests generate the same examples in any test order (see tests/conftest.py)."""

from __future__ import annotations

import importlib

from hypothesis.internal.conjecture import providers


def test_local_constants_stay_empty_whatever_is_imported() -> None:
    importlib.import_module("exchange.core.engine")
    importlib.import_module("scenarios.runner")
    constants = providers._get_local_constants()
    assert len(constants) == 0, "Hypothesis is drawing project constants again"
