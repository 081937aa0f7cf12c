"""Sans-I/O exchange core: instruments, books, accounts and the matching engine."""
# ruff: noqa: E402 - the implementation is chosen before the hot modules are imported

from .implementation import select as _select_implementation

# Compiled or interpreted: decided before the first import of the hot modules (see there).
IMPLEMENTATION = _select_implementation()

from . import messages as _messages
from .book import Book, Order
from .codes import Code, Reason
from .engine import Engine, EngineConfig
from .instruments import (
    FUTURE,
    SPOT,
    USD,
    USD_SCALE,
    InstrumentSpec,
    OffTickError,
    Registry,
    default_instruments,
    monthly_futures,
)
from .messages import *  # noqa: F403 - the message vocabulary is the core's public API

_NOT_EXPORTED = ("msgspec", "annotations", "InstrumentSpec")
__all__ = [n for n in vars(_messages) if not n.startswith("_") and n not in _NOT_EXPORTED]
__all__ += [
    "IMPLEMENTATION",
    "FUTURE",
    "SPOT",
    "USD",
    "USD_SCALE",
    "Book",
    "Code",
    "Engine",
    "EngineConfig",
    "InstrumentSpec",
    "OffTickError",
    "Order",
    "Reason",
    "Registry",
    "default_instruments",
    "monthly_futures",
]
