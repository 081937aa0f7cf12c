"""Value types for the options of every ``cmx`` command.

A number an option cannot take (a negative seed, zero workers, a port past 65535) is rejected
while the command line is parsed: argparse prints the usage line and an error naming the option
and what it accepts, and exits with status 2, before anything starts. Without them such values
surfaced as a traceback from deep inside a run, or were silently replaced by a default.
"""

from __future__ import annotations

import argparse
import math


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a seed: ``numpy.random.SeedSequence`` takes no negative entropy)."""
    value = _int(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count: workers, seeds, operations, repeats)."""
    value = _int(text, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0-65535 (0 lets the system pick one)."""
    value = _int(text, "a port number 0-65535")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a speed, a timeout, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value
