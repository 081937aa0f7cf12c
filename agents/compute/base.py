"""Base class of the strategic agents: an ``Agent`` bound to one economy entity."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from agents.base import Agent
from agents.compute.ladder import dutch_ask
from agents.compute.view import EconomyView


class EconomyAgent(Agent):
    """An agent that trades for one entity of the economy (``params.entity``).

    Its exchange account *is* the entity's account: the economy mints its GPU-hours there and
    moves its cash there. ``attach_view`` is called by the economy driver before the run; an
    agent with no view (e.g. run without an economy) does nothing.
    """

    #: wake-ups per economy period
    steps: int = 12
    #: True for agents that trade from their own, separately capitalised account rather than
    #: an economy entity's (token holders, the token dealer): the driver then gives them no
    #: entity and keeps their cash out of the flow-of-funds ledger
    own_account: ClassVar[bool] = False

    def __init__(self, agent_id: int, params: Any, rng: np.random.Generator,
                 instrument: str) -> None:
        super().__init__(agent_id, params, rng, instrument)
        self.view: EconomyView | None = None
        self.current = -1  # the period this agent last acted in
        self.woken = False  # whether it has scheduled a wake-up yet

    @property
    def entity(self) -> str:
        return self.params.entity

    def attach_view(self, view: EconomyView) -> None:
        self.view = view
        self.steps = int(getattr(self.params, "steps", self.steps))

    def on_start(self) -> None:
        if self.view is not None:
            self._schedule_next()

    def _schedule_next(self) -> None:
        """Wake once in each of ``steps`` equal slices of every period, at a random point of
        the slice's middle half: never at a period boundary, when the driver settles and
        mints, and in an order that changes from slice to slice, so that no agent is always
        first to the best bids because of its account number."""
        view = self.view
        assert view is not None
        now = self.client.now()
        f = view.phase(now)
        j = int(f * self.steps)
        target = (j + 0.25 + 0.5 * self.uniform()) / self.steps
        if self.woken or target <= f:  # once per slice: after a wake-up, the next slice
            target = (j + 1.25 + 0.5 * self.uniform()) / self.steps
        self.woken = True
        self.client.wake_at(now + max(1, int(round((target - f) * view.period_ns()))))

    def on_wake(self, token: object) -> None:
        view = self.view
        if view is None:
            return
        k = view.period()
        if k >= 0:
            if k != self.current:
                self.current = k
                self.on_period(k)
            self.act(view.phase(self.client.now()))
        self._schedule_next()

    # -- hooks ---------------------------------------------------------------------------------
    def on_period(self, period: int) -> None:
        """First wake-up of a new period."""

    def act(self, phase: float) -> None:
        """Every wake-up, with the fraction of the period elapsed."""


class PerishableSeller(EconomyAgent):
    """An entity that sells GPU-hours which perish at the end of the period.

    Each period it opens its ask ``params.markup`` above the last clearing price and lowers
    it along a Dutch clock (``ladder.dutch_ask``) to marginal cost by ``params.dump_by`` of the
    period. ``restart`` cancels the previous wake-up's orders and returns the lots held, the
    first step of every such agent's ``act``.
    """

    anchor: float = 0.0

    def on_period(self, period: int) -> None:
        assert self.view is not None
        self.anchor = self.view.reference_price() * (1.0 + self.params.markup)

    def restart(self) -> int:
        self.client.cancel_all(self.instrument)
        return self.client.holding(self.base)

    def ask(self, phase: float) -> float:
        assert self.view is not None
        return dutch_ask(phase, self.anchor, self.view.marginal_cost(), self.params.dump_by)
