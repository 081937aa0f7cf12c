"""The compute economy on a live server: what the economy driver needs of a simulation.

``scenarios.economy_driver.EconomyDriver`` steps the macro economy against a ``Simulation``:
it reads the engine, applies its mints, burns, deposits and withdrawals through
``venue.apply_now``, watches every command's events through ``venue.observers`` and joins the
run with ``every(period, step)``. :class:`LiveHost` offers the same surface on the gateway of
``cmx serve --scenario``, so the very same driver (and the same strategic agents, each on its
own websocket connection) runs live and external bots trade the GPU-hour strip, spot hours,
kWh and the compute-credit token alongside the lab, the sellers and the token holders.

What changes live: the driver's commands go through the gateway (``Gateway.execute`` then
``publish``), so subscribers see the mints and balance changes like any other event; its
steps run on the event loop at the virtual instants ``start + first + k * period`` of the
scaled clock; and the engine's clock is that same virtual clock, so the strip expires and
settles at the scenario's dates. A step runs synchronously between two websocket messages, so
a period's close (cancel the entities' orders, burn what is unsold, settle the ledger) is as
atomic as in-process; an order in flight across a boundary simply lands in the next period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clients.live import LiveClock
from exchange.core.messages import Command

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import Agent
    from exchange.gateway.protocol import Gateway

log = logging.getLogger("scenarios.live")

NS = 1_000_000_000
Step = Callable[[Any], None]


class LiveKernelClock:
    """``kernel.now`` for the driver: the live virtual clock."""

    __slots__ = ("clock",)

    def __init__(self, clock: LiveClock) -> None:
        self.clock = clock

    @property
    def now(self) -> int:
        return self.clock.now()


class LiveVenue:
    """``venue`` for the driver: its commands go through the gateway and are published."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.observers = gateway.venue.observers  # shared: the driver sees every command
        # Agents learn of the driver's cancellations from their private channels, not from a
        # direct delivery as in-process clients do.
        self.listeners: dict[int, Any] = {}

    def apply_now(self, command: Command) -> list:
        events = self.gateway.execute(command)
        self.gateway.publish()
        return events


class LiveHost:
    """The slice of ``scenarios.runner.Simulation`` that ``EconomyDriver`` uses, live."""

    def __init__(self, gateway: Gateway, clock: LiveClock, start_ns: int, end_ns: int,
                 agents: list[Agent]) -> None:
        self.engine = gateway.venue.engine
        self.venue = LiveVenue(gateway)
        self.kernel = LiveKernelClock(clock)
        self.clock = clock
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.agents = agents
        self.steps_run = 0
        self._processes: list[tuple[int, int, Step]] = []  # (next due ns, period ns, step)

    def every(self, seconds: float, step: Step, first: float | None = None) -> None:
        """Run ``step(host)`` every ``seconds`` of virtual time, as ``Simulation.every``."""
        period = int(seconds * NS)
        if period <= 0:
            raise ValueError("the period must be positive")
        start = self.start_ns + (period if first is None else int(first * NS))
        if start <= self.end_ns:
            self._processes.append((start, period, step))

    def run_due(self) -> int:
        """Run every step due by now, oldest first; returns how many ran."""
        ran = 0
        now = self.clock.now()
        while True:
            due = [i for i, (ts, _, _) in enumerate(self._processes) if ts <= now]
            if not due:
                return ran
            i = min(due, key=lambda k: (self._processes[k][0], k))
            ts, period, step = self._processes[i]
            step(self)
            ran += 1
            self.steps_run += 1
            nxt = ts + period
            if nxt <= self.end_ns:
                self._processes[i] = (nxt, period, step)
            else:
                del self._processes[i]

    async def run(self) -> None:
        """Run the stepped processes on the event loop until none is left. A step that
        raises ends the live scenario with its error, as it would end ``cmx run``."""
        loop = asyncio.get_running_loop()
        while self._processes:
            self.run_due()
            if not self._processes:
                return
            due = min(ts for ts, _, _ in self._processes)
            delay = self.clock.loop_time(due) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
