"""The agent API: a strategy sees the market only through its ``Client``.

An agent is a plain object with three callbacks, all driven by its client:

* ``on_start()`` once, at the scenario's start (schedule the first wake-up here);
* ``on_wake(token)`` when a wake-up it asked for with ``client.wake_at`` is due;
* ``on_event(event)`` for every engine event about its own orders (acceptances, rejections,
  fills, cancellations), after the transport's latency.

Because nothing else reaches the agent, the same class runs in a fast in-process simulation and
against a live server over websockets. Randomness comes only from ``self.rng``, a generator the
runner spawns for this agent from the scenario's root ``SeedSequence``.

Each class declares ``Params``, a ``msgspec`` struct that is the single definition of what a
scenario file may set for it (unknown keys, wrong types and impossible values are rejected when
the file is loaded, not in the middle of a run).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from clients.base import Client

NS = 1_000_000_000
_BLOCK = 256  # uniforms drawn per refill


class NoParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """For agents without parameters."""


class Agent:
    """Base class of every agent."""

    Params: ClassVar[type[msgspec.Struct]] = NoParams
    #: False for agents that never look at their own order events: the venue then skips
    #: delivering them, which saves a message per order in large simulations.
    listens: ClassVar[bool] = True

    def __init__(self, agent_id: int, params: Any, rng: np.random.Generator,
                 instrument: str) -> None:
        self.agent_id = agent_id
        self.params = params
        self.rng = rng
        self.instrument = instrument
        self._uniforms: list[float] = []
        self.client: Client = None  # type: ignore[assignment]  # set by bind()

    def bind(self, client: Client) -> None:
        """Attach the client; called once before ``on_start``."""
        self.client = client
        spec = client.instrument(self.instrument)
        self.tick = float(spec.tick_size)
        self.base = spec.base
        self.is_future = spec.kind == "future"

    # -- callbacks -----------------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once at the start of the run."""

    def on_wake(self, token: object) -> None:
        """Called when a requested wake-up is due."""

    def on_event(self, event: object) -> None:
        """Called with each engine event about this agent's own orders."""

    # -- helpers -------------------------------------------------------------------------------
    def to_ticks(self, price: float) -> int:
        """Price in currency units -> nearest whole tick (at least one)."""
        return max(1, int(round(price / self.tick)))

    def uniform(self) -> float:
        """A uniform draw in [0, 1) from this agent's stream.

        Draws come from blocks of ``rng.random(256)``: one numpy call per 256 numbers instead
        of one per number, which matters when an agent acts a hundred thousand times a run.
        The sequence is still a pure function of the agent's seed.
        """
        buf = self._uniforms
        if not buf:
            buf = self._uniforms = self.rng.random(_BLOCK).tolist()
        return buf.pop()

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in [low, high]."""
        return low + int(self.uniform() * (high - low + 1))

    def exponential(self, mean: float) -> float:
        return -math.log(1.0 - self.uniform()) * mean

    def wake_in(self, seconds: float, token: object = None) -> None:
        self.client.wake_at(self.client.now() + int(seconds * NS), token)

    def wake_poisson(self, rate: float, token: object = None) -> None:
        """Next wake-up of a Poisson process with ``rate`` per second (none if rate is 0)."""
        if rate > 0:
            client = self.client
            client.wake_at(client.now() + int(self.exponential(1.0 / rate) * NS), token)

    def inventory(self) -> int:
        """Lots held: the futures position, or the spot asset's balance."""
        if self.is_future:
            return self.client.position(self.instrument)
        return self.client.holding(self.base)

    def reference_price(self, fallback: float) -> float:
        """Mid of the touch, else the last trade, else ``fallback`` (in ticks)."""
        client = self.client
        mid = client.mid(self.instrument)
        if mid is not None:
            return mid
        last = client.last_price(self.instrument)
        return float(last) if last is not None else fallback

    def metrics(self) -> dict[str, float]:
        """Class-specific numbers sampled with the agent state (the ``agent_metrics`` table),
        e.g. a ZI trader's surplus or a market maker's inventory."""
        return {}

    @classmethod
    def summarize(cls, agents: list[Agent]) -> dict[str, float]:
        """Run-level metrics computed from all agents of this class (e.g. efficiency)."""
        return {}
