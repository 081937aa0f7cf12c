"""Seeded operation streams for the core benchmark.

Every engine in a run consumes the *same* list of operations, generated before any clock
starts, so differences in the figures come from the engines and not from the input. An
operation is a plain tuple of ints, the cheapest thing to iterate and the easiest to adapt to
any peer's API:

* ``(LIMIT, side, price, qty, oid)``: a limit order; ``oid`` numbers limit orders 1, 2, 3, ...
  across the setup and the timed part, which is also the order id our engine assigns (every
  order is funded, so none is rejected and none skips an id).
* ``(CANCEL, side, price, 0, oid)``: cancel the earlier order ``oid`` (its side and price are
  included for engines that need them). The target may already have traded away; each engine
  must treat that as a no-op, as a real venue would answer "not open".

A stream has an untimed ``setup`` (orders that build the starting book) and the timed ``ops``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LIMIT = 0
CANCEL = 1
BUY = 1
SELL = -1

MID = 5_000  # ticks; 0.001 USD ticks on GPUH_USD make this $5.000, a plausible GPU-hour price
STANDARD_SETUP = 2_000
DEEP_RESTING = 120_000
DEEP_SPREAD = 600  # deep-book setup orders sit 1..DEEP_SPREAD ticks from mid

Op = tuple[int, int, int, int, int]
KIND_NAMES = ("passive", "aggressive", "cancel")
PASSIVE, AGGRESSIVE, CANCELLING = range(3)


@dataclass
class Stream:
    name: str
    seed: int
    setup: list[Op]
    ops: list[Op]
    mid: int = MID
    mix: dict[str, int] = field(default_factory=dict)
    # oids whose cancel arrives after the order has fully traded; filled in by
    # ``bench.peers.mark_dead_cancels`` for peers that cannot be sent such a cancel
    dead_cancels: frozenset[int] = frozenset()
    # what each timed op was generated as (PASSIVE, AGGRESSIVE or CANCELLING), for latency
    # broken down by kind of operation
    kinds: bytes = b""
    # how many makers each timed op traded against (capped at 255), counted untimed with our
    # Book (``bench.ours.fills_per_op``), for latency by number of fills
    fills: bytes = b""

    @property
    def orders(self) -> int:
        """Limit orders in setup and ops together (the highest oid)."""
        return sum(1 for op in self.setup if op[0] == LIMIT) + self.mix.get("limits", 0)


def resting_orders(rng: np.random.Generator, n: int, mid: int, spread: int,
                   first_oid: int) -> list[Op]:
    """``n`` non-crossing passive orders 1..spread ticks from ``mid`` on a random side."""
    sides = np.where(rng.random(n) < 0.5, BUY, SELL)
    offsets = rng.integers(1, spread + 1, n)
    qtys = rng.integers(1, 101, n)
    prices = mid - sides * offsets
    return [
        (LIMIT, s, p, q, first_oid + i)
        for i, (s, p, q) in enumerate(zip(sides.tolist(), prices.tolist(), qtys.tolist(),
                                          strict=True))
    ]


def _mixed(rng: np.random.Generator, n: int, mid: int, first_oid: int,
           pool: list[tuple[int, int, int]]) -> tuple[list[Op], dict[str, int], bytes]:
    """The standard mix: ~70% passive limits 1-50 ticks from mid, ~20% aggressive limits
    crossing the mid by 1-10 ticks, ~10% cancels of earlier orders.

    The mid takes a slow random walk (one tick with probability 2%) so that, over a long
    stream, prices move through the book instead of piling up at fixed levels.
    ``pool`` holds (oid, side, price) of earlier orders that may still be live; a cancel picks
    one uniformly and removes it, so no order is cancelled twice.
    """
    kind_draw = rng.random(n).tolist()
    sides = np.where(rng.random(n) < 0.5, BUY, SELL).tolist()
    passive_off = rng.integers(1, 51, n).tolist()
    aggressive_off = rng.integers(1, 11, n).tolist()
    qtys = rng.integers(1, 101, n).tolist()
    steps = rng.choice([-1, 0, 1], size=n, p=[0.01, 0.98, 0.01])
    mids = (mid + np.cumsum(steps)).tolist()
    picks = rng.random(n).tolist()
    ops: list[Op] = []
    kinds = bytearray()
    oid = first_oid
    counts = {"passive": 0, "aggressive": 0, "cancels": 0}
    for i in range(n):
        draw = kind_draw[i]
        if draw >= 0.9 and pool:
            j = int(picks[i] * len(pool))
            pool[j], pool[-1] = pool[-1], pool[j]
            t_oid, t_side, t_price = pool.pop()
            ops.append((CANCEL, t_side, t_price, 0, t_oid))
            counts["cancels"] += 1
            kinds.append(CANCELLING)
            continue
        side = sides[i]
        if draw < 0.7 or draw >= 0.9:  # passive (also when nothing is left to cancel)
            price = mids[i] - side * passive_off[i]
            pool.append((oid, side, price))
            counts["passive"] += 1
            kinds.append(PASSIVE)
        else:
            price = mids[i] + side * aggressive_off[i]
            counts["aggressive"] += 1
            kinds.append(AGGRESSIVE)
        ops.append((LIMIT, side, max(1, price), qtys[i], oid))
        oid += 1
    counts["limits"] = oid - first_oid
    return ops, counts, bytes(kinds)


def standard_stream(seed: int = 1, n: int = 200_000, setup: int = STANDARD_SETUP) -> Stream:
    """About ``n`` ops of the standard mix on a book seeded with ``setup`` resting orders."""
    rng = np.random.default_rng(seed)
    setup_ops = resting_orders(rng, setup, MID, 50, 1)
    pool = [(o[4], o[1], o[2]) for o in setup_ops]
    ops, counts, kinds = _mixed(rng, n, MID, setup + 1, pool)
    return Stream("standard", seed, setup_ops, ops, MID, counts, kinds=kinds)


def deep_stream(seed: int = 1, n: int = 200_000, resting: int = DEEP_RESTING) -> Stream:
    """The standard mix on top of a deep book: ``resting`` orders spread over
    2 * DEEP_SPREAD levels (about 100 orders per level at the default size)."""
    rng = np.random.default_rng(seed + 1_000_003)
    setup_ops = resting_orders(rng, resting, MID, DEEP_SPREAD, 1)
    pool = [(o[4], o[1], o[2]) for o in setup_ops]
    ops, counts, kinds = _mixed(rng, n, MID, resting + 1, pool)
    return Stream("deep", seed, setup_ops, ops, MID, counts, kinds=kinds)
