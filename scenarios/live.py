"""Live mode: a scenario's agents trading on the real gateway in scaled real time.

``cmx serve --scenario FILE --speed X`` builds the agents exactly as ``cmx run`` does (same
classes, parameters and random streams from the scenario's root ``SeedSequence``), gives each
one a funded account and an API key in the gateway's config, and runs each through a
:class:`clients.live.LiveClient`: its own websocket connection to the server, a local book
shared by all agents, wake-ups on the event loop scaled by ``speed`` (virtual seconds per wall
second). External bots connect to the same server and trade with them.

What stays deterministic is what the seed controls: every agent's draws and every exogenous
path. What the agents see depends on wall-clock timing (network, scheduling, external bots),
so two live runs never produce the same trades.

A scenario with an ``[economy]`` section (``compute_glut``, ``compute_run``, ``baseline``) runs
its economy driver in the server process through :mod:`scenarios.live_economy`; the engine
then runs on the scenario's virtual clock (the GPU-hour strip expires at scenario dates), the
feed follows every instrument, and the demo accounts get ``DEMO_ECONOMY_LOTS`` lots of each
spot asset and ``DEMO_ECONOMY_USD`` dollars, enough to trade lots of a million GPU-hours.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from agents.base import Agent
from agents.registry import resolve
from clients.live import LiveClient, LiveClock, MarketFeed
from exchange.core.instruments import USD, InstrumentSpec
from exchange.gateway.config import AccountConfig, GatewayConfig
from scenarios.config import Loaded, ScenarioError
from scenarios.live_economy import LiveHost
from scenarios.world import World, apply_shock, draw

if TYPE_CHECKING:  # pragma: no cover
    from exchange.gateway.protocol import Gateway

log = logging.getLogger("scenarios.live")

NS = 1_000_000_000
DEMO_ASSET_UNITS = "10000"  # of each scenario spot asset, for the default demo accounts
DEMO_ECONOMY_LOTS = 20  # of each spot asset, for the demo accounts of an economy scenario
DEMO_ECONOMY_USD = "200000000"


def _generator(seq: np.random.SeedSequence) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seq))


@dataclass
class LiveAgent:
    agent: Agent
    group: str
    account: AccountConfig


class LiveScenario:
    """The agents of one scenario and seed, their accounts, and their run on a server."""

    def __init__(self, loaded: Loaded, seed: int, speed: float, first_account: int = 1
                 ) -> None:
        sc = loaded.scenario
        meta = sc.scenario
        if not speed > 0:
            raise ScenarioError("--speed must be positive")
        self.loaded = loaded
        self.seed = seed
        self.speed = speed
        self.start_ns = meta.start_ns
        self.duration = meta.duration
        self.specs: dict[str, InstrumentSpec] = {s.name: s for s in sc.specs()}
        # The runner's seeding, stream for stream: root -> (agents, latency, series); the
        # latency streams are spawned but unused (the network is the latency here).
        root = np.random.SeedSequence(seed)
        ss_agents, ss_latency, ss_series = root.spawn(3)
        self._root = root  # the economy's stream is its fourth child, as in the runner
        paths = [draw(s, meta.duration, self.start_ns, _generator(ss))
                 for s, ss in zip(sc.exogenous, ss_series.spawn(len(sc.exogenous)), strict=True)]
        self.world = World(paths)
        for shock in sc.shocks:
            apply_shock(self.world.paths[shock.series], shock)
        self.agents: list[LiveAgent] = []
        self.instruments: list[str] = []
        account = first_account
        for group, params, gseq in zip(sc.agents, loaded.agent_params,
                                       ss_agents.spawn(len(sc.agents)), strict=True):
            cls = resolve(group.cls)
            if group.count and group.instrument not in self.instruments:
                self.instruments.append(group.instrument)
            for k, aseq in enumerate(gseq.spawn(group.count)):
                deposits: dict[str, str] = {}
                if group.cash > 0:
                    deposits[USD] = repr(float(group.cash))
                for asset, lots in sorted(group.assets.items()):
                    if lots > 0:
                        spec = self._spot(asset)
                        deposits[asset] = str(spec.lots_to_amount(lots))
                acct = AccountConfig(id=account, name=f"{group.name}-{k}",
                                     client_id=f"agent-{group.name}-{k}",
                                     client_secret=secrets.token_hex(16), deposits=deposits)
                agent = cls(account, params, _generator(aseq), group.instrument)
                self.agents.append(LiveAgent(agent, group.name, acct))
                account += 1
        self.economy_section = sc.economy
        if sc.economy is not None:  # economy agents trade the whole strip, kWh and the token
            self.instruments = sorted(self.specs)
        self.clients: list[LiveClient] = []
        self.feed: MarketFeed | None = None
        self.clock = LiveClock(self.start_ns, speed, server_virtual=sc.economy is not None)
        self.started_wall = 0.0
        self.host: LiveHost | None = None
        self.driver: Any = None

    def _spot(self, asset: str) -> InstrumentSpec:
        return next(s for s in self.specs.values() if s.kind == "spot" and s.base == asset)

    # -- the gateway's config --------------------------------------------------------------------
    def configure(self, config: GatewayConfig, demo: bool) -> GatewayConfig:
        """``config`` with the scenario's instruments and one account per agent.

        Agent accounts come after the configured ones. With ``demo`` (no ``--config`` given)
        the demo accounts keep their USD and get ``DEMO_ASSET_UNITS`` of each spot asset the
        scenario lists instead of the default market's assets."""
        accounts = list(config.accounts)
        if demo:
            spots = sorted((s for s in self.specs.values() if s.kind == "spot"),
                           key=lambda s: s.base)
            economy = self.economy_section is not None
            units = {s.base: str(s.lots_to_amount(DEMO_ECONOMY_LOTS)) if economy
                     else DEMO_ASSET_UNITS for s in spots}

            def cash(a: AccountConfig) -> dict[str, str]:
                if economy:
                    return {USD: DEMO_ECONOMY_USD}
                return {k: v for k, v in a.deposits.items() if k == USD}

            accounts = [msgspec.structs.replace(a, deposits={**cash(a), **units})
                        for a in accounts]
        taken = {a.id for a in accounts}
        clash = [a.account.id for a in self.agents if a.account.id in taken]
        if clash:
            raise ScenarioError(f"agent account ids {clash[:3]} clash with configured accounts")
        # Credits are budgeted per second of virtual time: at speed X every account (agent or
        # external bot) may send X times more per wall-clock second than at speed 1, else a
        # market maker's refresh cadence would hit the limit that the run at speed 1 does not.
        rl = config.rate_limit
        scale = max(1.0, self.speed)
        rate_limit = msgspec.structs.replace(
            rl, capacity=int(rl.capacity * scale),
            refill_per_second=int(rl.refill_per_second * scale))
        marks = {k: v for k, v in config.marks.items() if k in self.specs} if demo \
            else config.marks
        return msgspec.structs.replace(
            config, instruments=list(self.specs.values()), marks=marks, rate_limit=rate_limit,
            accounts=accounts + [a.account for a in self.agents])

    def engine_clock(self) -> Callable[[], int] | None:
        """The clock the server's engine must run on: the scenario's virtual clock for an
        economy (its futures expire at scenario dates), else None (the server's wall clock)."""
        return self.clock.now if self.economy_section is not None else None

    def attach_gateway(self, gateway: Gateway) -> None:
        """Start the economy driver on the server's engine (its setup mints and deposits are
        applied now, at the scenario's start time). A scenario without economy: no-op."""
        if self.economy_section is None:
            return
        from scenarios.economy_driver import attach

        meta = self.loaded.scenario.scenario
        self.host = LiveHost(gateway, self.clock, self.start_ns,
                             self.start_ns + int(meta.duration * NS),
                             [e.agent for e in self.agents])
        self.driver = attach(self.host, self.economy_section, self._root.spawn(1)[0])

    # -- running ---------------------------------------------------------------------------------
    async def connect(self, url: str) -> None:
        """Open the shared market feed and every agent's connection, and bind the agents."""
        self.feed = await MarketFeed(url, self.specs).connect(self.instruments)
        self.clock.start()
        sem = asyncio.Semaphore(64)  # connections opened at once
        # listed before they connect, so that a stop during start-up closes them all
        self.clients = [LiveClient(url, e.account.id, e.account.client_id,
                                   e.account.client_secret, self.clock, self.feed,
                                   self.world.value) for e in self.agents]

        async def one(client: LiveClient) -> None:
            async with sem:
                await client.connect()

        await asyncio.gather(*(one(c) for c in self.clients))
        for entry, client in zip(self.agents, self.clients, strict=True):
            entry.agent.bind(client)
            client.attach(entry.agent)

    async def run(self, url: str) -> dict[str, Any]:
        """Connect, start the agents at the scenario's start time, run its duration in scaled
        wall time, stop them; returns a short summary. Cancelled: stops the agents too."""
        try:
            await self.connect(url)
            self.clock.start()  # virtual time starts when every agent is connected
            self.started_wall = time.monotonic()
            economy: asyncio.Task | None = None
            if self.host is not None:
                # the economy opens its first period before any agent acts, as in `cmx run`
                self.host.run_due()
                economy = asyncio.create_task(self.host.run())
            for entry in self.agents:
                try:
                    entry.agent.on_start()
                except Exception:
                    log.exception("agent %d failed to start", entry.agent.agent_id)
            log.info("live scenario %s: %d agents started at speed %g (%.1f s of wall time)",
                     self.loaded.scenario.scenario.name, len(self.agents), self.speed,
                     self.duration / self.speed)
            if economy is None:
                await asyncio.sleep(self.duration / self.speed)
            else:
                try:
                    # a failed economy step ends the scenario with its error
                    await asyncio.wait_for(asyncio.shield(economy),
                                           self.duration / self.speed)
                except TimeoutError:
                    pass
                finally:
                    economy.cancel()
                if economy.done() and not economy.cancelled() and economy.exception():
                    raise economy.exception()  # type: ignore[misc]
        finally:
            await self.stop()
        return self.summary()

    async def stop(self) -> None:
        """Stop every agent: no more wake-ups or events, then close its connection (the
        server cancels its open orders: cancel-on-disconnect)."""
        for client in self.clients:
            client.stopped = True
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        if self.feed is not None:
            await self.feed.close()

    def summary(self) -> dict[str, Any]:
        feed = self.feed
        wakes = sum(c.wakes for c in self.clients)
        return {
            "scenario": self.loaded.scenario.scenario.name,
            "case": self.loaded.case or "",
            "seed": self.seed,
            "speed": self.speed,
            "agents": len(self.agents),
            "wall_s": round(time.monotonic() - self.started_wall, 3) if self.started_wall else 0.0,
            "trades": feed.trades if feed else 0,
            "volume": feed.volume if feed else 0,
            "wake_ups": wakes,
            "wake_lag_ms_mean": round(1000 * sum(c.lag_total for c in self.clients)
                                      / max(1, wakes), 3),
            "wake_lag_ms_max": round(1000 * max((c.lag_max for c in self.clients),
                                                default=0.0), 3),
            "rejections": dict(sum((c.rejections for c in self.clients), Counter())),
            **self._economy_summary(),
        }

    def _economy_summary(self) -> dict[str, Any]:
        if self.driver is None or self.host is None:
            return {}
        return {"economy_steps": self.host.steps_run,
                "economy": {k: v for k, v in self.driver.summary().items()
                            if isinstance(v, int | float | str)}}
