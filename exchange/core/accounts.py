"""Account state: cash, assets, reservations and futures positions.

Plain ``__slots__`` classes: the engine mutates them in place on every fill, so attribute
access speed matters more than immutability here. All amounts are integers: cash in micro-USD,
assets in lots of their spot instrument, positions in contracts, costs in tick-lots.
"""

from __future__ import annotations

from .book import Order


class Position:
    """A futures position.

    ``cost`` is the signed sum of amount*price (tick-lots) still open, so the average entry is
    ``cost / size`` and the unrealized P&L at mark ``m`` is ``(size*m - cost) * tick_value``,
    exactly, in integers. Realizing P&L moves an integer amount X from unrealized to cash by
    adding X to ``cost``, which keeps total equity exactly unchanged (see docs/exchange.md).
    """

    __slots__ = ("size", "cost", "realized")

    def __init__(self) -> None:
        self.size = 0
        self.cost = 0
        self.realized = 0  # cumulative realized P&L, micro-USD

    def unrealized_ticks(self, mark: int) -> int:
        return self.size * mark - self.cost


class Account:
    __slots__ = (
        "id",
        "cash",
        "reserved",
        "assets",
        "asset_reserved",
        "positions",
        "open_orders",
        "labels",
        "reduce_only_orders",
    )

    def __init__(self, account_id: int) -> None:
        self.id = account_id
        self.cash = 0  # micro-USD
        self.reserved = 0  # micro-USD held for open buy orders and futures initial margin
        self.assets: dict[str, int] = {}
        self.asset_reserved: dict[str, int] = {}
        self.positions: dict[str, Position] = {}
        self.open_orders: dict[int, Order] = {}  # insertion order = age
        self.labels: dict[str, int] = {}  # label -> open order id
        # How many open orders are reduce-only: lets a fill skip the reduce-only trim (a scan
        # of the account's orders) in the common case where there are none.
        self.reduce_only_orders = 0

    def free_cash(self) -> int:
        return self.cash - self.reserved

    def free_asset(self, asset: str) -> int:
        return self.assets.get(asset, 0) - self.asset_reserved.get(asset, 0)

    def has_positions(self) -> bool:
        return any(p.size for p in self.positions.values())
