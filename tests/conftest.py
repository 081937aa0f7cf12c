"""Test-session settings shared by every test module.

Hypothesis draws some values from constants it finds in the source of the *local* modules
loaded so far (``hypothesis.internal.conjecture.providers._get_local_constants``), so what a
derandomized property test generates depends on which modules earlier tests happened to import,
and on every literal added anywhere in the project. Several property tests here assert that
their random sequences reach given paths (tests/test_differential.py, tests/test_conservation.py);
with that pool in play they passed or failed depending on test order. Keeping the pool empty
makes each test's examples a function of its own seed and strategies only, in any order or
subset. tests/test_hypothesis_setup.py checks that this still takes effect.
"""

from __future__ import annotations

from hypothesis.internal.conjecture import providers

if hasattr(providers, "_get_local_constants") and hasattr(providers, "_local_constants"):
    _EMPTY = providers._local_constants

    def _no_local_constants() -> object:
        return _EMPTY

    providers._get_local_constants = _no_local_constants
