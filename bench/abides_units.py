"""Count a benchmark day in ABIDES's message units, in an untimed replay of the same seed.

ABIDES's kernel (abides-core ``Kernel.runner``) adds one to ``ttl_messages`` for every item it
pops from its queue: a wake-up, each message an agent sends the exchange, each message the
exchange sends an agent, each market-data query and its response (a ``MessageBatch`` counts
once). Our kernel counts one per dispatch: a wake-up, a command reaching the venue, one batch of
events per agent per command; our agents read the book directly, with no message at all. So the
two counts are different units for the same activity.

This module measures, rather than models, what the same day would count in ABIDES's units. It
replays the timed run's market and seed (a run is deterministic) with counting wrappers
installed on the replay's own clients and venue (instance attributes set after the simulation
is built; nothing in ``clients/`` or ``scenarios/`` changes, so the timed run pays nothing),
checks that the replay dispatched exactly the timed run's commands and kernel messages, and
counts per category. When the ABIDES equivalent is unclear the count errs low:

* ``wakeups``: every wake-up dispatched (ABIDES: one ``WakeupMsg`` each).
* ``orders_to_exchange``: commands reaching the exchange, with the orders one agent places in
  one handler invocation counted once (ABIDES's market maker sends its ladder with
  ``place_multiple_orders``, one ``MessageBatch``). A ``CancelAll`` counts once although
  ABIDES's ``cancel_all_orders`` sends one cancel per open order (the orders those commands
  cancelled are reported under ``not_counted``).
* ``order_accepted``: ``OrderAccepted`` for an order that came to rest on the book (ABIDES sends
  ORDER_ACCEPTED only when an order enters the book; not for market orders or orders that fill
  on arrival).
* ``order_executed``: two per ``Trade``, one to the maker and one to the taker (ABIDES sends
  ORDER_EXECUTED to both parties of each match). The ``OrderUpdated`` that reports a fill is
  not counted, so each execution counts at most once per party.
* ``order_cancelled``: ``OrderUpdated`` with status CANCELLED for an order that was resting
  (a cancel, a good-till-date expiry, self-trade prevention of a maker): ABIDES's
  ORDER_CANCELLED. The unfilled remainder of a market/IOC/FOK order is not counted (ABIDES
  sends nothing for it).
* ``order_modified``: ``OrderUpdated`` (OPEN) answering an ``AmendOrder`` (ORDER_MODIFIED).
* ``market_data``: two (a ``QuerySpreadMsg`` and its response) for each handler invocation in
  which the agent read the book through its client (``best_bid``, ``best_ask``, ``mid``,
  ``depth``, ``last_price``) at least once; several reads in one invocation count as one query.
  Reading an exogenous series is not counted (ABIDES's value agent calls its oracle directly).

Notifications are counted as the engine addresses them to an agent, whether or not the agent
listens: ABIDES's exchange sends them to every agent, while ours are not delivered to agents
that do not listen (none of the benchmark's agents do). ``Rejected`` and ``Accepted`` events
(ABIDES discards an invalid order without a message and has no acknowledgement besides the
ones above) are reported under ``not_counted``, as are ABIDES messages our agents never cause
(market-hours and close-price requests, the market maker's transacted-volume query, re-queued
messages of a busy agent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchange.core.messages import (
    CANCELLED,
    OPEN,
    Accepted,
    AmendOrder,
    CancelAll,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    Rejected,
    Trade,
)

#: Categories that make up the ABIDES-unit total, in report order.
CATEGORIES = ("wakeups", "orders_to_exchange", "order_accepted", "order_executed",
              "order_cancelled", "order_modified", "market_data")
#: Client methods that read market data (an ABIDES agent asks the exchange for these).
READS = ("best_bid", "best_ask", "mid", "depth", "last_price")


class Counter:
    """Counting wrappers installed on one built (not yet run) ``Simulation``."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.counts = dict.fromkeys(CATEGORIES, 0)
        self.not_counted = {
            "cancel_all_orders_cancelled": 0,  # ABIDES: one cancel message per such order
            "accepted_not_resting": 0,  # OrderAccepted of orders that never rested
            "remainder_cancels": 0,  # unfilled rest of market/IOC/FOK orders
            "rejected": 0,  # Rejected addressed to an agent
            "acknowledgements": 0,  # Accepted (of cancels, amends) addressed to an agent
            "extra_order_messages_in_batches": 0,  # places merged into one batch message
        }
        self.kernel = {"wakeups": 0, "command_arrivals": 0, "event_batches": 0, "other": 0}
        self.commands = 0
        self.by_group: dict[str, dict[str, int]] = {}
        self._invocation = 0  # id of the agent handler call now running
        self._read_in = -1  # last invocation that read market data
        self._placed_in = -1  # last invocation that placed an order
        self._arriving = False
        self._group_of: dict[int, str] = {}
        for agent, group in zip(sim.agents, sim.groups, strict=True):
            self._group_of[agent.agent_id] = group
            self.by_group.setdefault(group, {"wakeups": 0, "market_data_queries": 0,
                                             "commands": 0, "orders_to_exchange": 0})
            self._wrap_agent(agent, self.by_group[group])
        venue = sim.venue
        arrive = venue._arrive_handler
        submit = venue.submit

        def counted_arrive(command: Any) -> None:
            self.kernel["command_arrivals"] += 1
            self._arriving = True
            try:
                arrive(command)
            finally:
                self._arriving = False

        def counted_submit(client: Any, command: Any) -> None:
            stats = self.by_group[self._group_of[client.account]]
            stats["commands"] += 1
            if type(command) is PlaceOrder:
                if self._placed_in == self._invocation:
                    self.not_counted["extra_order_messages_in_batches"] += 1
                else:
                    self._placed_in = self._invocation
                    self.counts["orders_to_exchange"] += 1
                    stats["orders_to_exchange"] += 1
            else:
                self.counts["orders_to_exchange"] += 1
                stats["orders_to_exchange"] += 1
            submit(client, command)

        venue._arrive_handler = counted_arrive
        venue.submit = counted_submit
        venue.observers.append(self._observe)

    # -- agents ----------------------------------------------------------------------------------
    def _wrap_agent(self, agent: Any, stats: dict[str, int]) -> None:
        client = agent.client
        wake = client._wake
        deliver = client.deliver
        on_start = agent.on_start

        def counted_wake(token: Any) -> None:
            self._invocation += 1
            self.kernel["wakeups"] += 1
            self.counts["wakeups"] += 1
            stats["wakeups"] += 1
            wake(token)

        def counted_deliver(events: list) -> None:
            self._invocation += 1
            self.kernel["event_batches"] += 1
            deliver(events)

        def counted_start() -> None:
            self._invocation += 1
            on_start()

        client._wake = counted_wake
        client.deliver = counted_deliver
        agent.on_start = counted_start
        for name in READS:
            setattr(client, name, self._counted_read(getattr(client, name), stats))

    def _counted_read(self, read: Callable[..., Any], stats: dict[str, int]
                      ) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            if self._read_in != self._invocation:
                self._read_in = self._invocation
                self.counts["market_data"] += 2
                stats["market_data_queries"] += 1
            return read(*args)
        return counted

    # -- the exchange's notifications ------------------------------------------------------------
    def _observe(self, command: Any, events: list, now: int) -> None:
        if not self._arriving:
            return  # setup or shocks applied directly: no agent sent these
        self.commands += 1
        counts = self.counts
        skipped = self.not_counted
        agents = self._group_of
        new_orders = {e.order_id for e in events if type(e) is OrderAccepted}
        ended = {e.order_id for e in events
                 if type(e) is OrderUpdated and e.status != OPEN}
        kind_of_command = type(command)
        for event in events:
            kind = type(event)
            if kind is Trade:
                counts["order_executed"] += (event.maker_account in agents) + (
                    event.taker_account in agents)
            elif kind is OrderAccepted:
                if event.account not in agents:
                    continue
                if event.order_id in ended:
                    skipped["accepted_not_resting"] += 1
                else:
                    counts["order_accepted"] += 1
            elif kind is OrderUpdated:
                if event.account not in agents:
                    continue
                if event.status == CANCELLED:
                    if event.order_id in new_orders:
                        skipped["remainder_cancels"] += 1
                    else:
                        counts["order_cancelled"] += 1
                        if kind_of_command is CancelAll:
                            skipped["cancel_all_orders_cancelled"] += 1
                elif (event.status == OPEN and kind_of_command is AmendOrder
                      and event.order_id == command.order_id):
                    counts["order_modified"] += 1
                # other updates report fills, already counted once per party by the Trade
            elif kind is Rejected:
                if event.account in agents:
                    skipped["rejected"] += 1
            elif kind is Accepted and event.account in agents:
                skipped["acknowledgements"] += 1

    # -- result ----------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        kernel = self.sim.kernel
        self.kernel["other"] = kernel.messages - (self.kernel["wakeups"]
                                                  + self.kernel["command_arrivals"]
                                                  + self.kernel["event_batches"])
        return {
            "total": sum(self.counts.values()),
            "categories": dict(self.counts),
            "not_counted": dict(self.not_counted),
            "kernel_messages": kernel.messages,
            "kernel_breakdown": dict(self.kernel),
            "commands": self.commands,
            "by_group": {g: dict(s) for g, s in self.by_group.items()},
        }


def replay(raw: dict[str, Any], seed: int, expect: dict[str, Any] | None = None,
           engine_log: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the market ``raw`` with ``seed`` untimed, counting in ABIDES's units.

    ``expect`` is the timed run's report (``bench.sim.one_day``): the replay must dispatch
    exactly its ``commands`` and ``messages``, else the counts would not describe the timed day
    and a ``RuntimeError`` is raised.

    ``engine_log``, if given, is filled with what replaying the day into a bare engine needs
    (``bench.engine_alone``): the engine's ``snapshot`` once the scenario's setup is applied,
    every command applied after it with its timestamp (``commands``), the engine's ``config``
    and the ``state_hash`` it ended with.
    """
    from scenarios import runner
    from scenarios.config import load_raw

    sim = runner.Simulation(load_raw(raw, "bench_day"), seed, record=False)
    counter = Counter(sim)
    if engine_log is not None:
        commands: list[tuple[Any, int]] = []
        engine_log["snapshot"] = sim.engine.snapshot()
        engine_log["config"] = sim.engine.config
        engine_log["commands"] = commands
        sim.venue.observers.append(lambda command, events, now: commands.append((command, now)))
    sim.run()
    if engine_log is not None:
        engine_log["state_hash"] = sim.engine.state_hash()
    out = counter.result()
    timed_commands = sim.venue.commands - sim.setup_commands
    if out["commands"] != timed_commands:
        raise RuntimeError(f"counting missed commands: {out['commands']} != {timed_commands}")
    if out["kernel_breakdown"]["other"] != sim.step:  # the only other messages: samples
        raise RuntimeError(f"unexplained kernel messages: {out['kernel_breakdown']}")
    if expect is not None:
        got = (out["commands"], out["kernel_messages"])
        want = (expect["commands"], expect["messages"])
        if got != want:
            raise RuntimeError(
                f"the counting replay diverged from the timed run: (commands, kernel messages) "
                f"{got} != {want}")
    return out
