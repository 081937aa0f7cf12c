"""Builds a simulation from a validated scenario and runs it to the end.

Seeding: one root ``numpy.random.SeedSequence(seed)`` spawns three children (agents, latency,
exogenous series); the agents child spawns one sequence per agent group and each of those one
per agent, and the series child one per series. Changing the size of one group therefore never
changes the random numbers any other group or series draws, and the same seed and config give
the same numbers everywhere.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agents.base import Agent
from agents.registry import resolve
from clients.inproc import InProcClient, LatencyModel, Venue
from exchange.core.engine import Engine, EngineConfig
from exchange.core.instruments import FUTURE, USD, usd_to_micros
from exchange.core.messages import Deposit, Mint
from scenarios import stats
from scenarios.config import Loaded
from scenarios.kernel import Kernel
from scenarios.recorder import Recorder, instrument_mask, rows_to_table
from scenarios.world import World, apply_shock, draw

NS = 1_000_000_000
US = 1_000
#: First-generation collection threshold while a run's kernel runs (``Simulation.run``).
RUN_GC_THRESHOLD = 10_000


def _generator(seq: np.random.SeedSequence) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seq))


@dataclass
class RunResult:
    run_id: int
    seed: int
    tables: dict[str, pa.Table]
    summary: dict[str, Any]
    wall_s: float
    agents: list[Agent] = field(default_factory=list)


class Simulation:
    """Everything one run needs, wired together but not yet started."""

    def __init__(self, loaded: Loaded, seed: int, record: bool = True) -> None:
        sc = loaded.scenario
        meta = sc.scenario
        self.loaded = loaded
        self.seed = seed
        self.start_ns = meta.start_ns
        self.end_ns = self.start_ns + int(meta.duration * NS)
        # No reader of balance events exists in a simulation (agents read balances through
        # their client, the recorder and observers read orders and trades), so the engine
        # does not make them: over a third of a busy day's events (EngineConfig says more).
        self.engine = Engine(sc.specs(), EngineConfig(balance_events=False))
        self.kernel = Kernel(self.start_ns)
        root = np.random.SeedSequence(seed)
        ss_agents, ss_latency, ss_series = root.spawn(3)
        paths = [
            draw(s, meta.duration, self.start_ns, _generator(ss))
            for s, ss in zip(sc.exogenous, ss_series.spawn(len(sc.exogenous)), strict=True)
        ]
        self.world = World(paths)
        for shock in sc.shocks:
            apply_shock(self.world.paths[shock.series], shock)
        self.venue = Venue(self.engine, self.kernel, self.world.value)
        self.recorder = Recorder(self.engine, orders=record and meta.record_orders,
                                 quotes=record and meta.record_quotes)
        self.venue.observers.append(self.recorder)
        self.agents: list[Agent] = []
        self.groups: list[str] = []
        self.instruments: list[str] = []
        group_seqs = ss_agents.spawn(len(sc.agents))
        latency_seqs = ss_latency.spawn(len(sc.agents))
        account = 1
        for group, params, gseq, lseq in zip(sc.agents, loaded.agent_params, group_seqs,
                                             latency_seqs, strict=True):
            cls = resolve(group.cls)
            if group.instrument not in self.instruments:
                self.instruments.append(group.instrument)
            lat = group.latency
            for aseq, lat_seq in zip(gseq.spawn(group.count), lseq.spawn(group.count),
                                     strict=True):
                self._fund(account, group.cash, group.assets)
                latency = LatencyModel(int(lat.order_us * US), int(lat.event_us * US),
                                       int(lat.jitter_us * US), _generator(lat_seq))
                client = InProcClient(self.venue, account, latency)
                agent = cls(account, params, _generator(aseq), group.instrument)
                agent.bind(client)
                client.attach(agent)
                self.agents.append(agent)
                self.groups.append(group.name)
                account += 1
        self.economy: Any = None
        if sc.economy is not None:  # its own stream, spawned after the three above
            from scenarios.economy_driver import attach

            self.economy = attach(self, sc.economy, root.spawn(1)[0])
        self.setup_commands = self.venue.commands  # deposits and mints before the start
        self.samples: list[tuple] = []
        self._sampled: list[tuple] = []  # per agent, what sampling needs (built at first use)
        self.metric_rows: list[tuple] = []
        self.macro: list[tuple] = []
        self.step = 0
        interval = int(meta.sample_interval * NS)
        t = self.start_ns
        while t <= self.end_ns:
            self.kernel.schedule(t, self._sample)
            t += interval
        if t - interval != self.end_ns:
            self.kernel.schedule(self.end_ns, self._sample)

    def _fund(self, account: int, cash: float, assets: dict[str, int]) -> None:
        if cash > 0:
            self.venue.apply_now(Deposit(account=account, asset=USD,
                                         amount=usd_to_micros(repr(float(cash)))))
        for asset, lots in sorted(assets.items()):
            if lots > 0:
                self.venue.apply_now(Mint(account=account, asset=asset, amount=lots))

    # -- sampling --------------------------------------------------------------------------------
    def _mark(self, name: str) -> int | None:
        book = self.engine.books[name]
        bid, ask = book.bid.best(), book.ask.best()
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return self.engine.last_prices.get(name)

    def _sample(self, _: object = None) -> None:
        engine = self.engine
        ts = self.kernel.now
        step = self.step
        self.step += 1
        registry = engine.registry.by_name
        marks = {name: self._mark(name) for name in self.instruments}
        for name in self.instruments:
            book = engine.books[name]
            series = tuple(self.world.value(n, ts) for n in self.world.paths)
            self.macro.append((step, ts, name, book.bid.best(), book.ask.best(), marks[name],
                               engine.last_prices.get(name), *series))
        if len(self._sampled) != len(self.agents):
            self._sampled = [
                (agent, group, type(agent).__name__, registry[agent.instrument],
                 registry[agent.instrument].kind == FUTURE,
                 type(agent).metrics is not Agent.metrics)
                for agent, group in zip(self.agents, self.groups, strict=True)
            ]
        accounts = engine.accounts
        add_sample = self.samples.append
        # One row per agent per step (1,116 agents x 78 steps on the benchmark day): what is
        # fixed per agent is looked up once, above, and only classes that report metrics are
        # asked for them.
        for agent, group, class_name, spec, is_future, has_metrics in self._sampled:
            agent_id = agent.agent_id
            acct = accounts.get(agent_id)
            if acct is None:
                cash = holding = open_orders = 0
            else:
                cash = acct.cash
                open_orders = len(acct.open_orders)
                if is_future:
                    pos = acct.positions.get(spec.name)
                    holding = pos.size if pos is not None else 0
                else:
                    holding = acct.assets.get(spec.base, 0)
            if is_future:
                wealth = (engine.equity(acct) if acct is not None else 0) / 1e6
            else:
                wealth = cash / 1e6
                mark = marks[agent.instrument]
                if mark is not None:
                    wealth += holding * mark * spec.tick_value / 1e6
            add_sample((step, ts, agent_id, group, class_name, cash / 1e6, holding, open_orders,
                        wealth))
            if has_metrics:
                for metric, value in agent.metrics().items():
                    self.metric_rows.append((step, ts, agent_id, metric, float(value)))

    # -- stepped processes -------------------------------------------------------------------------
    def every(self, seconds: float, step: Callable[[Simulation], None],
              first: float | None = None) -> None:
        """Call ``step(self)`` every ``seconds`` of virtual time (first at ``first`` seconds
        after the start, default one period in), until the end of the run.

        This is how a stepped model (e.g. a weekly economy) joins a run: it reads the market
        through ``self.engine`` and acts through ``self.venue.apply_now`` (mints, burns,
        deposits), in the same deterministic order as every other message."""
        period = int(seconds * NS)
        if period <= 0:
            raise ValueError("the period must be positive")
        start = self.start_ns + (period if first is None else int(first * NS))

        def tick(ts: object) -> None:
            step(self)
            nxt = self.kernel.now + period
            if nxt <= self.end_ns:
                self.kernel.schedule(nxt, tick, nxt)

        if start <= self.end_ns:
            self.kernel.schedule(start, tick, start)

    # -- running ----------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> None:
        for agent in self.agents:
            agent.on_start()
        # A run allocates millions of short-lived objects and creates almost no reference
        # cycles, so the collector's default trigger (every 700 net container allocations)
        # mostly rescans the same long-lived agents, books and lists. A larger first-generation
        # threshold for the length of the run cuts collections about fourteenfold; cycles are
        # still collected, and the caller's setting is restored afterwards.
        saved = gc.get_threshold()
        gc.set_threshold(max(saved[0], RUN_GC_THRESHOLD), *saved[1:])
        try:
            self.kernel.run(self.end_ns, progress)
        finally:
            gc.set_threshold(*saved)


def run(loaded: Loaded, seed: int, run_id: int = 0,
        progress: Callable[[int], None] | None = None, record: bool = True) -> RunResult:
    """Run one scenario with one seed; returns its tables and summary (nothing is written)."""
    started = time.perf_counter()
    sim = Simulation(loaded, seed, record=record)
    sim.run(progress)
    wall = time.perf_counter() - started
    tables = build_tables(sim, run_id)
    summary = summarize(sim, tables, run_id)
    return RunResult(run_id, seed, tables, summary, wall, sim.agents)


# -- tables --------------------------------------------------------------------------------------


def _with_run_id(table: pa.Table, run_id: int) -> pa.Table:
    return table.add_column(0, "run_id", pa.array(np.full(table.num_rows, run_id, np.int64)))


def _add_time(table: pa.Table, start_ns: int) -> pa.Table:
    ts = table.column("ts").to_numpy()
    pos = table.schema.get_field_index("ts") + 1
    return table.add_column(pos, "time_s", pa.array((ts - start_ns) / 1e9))


def _add_price(table: pa.Table, sim: Simulation, ticks_col: str, name: str) -> pa.Table:
    """Add ``name`` = ticks x tick size, in currency units (null where the ticks are null)."""
    registry = sim.engine.registry.by_name
    ticks = pc.cast(table.column(ticks_col), pa.float64())
    # Dictionary-encode the instrument column: one tick-size lookup per distinct instrument,
    # not one Python string per row.
    encoded = pc.dictionary_encode(table.column("instrument")).combine_chunks()
    sizes = pa.array([float(registry[n].tick_size) for n in encoded.dictionary.to_pylist()],
                     pa.float64())
    tick = pc.take(sizes, encoded.indices)
    pos = table.schema.get_field_index(ticks_col) + 1
    return table.add_column(pos, name, pc.multiply(ticks, tick))


AGENT_SCHEMA = pa.schema([
    ("step", pa.int64()), ("ts", pa.int64()), ("agent_id", pa.int64()), ("group", pa.string()),
    ("class", pa.string()), ("cash", pa.float64()), ("holding", pa.int64()),
    ("open_orders", pa.int64()), ("wealth", pa.float64()),
])


METRICS_SCHEMA = pa.schema([
    ("step", pa.int64()), ("ts", pa.int64()), ("agent_id", pa.int64()), ("metric", pa.string()),
    ("value", pa.float64()),
])


def build_tables(sim: Simulation, run_id: int) -> dict[str, pa.Table]:
    tables = sim.recorder.tables()
    tables["trades"] = _add_price(tables["trades"], sim, "price_ticks", "price")
    tables["quotes"] = _add_price(_add_price(tables["quotes"], sim, "bid_ticks", "bid"), sim,
                                  "ask_ticks", "ask")
    tables["orders"] = _add_price(tables["orders"], sim, "price_ticks", "price")
    tables["agents"] = rows_to_table(sim.samples, AGENT_SCHEMA)
    tables["agent_metrics"] = rows_to_table(sim.metric_rows, METRICS_SCHEMA)
    tables["macro"] = _macro_table(sim, tables["trades"])
    out = {}
    for name in ("trades", "quotes", "orders", "agents", "agent_metrics", "macro"):
        out[name] = _with_run_id(_add_time(tables[name], sim.start_ns), run_id)
    if sim.economy is not None:
        out["economy"] = sim.economy.table(run_id)
    return out


def _macro_table(sim: Simulation, trades: pa.Table) -> pa.Table:
    series_names = list(sim.world.paths)
    schema = pa.schema(
        [("step", pa.int64()), ("ts", pa.int64()), ("instrument", pa.string()),
         ("bid_ticks", pa.int64()), ("ask_ticks", pa.int64()), ("mid_ticks", pa.int64()),
         ("last_ticks", pa.int64())]
        + [(n, pa.float64()) for n in series_names]
    )
    table = rows_to_table(sim.macro, schema)
    # Volume and trade count since the previous sample, per instrument.
    volume = np.zeros(table.num_rows, np.int64)
    count = np.zeros(table.num_rows, np.int64)
    if table.num_rows and trades.num_rows:
        t_ts = trades.column("ts").to_numpy()
        t_amt = trades.column("amount").to_numpy()
        t_inst = trades.column("instrument")
        m_ts = table.column("ts").to_numpy()
        m_inst = table.column("instrument")
        for name in sim.instruments:
            rows = np.flatnonzero(instrument_mask(m_inst, name))
            mask = instrument_mask(t_inst, name)
            cum_amt = np.concatenate([[0], np.cumsum(t_amt[mask])])
            idx = np.searchsorted(t_ts[mask], m_ts[rows], side="right")
            prev = np.concatenate([[0], idx[:-1]])
            volume[rows] = cum_amt[idx] - cum_amt[prev]
            count[rows] = idx - prev
    table = table.append_column("volume", pa.array(volume))
    table = table.append_column("trades", pa.array(count))
    table = _add_price(table, sim, "mid_ticks", "mid")
    return _add_price(table, sim, "last_ticks", "last")


# -- summary --------------------------------------------------------------------------------------


def summarize(sim: Simulation, tables: dict[str, pa.Table], run_id: int) -> dict[str, Any]:
    meta = sim.loaded.scenario.scenario
    trades = tables["trades"]
    summary: dict[str, Any] = {
        "run_id": run_id,
        "scenario": meta.name,
        "case": sim.loaded.case or "",
        "seed": sim.seed,
        "step": sim.step - 1,
        "duration_s": meta.duration,
        "agents": len(sim.agents),
        "messages": sim.kernel.messages,
        "commands": sim.venue.commands,
        "events": sim.venue.events,
        "trades": trades.num_rows,
        "volume": int(np.sum(trades.column("amount").to_numpy())) if trades.num_rows else 0,
        "state_hash": sim.engine.state_hash(),
    }
    if sim.instruments:
        name = sim.instruments[0]
        tick = float(sim.engine.registry.by_name[name].tick_size)
        last = sim.engine.last_prices.get(name)
        summary["instrument"] = name
        summary["last_price"] = last * tick if last is not None else float("nan")
        warm = sim.start_ns + int(meta.warmup * NS)
        summary["mean_spread_ticks"] = stats.time_weighted_spread(
            tables["quotes"], name, warm, sim.end_ns)
        summary["mean_spread"] = summary["mean_spread_ticks"] * tick
    if sim.economy is not None:
        summary.update(sim.economy.summary())
    seen: dict[Any, list[Agent]] = {}
    for agent in sim.agents:
        seen.setdefault(type(agent).summarize.__func__, []).append(agent)  # type: ignore
    for agents in seen.values():
        summary.update(type(agents[0]).summarize(agents))
    return summary
