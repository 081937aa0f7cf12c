"""The interpreted form of ``book.Order``: a ``msgspec`` struct, untracked by the collector.

The interpreter builds and reads these faster than instances of a plain class, and
``gc=False`` keeps 100k+ live orders out of the cyclic collector's way. Compiled builds use
the extension type declared in ``book.pxd`` instead; both take the same positional fields.
"""

from __future__ import annotations

import msgspec

from .messages import GTC, STP_CANCEL_TAKER


class Order(msgspec.Struct, gc=False):
    """A live order. ``qty`` is the open (remaining) amount; zero marks a dead queue entry.

    What an order holds back (cash, asset or margin) is not stored: it is a pure function of
    its side, price and remaining amount (``Engine._reservation``), which keeps orders small
    and makes a drifting reservation impossible.
    """

    id: int
    account: int
    side: int
    price: int
    qty: int
    filled: int = 0
    ts: int = 0
    label: str | None = None
    reduce_only: bool = False
    instrument: str = ""
    tif: str = GTC
    expire_ts: int | None = None
    post_only: bool = False
    stp: str = STP_CANCEL_TAKER
