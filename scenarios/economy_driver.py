"""Wires the macro economy (``agents/economy``) into a simulation run, period by period.

Time compression: one economy period (a week by default, ``EconomyParams.clock``) is traded
in ``period_seconds`` of virtual time (60 s by default), so eight simulated years are 416
periods or 24,960 virtual seconds. Inside a period the strategic agents trade continuously on
the exchange; at each boundary the driver, a stepped process joined with
``Simulation.every``, does in this order:

1. **close** the period just traded: cancel the entities' resting orders (so nothing they hold
   is reserved), return the end users' unspent budget, aggregate the period's trades into a
   ``PeriodObservation`` (VWAPs, purchases per buyer and seller, unsold and consumed lots,
   fees, futures prices, and every entity's cash so the economy checks its ledger against the
   exchange), call ``close_period`` and apply its intents (burn unsold and consumed hours,
   take-or-pay, opex, debt service, defaults, loans and chip purchases); burn the kWh the
   producer did not sell (power is not stored);
2. **open** the next one: ``open_period`` with each seller's kWh tokens (bought during the
   previous period; the first period runs on the power already contracted), apply its intents
   (mint GPU-hours and kWh, revenue, deal tranches), deposit the end users' budget for the
   period (recorded in the ledger as end-user money) and refresh what the view tells agents.

Every command goes through ``venue.apply_now``, so the recorder, the conservation checks and
the state hash see it. Each economy entity trades from one exchange account: the account of
the agent whose ``params.entity`` names it, or a passive account the driver allocates (vendors,
deal parties, token holders). A GPU-hour future of the strip expires every ``futures_every``
periods and settles on the spot TWAP of the period before its expiry.

When the market lists the compute-credit token (``token``, ``CCT_USD``) and the scenario has
token holders, the driver mints each holder's position at the start (the lab's issuance),
publishes the holders' fundamental (``token_fundamental``: the scenario's coverage, less the
shock from ``token_shock_period`` on, less ``token_capital_drag`` times the spread the token's
fall adds to sellers' cost of debt) and passes the week's CCT VWAP to the economy as its token
price: the reflexive channel token price -> cost of capital -> builds -> fundamental.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pyarrow as pa

from agents.compute.base import EconomyAgent
from agents.compute.desk import HedgeDesk
from agents.compute.token_holder import TokenHolder
from agents.compute.view import EconomyView, FutureInfo
from agents.economy import Economy, EconomyParams, LotSizes, PeriodObservation, Purchase
from agents.economy.circular import CircularTracker
from agents.economy.compute_token import TokenParams, redeemable_tokens
from agents.economy.energy import kwh_for
from agents.economy.finance import break_even_price, marginal_cost, token_term
from agents.economy.intents import GPUH, KWH, to_commands
from agents.economy.ledger import (
    COMPUTE_PURCHASE,
    END_USER_REVENUE,
    END_USERS,
    ENERGY_PURCHASE,
    OUTSIDE,
    OWN,
    TOKEN_BUYBACK,
)
from agents.economy.summary import glut_summary
from exchange.core.codes import Reason
from exchange.core.instruments import FUTURE, SPOT, USD, InstrumentSpec
from exchange.core.messages import (
    Burn,
    CancelAll,
    Command,
    Deposit,
    Mint,
    Rejected,
    Trade,
    Withdraw,
)

if TYPE_CHECKING:  # pragma: no cover
    from scenarios.runner import Simulation

NS = 1_000_000_000
#: ledger kind of the end users' budget returned unspent at the end of a period
UNSPENT_BUDGET = "unspent_budget"
#: counterparty of trades with accounts that are not economy entities
MARKET = "market"
#: column prefix of a chip vendor's circular share: the part of its chip revenue that is its
#: own money returning (its equity in the lab, its vendor loans, its warrants' value)
VENDOR_PREFIX = "vendor_circular_share_"


class EconomyOutOfRange(RuntimeError):
    """The economy moved more cash than the exchange's integer balances hold (2**62 micro-USD,
    about $4.6T, per account and per asset outstanding). Not a disagreement between the economy
    and the exchange but a run outside the range the exchange represents; a sweep records such
    a run as failed rather than stopping."""


class DriverConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The scenario's ``[economy]`` section."""

    #: virtual seconds one economy period (a week) is traded in: the time compression
    period_seconds: float = 60.0
    #: periods to run (0: as many as fit in the scenario's duration)
    periods: int = 0
    spot: str = "GPUH_USD"  # GPU-hour spot instrument
    energy: str = "KWH_USD"  # kWh token instrument
    #: periods between expiries of the GPU-hour futures strip (13: quarterly)
    futures_every: int = 13
    futures_prefix: str = "GPUH"
    futures_tick: str = "0.001"
    #: a long-dated future listed for the classic liquidity agents ("" for none)
    long_future: str = "GPUH-LONG"
    #: the end users' deposit each period, as a multiple of their spending at the reference
    #: price (their demand ladder down to 1/8 of it costs about 2.2x that with elasticity 1)
    users_budget: float = 4.0
    #: pass each entity's exchange cash so the economy checks its ledger every period
    check_ledger: bool = True
    #: the compute-credit token's spot instrument; its period VWAP is the token price the
    #: economy sees (the reflexive channel), when the market lists it and someone trades it
    token: str = "CCT_USD"
    #: the fundamental ``theta`` token holders' signals are drawn around before any shock:
    #: the lab's coverage, the share of tokens it could honour at par (the run threshold
    #: ``theta*`` is 0.80 at the default token parameters)
    token_fundamental: float = 1.2
    #: a negative shock to the lab's prospects: ``theta`` drops by this much ...
    token_shock: float = 0.0
    #: ... from this period on
    token_shock_period: int = 0
    #: coverage lost per unit of the token's addition to sellers' cost of debt (10: 100 bp of
    #: extra spread cost the lab 0.1 of coverage): dearer capital, fewer clusters, weaker
    #: prospects. With ``params.finance.token_sensitivity`` (the spread a full collapse adds)
    #: it closes the loop token price -> cost of capital -> builds -> holders' fundamental
    token_capital_drag: float = 10.0
    #: holders' borrowed leverage, debt / equity (0: bought with their own money). A holder
    #: with debt meets margin calls: when its equity falls below ``token_maintenance`` of its
    #: position at the market price, the lender forces a sale (``margin_call_sale``)
    token_leverage: float = 0.0
    token_maintenance: float = 0.15
    #: the lab honours redemptions at its endpoints: a running holder first asks to redeem its
    #: tokens for compute (``par / spot`` GPU-hours each) out of the GPU-hours the lab holds
    #: at the period's close, first come first served; what is not honoured it sells
    token_redemption: bool = False
    #: the economy's parameters (agents/economy/params.py ``EconomyParams``), same keys
    params: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        if self.periods < 0 or self.futures_every < 1 or self.users_budget <= 0:
            raise ValueError("need periods >= 0, futures_every >= 1, users_budget > 0")
        if self.token_shock_period < 0 or self.token_capital_drag < 0:
            raise ValueError("need token_shock_period >= 0 and token_capital_drag >= 0")
        if self.token_leverage < 0 or not 0 < self.token_maintenance < 1:
            raise ValueError("need token_leverage >= 0 and 0 < token_maintenance < 1")


def decode(section: dict[str, Any]) -> tuple[DriverConfig, EconomyParams]:
    """The ``[economy]`` section as a config and economy parameters (raises
    ``msgspec.ValidationError`` or ``ValueError`` naming the bad key)."""
    cfg = msgspec.convert(section, DriverConfig)
    params = msgspec.convert(cfg.params, EconomyParams)
    return cfg, params


def entity_names(section: dict[str, Any]) -> list[str]:
    """Every entity of the economy an ``[economy]`` section describes (for validation: an
    agent's ``params.entity`` must be one of them)."""
    _, params = decode(section)
    # the generator is never drawn from: building the economy only lists its entities
    return Economy(params, np.random.default_rng(0)).entities()


def period_count(cfg: DriverConfig, duration_s: float) -> int:
    fit = int(duration_s // cfg.period_seconds + 1e-9)
    return min(cfg.periods, fit) if cfg.periods else fit


def _quarter_name(prefix: str, start_year: float, q: int) -> str:
    index = int(round(start_year * 4)) + q - 1
    return f"{prefix}-{index // 4}Q{index % 4 + 1}"


def strip_specs(cfg: DriverConfig, params: EconomyParams, spot: InstrumentSpec,
                start_ns: int, duration_s: float) -> list[InstrumentSpec]:
    """The GPU-hour futures the economy lists: one per ``futures_every`` periods over the run
    (plus one more), each settling on the spot TWAP of its last period, and the long-dated
    contract for liquidity agents. Same lot size as spot, so one future hedges one spot lot."""
    period_ns = int(cfg.period_seconds * NS)
    n = period_count(cfg, duration_s)
    count = n // cfg.futures_every + 1
    common: dict[str, Any] = {"kind": FUTURE, "base": spot.base, "tick_size": cfg.futures_tick,
                              "lot_size": spot.lot_size, "index": spot.name,
                              "settlement_window_ns": period_ns}
    specs = [InstrumentSpec(name=_quarter_name(cfg.futures_prefix, params.clock.start_year, q),
                            expiry_ts=start_ns + q * cfg.futures_every * period_ns, **common)
             for q in range(1, count + 1)]
    if cfg.long_future:
        specs.append(InstrumentSpec(name=cfg.long_future,
                                    expiry_ts=start_ns + (n + 1) * period_ns, **common))
    return specs


def extra_specs(section: dict[str, Any], market_specs: list[InstrumentSpec], start_ns: int,
                duration_s: float) -> list[InstrumentSpec]:
    """Instruments an ``[economy]`` section adds to the market (used by config validation and
    by the runner, so both see the same list)."""
    cfg, params = decode(section)
    spots = {s.name: s for s in market_specs if s.kind == SPOT}
    for name in (cfg.spot, cfg.energy):
        if name not in spots:
            raise ValueError(f"the economy trades {name!r}, which the market does not list")
    return strip_specs(cfg, params, spots[cfg.spot], start_ns, duration_s)


class _Period:
    """Trades of one period, aggregated as they happen."""

    def __init__(self) -> None:
        self.spot_micros = 0
        self.spot_lots = 0
        self.spot_last: int | None = None
        self.kwh_micros = 0
        self.kwh_lots = 0
        self.spot_pairs: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        self.kwh_pairs: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        self.fees: dict[int, int] = defaultdict(int)
        self.futures_last: dict[str, int] = {}
        self.token_micros = 0
        self.token_lots = 0
        #: tokens entities bought from outside the economy (the lab's buy-backs), per entity
        self.token_bought: dict[int, list[int]] = defaultdict(lambda: [0, 0])


class EconomyDriver(EconomyView):
    """Steps an ``Economy`` inside a ``Simulation`` and is the agents' ``EconomyView``."""

    def __init__(self, sim: Simulation, section: dict[str, Any],
                 seq: np.random.SeedSequence) -> None:
        cfg, params = decode(section)
        engine = sim.engine
        specs = list(engine.registry)
        lots = LotSizes.from_specs(specs)
        params = msgspec.structs.replace(params, lots=lots)
        if cfg.token not in engine.registry.by_name:  # notes are tokens: none to sell here
            params = msgspec.structs.replace(
                params, lab_finance=msgspec.structs.replace(params.lab_finance, notes=False))
        self.cfg = cfg
        self.params = params
        self.sim = sim
        self.venue = sim.venue
        self.engine = engine
        self.economy = Economy(params, np.random.Generator(np.random.PCG64(seq)))
        self.start_ns = sim.start_ns
        self._period_ns = int(cfg.period_seconds * NS)
        self.periods = period_count(cfg, (sim.end_ns - sim.start_ns) / NS)
        self.spot = engine.registry.by_name[cfg.spot]
        self.kwh = engine.registry.by_name[cfg.energy]
        self.strip = [FutureInfo(s.name, s.expiry_ts or 0) for s in specs
                      if s.kind == FUTURE and s.index == cfg.spot and s.name != cfg.long_future
                      and s.settlement_window_ns == self._period_ns]
        self.strip.sort(key=lambda f: f.expiry_ns)
        self._strip_names = {f.name for f in self.strip}
        # accounts: agents speak for their entity; every other entity gets a passive account
        entities = self.economy.entities()
        self.accounts: dict[str, int] = {}
        self.agents: list[EconomyAgent] = []
        for agent in sim.agents:
            if isinstance(agent, EconomyAgent):
                self.agents.append(agent)
                if _is_desk(agent) or _own_account(agent):
                    continue
                entity = agent.params.entity
                if entity in self.accounts:
                    raise ValueError(f"two agents trade for entity {entity!r}")
                if entity in entities:
                    self.accounts[entity] = agent.agent_id
                else:
                    raise ValueError(f"agent {agent.agent_id} names entity {entity!r}, not one "
                                     f"of the economy's {entities}")
        desks = [a for a in self.agents if _is_desk(a)]
        for agent in desks:  # desks hedge an entity's exposure from their own account
            if agent.params.entity not in entities:
                raise ValueError(f"desk {agent.agent_id} hedges unknown entity "
                                 f"{agent.params.entity!r}")
        nxt = max([a.agent_id for a in sim.agents], default=0) + 1
        for entity in entities:
            if entity not in self.accounts:
                self.accounts[entity] = nxt
                nxt += 1
        self.by_account = {a: e for e, a in self.accounts.items()}
        for entity in sorted(self.accounts):  # cash a scenario gave an entity is its own
            cash = self._holding(entity, USD)
            if cash:
                self.economy.fund(entity, cash, entity, OWN)
        for agent in self.agents:
            agent.attach_view(self)
        # state the view publishes
        self.current = -1
        self.plan: Any = None
        self.ref_price = params.demand.reference_price
        self.last_kwh_price = params.energy.reference_kwh_price
        self._kwh_price = params.energy.reference_kwh_price
        self._mc = marginal_cost(self._kwh_price, params.energy, params.finance)
        self._be = break_even_price(params.finance, params.cluster, params.energy)
        self._per_gw = self.economy.gpu_hours_per_gw_period()
        self._t = 0.0
        self.trades = _Period()
        self.rows: list[dict[str, float]] = []
        # circular revenue of sellers (compute sold) and chip vendors (chips sold), traced and
        # earmarked (agents/economy/circular.py)
        self._circular = CircularTracker([*(s.name for s in params.sellers),
                                          params.distressed_buyer, *params.vendors.cash_usd])
        # the compute-credit token market (absent in scenarios that do not list it)
        names = engine.registry.by_name
        self.token_spec = names.get(cfg.token)
        self.holders = [a for a in self.agents if isinstance(a, TokenHolder)]
        self._token_initial = {a.agent_id: a.params.tokens for a in self.holders}
        self._token_sales: dict[int, list[int]] = defaultdict(lambda: [0, 0, -1])
        self._token_price = params.finance.token_reference_price
        self._token_lot = float(self.token_spec.lot_size) if self.token_spec else 1.0
        #: redemption requests this period: (time, holder account, token lots), in order
        self._redeem_queue: list[tuple[int, int, int]] = []
        self._redeemed_lots: dict[int, int] = {}
        self.venue.observers.append(self._observe)
        self._apply(to_commands(self.economy.initial_intents(), self.accounts))
        if self.token_spec is not None:  # the lab's issuance: holders' positions at the start
            self._apply([Mint(account=a.agent_id, asset=self.token_spec.base,
                              amount=a.params.tokens)
                         for a in self.holders if a.params.tokens > 0])
        sim.every(cfg.period_seconds, self._step, first=0.0)

    # -- the engine side -----------------------------------------------------------------------
    def _apply(self, commands: list[Command]) -> None:
        """Apply commands now; a rejection means the economy and the exchange disagree, which
        is a bug, so it stops the run with the command and the reason."""
        for command in commands:
            for event in self.venue.apply_now(command):
                if type(event) is Rejected:
                    if event.reason in (Reason.BALANCE_LIMIT, Reason.AMOUNT_TOO_LARGE):
                        raise EconomyOutOfRange(
                            f"period {self.current}: {command!r} would take an exchange "
                            f"balance past its integer limit ({event.reason}): the economy's "
                            "cash has outgrown what the exchange can hold")
                    raise RuntimeError(f"period {self.current}: the exchange rejected "
                                       f"{command!r}: {event.reason}")

    def _observe(self, command: Command, events: list, ts: int) -> None:
        period = self.trades
        spot = self.spot.name
        kwh = self.kwh.name
        for event in events:
            if type(event) is not Trade:
                continue
            name = event.instrument
            if event.maker_fee:
                period.fees[event.maker_account] += event.maker_fee
            if event.taker_fee:
                period.fees[event.taker_account] += event.taker_fee
            if name == spot or name == kwh:
                spec = self.spot if name == spot else self.kwh
                micros = event.price * event.amount * spec.tick_value
                if event.aggressor > 0:
                    pair = (event.taker_account, event.maker_account)
                else:
                    pair = (event.maker_account, event.taker_account)
                acc = (period.spot_pairs if name == spot else period.kwh_pairs)[pair]
                acc[0] += micros
                acc[1] += event.amount
                if name == spot:
                    period.spot_micros += micros
                    period.spot_lots += event.amount
                    period.spot_last = event.price
                else:
                    period.kwh_micros += micros
                    period.kwh_lots += event.amount
            elif name in self._strip_names:
                period.futures_last[name] = event.price
            elif self.token_spec is not None and name == self.token_spec.name:
                micros = event.price * event.amount * self.token_spec.tick_value
                period.token_micros += micros
                period.token_lots += event.amount
                seller = event.maker_account if event.aggressor > 0 else event.taker_account
                buyer = event.taker_account if event.aggressor > 0 else event.maker_account
                if seller in self._token_initial:  # a holder's sale: when and for how much
                    self._record_sale(seller, micros, event.amount, ts)
                if buyer in self.by_account:  # an entity (the lab) buying tokens back
                    if seller in self.by_account:
                        raise RuntimeError("token trades between economy entities are not "
                                           "modelled")
                    got = period.token_bought[buyer]
                    got[0] += micros
                    got[1] += event.amount
                elif seller in self.by_account:
                    raise RuntimeError("economy entities do not sell compute-credit tokens")

    def _holding(self, entity: str, asset: str) -> int:
        acct = self.engine.accounts.get(self.accounts[entity])
        if acct is None:
            return 0
        return acct.cash if asset == USD else acct.assets.get(asset, 0)

    # -- the period loop -----------------------------------------------------------------------
    def _step(self, sim: Simulation) -> None:
        k = self.current
        if k >= 0 and self.plan is not None:
            self._close()
        if k + 1 < self.periods:
            self._open(k + 1)
        else:
            self.plan = None

    def _open(self, k: int) -> None:
        econ = self.economy
        self.current = k
        kwh_held = None
        if k > 0:
            kwh_held = {name: self._holding(name, KWH) for name in sorted(econ.sellers)
                        if name in self.accounts}
        plan = econ.open_period(kwh_held)
        self.plan = plan
        self._apply(to_commands(plan.intents, self.accounts))
        p = self.params
        self._t = econ.years()
        kwh_price = p.energy.reference_kwh_price
        if plan.power_binds and plan.kwh_supply > 0:
            kwh_price *= min(5.0, plan.kwh_need / plan.kwh_supply)
        self._kwh_price = kwh_price
        self._mc = marginal_cost(kwh_price, p.energy, p.finance)
        self._be = break_even_price(p.finance, p.cluster, p.energy,
                                    token_price=econ.token_price)
        # the end users' budget for the period: end-user money, recorded as such
        spend = self.ref_price * self.demand_lots(self.ref_price, p.users) * p.lots.gpu_hours
        budget = int(spend * self.cfg.users_budget * 1_000_000)
        if budget > 0:
            econ.fund(p.users, budget, END_USERS, END_USER_REVENUE)
            self._apply([Deposit(account=self.accounts[p.users], asset=USD, amount=budget)])
        self.trades = _Period()

    def _cancel_entities(self) -> None:
        for entity in sorted(self.accounts):
            acct = self.engine.accounts.get(self.accounts[entity])
            if acct is not None and acct.open_orders:
                events = self.venue.apply_now(CancelAll(account=acct.id))
                client = self.venue.listeners.get(acct.id)
                if client is not None:  # the agent's client learns of the cancellations
                    client.deliver(events)

    def _close(self) -> None:
        econ = self.economy
        p = self.params
        k = self.current
        plan = self.plan
        self._cancel_entities()
        trades = self.trades
        # unspent end-user budget leaves the market again
        users = p.users
        left = self._holding(users, USD)
        if left:
            econ.ledger.transfer(users, OUTSIDE, left, UNSPENT_BUDGET, k)
            self._apply([Withdraw(account=self.accounts[users], asset=USD, amount=left)])
        purchases = self._purchases(trades.spot_pairs, p.lots.gpu_hours)
        energy = self._purchases(trades.kwh_pairs, p.lots.kwh)
        spot_price = self.ref_price
        if trades.spot_lots:
            spot_price = trades.spot_micros / trades.spot_lots / 1e6 / p.lots.gpu_hours
        kwh_price = self.last_kwh_price
        if trades.kwh_lots:
            kwh_price = trades.kwh_micros / trades.kwh_lots / 1e6 / p.lots.kwh
        bought_back = self._settle_buybacks(trades)
        lab = econ.lab
        redeemed, redeem_lots = self._honour_redemptions(spot_price)
        # what perishes and what is consumed
        unsold: dict[str, int] = {}
        consumed: dict[str, int] = {}
        for entity in sorted(self.accounts):
            held = self._holding(entity, GPUH)
            if entity == lab:  # hours delivered to redeeming holders were used by them
                held -= redeem_lots
                if redeem_lots:
                    consumed[entity] = redeem_lots
            if not held:
                continue
            if entity == users:
                consumed[entity] = held
            elif entity == lab:  # it uses what it wants at the period's marginal price
                marginal = (trades.spot_last * float(self.spot.tick_size)
                            if trades.spot_last is not None else spot_price)
                use = min(held, self.demand_lots(marginal, lab))
                consumed[entity] = consumed.get(entity, 0) + use
                if held > use:
                    unsold[entity] = held - use
            else:
                unsold[entity] = held
        fees = {self.by_account[a]: f for a, f in sorted(trades.fees.items())
                if a in self.by_account and f}
        now = self.sim.kernel.now
        futures = tuple(trades.futures_last[f.name] * float(self.cfg.futures_tick)
                        for f in self.strip if f.name in trades.futures_last and f.expiry_ns > now)
        cash = {e: self._holding(e, USD) for e in sorted(self.accounts)} \
            if self.cfg.check_ledger else {}
        token_price = self._token_price
        if trades.token_lots and self.token_spec is not None:
            token_price = (trades.token_micros / trades.token_lots / 1e6
                           / float(self.token_spec.lot_size))
        self._token_price = token_price
        obs = PeriodObservation(spot_price=spot_price, kwh_price=kwh_price,
                                token_price=token_price, futures_prices=futures,
                                purchases=purchases, energy_purchases=energy,
                                unsold_lots=unsold, consumed_lots=consumed, fees=fees, cash=cash,
                                tokens_redeemed=redeemed, tokens_bought_back=bought_back)
        result = econ.close_period(obs)
        self._apply(to_commands(result.intents, self.accounts))
        producer = p.power.producer
        if producer in self.accounts:
            left_kwh = self._holding(producer, KWH)
            if left_kwh:
                self._apply([Burn(account=self.accounts[producer], asset=KWH, amount=left_kwh)])
        self._circular.update(econ.ledger.transfers)
        row = dict(result.metrics)
        row.update({
            "ts": float(now),
            "spot_vwap": spot_price,
            "spot_last": (trades.spot_last * float(self.spot.tick_size)
                          if trades.spot_last is not None else math.nan),
            "spot_lots_traded": float(trades.spot_lots),
            "kwh_vwap": kwh_price,
            "futures_mean": sum(futures) / len(futures) if futures else math.nan,
            "unsold_lots": float(sum(unsold.values())),
            "consumed_lots": float(sum(consumed.values())),
            "minted_lots": float(sum(s.merchant_lots + s.contracted_lots
                                     for s in plan.sellers.values())),
            "spot_below_break_even": float(spot_price < result.metrics["break_even"]),
        })
        if self.holders and self.token_spec is not None:  # a token market with holders
            row.update({
                "token_lots_traded": float(trades.token_lots),
                "token_theta": self.token_fundamental(),
                "token_large_run_share": self.large_run_share(),
                "token_shock": self.cfg.token_shock,
                "token_shock_period": float(self.cfg.token_shock_period),
                "token_sensitivity": p.finance.token_sensitivity,
                "token_leverage": self.cfg.token_leverage,
                "token_margin_calls": float(sum(a.margin_calls for a in self.holders)),
                "token_forced_lots": float(sum(a.forced_lots for a in self.holders)),
                "token_redeemed_lots_period": redeemed / self._token_lot,
                "token_bought_back_lots_period": bought_back / self._token_lot,
            })
            if k + 1 >= self.periods:
                row.update(self.holder_recovery())
        circ = self._circular
        for name in sorted(econ.sellers):
            row[f"circular_share_{name}"] = circ.traced_share(name)
            row[f"circular_upper_{name}"] = circ.earmarked_share(name)
        for name in sorted(p.vendors.cash_usd):
            row[f"{VENDOR_PREFIX}{name}"] = circ.traced_share(name)
            row[f"vendor_circular_upper_{name}"] = circ.earmarked_share(name)
            row[f"vendor_revenue_{name}_usd"] = circ.revenue[name] / 1e6
        self.rows.append(row)
        # agents anchor on the marginal price (the period's last trade), not the VWAP: in a
        # descending auction the early, higher trades are price discrimination, not the level
        # where supply met demand
        if trades.spot_last is not None:
            self.ref_price = trades.spot_last * float(self.spot.tick_size)
        self.last_kwh_price = kwh_price

    def _record_sale(self, holder: int, micros: int, lots: int, ts: int) -> None:
        """A holder parted with tokens (sold, or redeemed at par): when and for how much."""
        sale = self._token_sales[holder]
        sale[0] += micros
        sale[1] += lots
        if sale[2] < 0:
            sale[2] = ts

    def _settle_buybacks(self, trades: _Period) -> float:
        """Tokens entities (the lab) bought from holders this period: the cash left the
        economy (ledger kind ``token_buyback``) and the tokens are retired (burned). Returns
        the tokens retired."""
        if self.token_spec is None:
            return 0.0
        econ = self.economy
        tokens = 0.0
        for account, (micros, lots) in sorted(trades.token_bought.items()):
            entity = self.by_account[account]
            econ.ledger.transfer(entity, OUTSIDE, micros, TOKEN_BUYBACK, econ.period)
            held = self._holding(entity, self.token_spec.base)
            if held:
                self._apply([Burn(account=account, asset=self.token_spec.base, amount=held)])
            tokens += lots * self._token_lot
        return tokens

    def _honour_redemptions(self, spot_price: float) -> tuple[float, int]:
        """Serve this period's redemption requests first come, first served out of the
        GPU-hours the lab holds at the close: burn each honoured holder's tokens and the lab's
        hours they buy (``par / spot`` each). Requests not honoured lapse (their holders sell).
        Returns (tokens redeemed, GPU-hour lots delivered)."""
        queue, self._redeem_queue = self._redeem_queue, []
        if not queue or self.token_spec is None:
            return 0.0, 0
        econ = self.economy
        par = self.params.token.par
        gpuh_lot = self.params.lots.gpu_hours
        available = self._holding(econ.lab, GPUH)
        lab_account = self.accounts[econ.lab]
        tokens = 0.0
        delivered = 0
        base = self.token_spec.base
        for ts, holder, lots in queue:
            acct = self.engine.accounts.get(holder)
            free = acct.free_asset(base) if acct is not None else 0
            want = min(lots, free) * self._token_lot
            can = redeemable_tokens(want, available * gpuh_lot, spot_price, par)
            honoured = int(can // self._token_lot + 1e-9)
            if honoured <= 0:
                continue
            hours = -(-honoured * self._token_lot * par // (spot_price * gpuh_lot))
            hours = min(int(hours), available)
            self._apply([Burn(account=holder, asset=base, amount=honoured)])
            available -= hours
            delivered += hours
            tokens += honoured * self._token_lot
            self._record_sale(holder, int(round(honoured * self._token_lot * par * 1e6)),
                              honoured, ts)
            self._redeemed_lots[holder] = self._redeemed_lots.get(holder, 0) + honoured
        if delivered:
            self._apply([Burn(account=lab_account, asset=GPUH, amount=delivered)])
        return tokens, delivered

    def _purchases(self, pairs: dict[tuple[int, int], list[int]],
                   unit: float) -> tuple[Purchase, ...]:
        """Trades per (buyer, seller) as purchases between entities. A trade with an account
        outside the economy is money entering or leaving it, recorded as such right away."""
        econ = self.economy
        kind = COMPUTE_PURCHASE if pairs is self.trades.spot_pairs else ENERGY_PURCHASE
        out: list[Purchase] = []
        for (buyer, seller), (micros, lots) in sorted(pairs.items()):
            b = self.by_account.get(buyer)
            s = self.by_account.get(seller)
            if b is not None and s is not None:
                out.append(Purchase(b, s, micros, lots * unit))
            elif kind == COMPUTE_PURCHASE and b is not None:
                econ.outside_compute_trade(b, micros, lots * unit, bought=True, source=MARKET)
            elif kind == COMPUTE_PURCHASE and s is not None:
                econ.outside_compute_trade(s, micros, lots * unit, bought=False, source=MARKET)
            elif b is not None:
                econ.ledger.transfer(b, OUTSIDE, micros, kind, econ.period)
            elif s is not None:
                econ.fund(s, micros, MARKET, kind)
        return tuple(self._payable_order(out))

    def _payable_order(self, purchases: list[Purchase]) -> list[Purchase]:
        """The purchases in an order the ledger can pay them in. On the exchange a buyer may
        spend, within the period, money it earned by selling (the lab resells contracted
        hours and buys others); the ledger records the period's purchases one by one, so
        each buyer's receipts must come before the payments they fund. Greedy: record next
        the first purchase whose buyer can already pay; if none can, keep the given order
        (the ledger will then report the shortfall)."""
        ledger = self.economy.ledger
        balance = {h: ledger.balance(h) for p in purchases for h in (p.buyer, p.seller)}
        left = list(purchases)
        out: list[Purchase] = []
        while left:
            pick = next((i for i, p in enumerate(left) if balance[p.buyer] >= p.micros), 0)
            p = left.pop(pick)
            balance[p.buyer] -= p.micros
            balance[p.seller] += p.micros
            out.append(p)
        return out

    # -- the view the agents see ---------------------------------------------------------------
    def period(self) -> int:
        return self.current if self.plan is not None else -1

    def phase(self, now_ns: int) -> float:
        return ((now_ns - self.start_ns) % self._period_ns) / self._period_ns

    def period_ns(self) -> int:
        return self._period_ns

    def reference_price(self) -> float:
        return self.ref_price

    def marginal_cost(self) -> float:
        return self._mc

    def break_even(self) -> float:
        return self._be

    def demand_lots(self, price: float, who: str) -> int:
        econ = self.economy
        total = econ.demand.quantity_gw(price, self._t) * self._per_gw / self.params.lots.gpu_hours
        share = self.params.lab.demand_share
        return int(total * (share if who == econ.lab else 1.0 - share))

    def kwh_price(self) -> float:
        return self._kwh_price

    def kwh_lots_needed(self, entity: str) -> int:
        econ = self.economy
        if entity not in econ.sellers or econ.sellers[entity].defaulted:
            return 0
        gw = econ.clusters.online_gw(econ.period + 1, entity)
        kwh = kwh_for(gw * self._per_gw, self.params.energy)
        return int(math.ceil(kwh / self.params.lots.kwh))

    def exposure_lots(self, entity: str) -> int:
        plan = self.plan
        if plan is None:
            return 0
        econ = self.economy
        if entity == econ.lab:
            contracted = sum(s.contracted_lots for s in plan.sellers.values())
            return self.demand_lots(self.ref_price, entity) - contracted
        seller = plan.sellers.get(entity)
        return -seller.merchant_lots if seller is not None else 0

    def futures(self, now_ns: int) -> list[FutureInfo]:
        return [f for f in self.strip if f.expiry_ns > now_ns]

    def cash_due(self, entity: str) -> int:
        econ = self.economy
        return econ.lab_due() if entity == econ.lab and self.plan is not None else 0

    def strategic_overbuild(self) -> bool:
        return self.params.commitments.strategic_overbuild

    def token_fundamental(self) -> float:
        if self.token_spec is None:
            return math.nan
        cfg = self.cfg
        theta = cfg.token_fundamental
        if self.current >= cfg.token_shock_period:
            theta -= cfg.token_shock
        fin = self.params.finance
        extra = token_term(self._token_price, fin) - token_term(fin.token_reference_price, fin)
        return theta - cfg.token_capital_drag * max(0.0, extra)

    def token_price(self) -> float:
        return self._token_price

    def large_run_share(self) -> float:
        large = [a for a in self.holders if a.params.large]
        total = sum(a.params.tokens for a in large)
        if not total:
            return 0.0
        return sum(self._token_sales[a.agent_id][1] for a in large
                   if a.agent_id in self._token_sales) / total

    def token_params(self) -> TokenParams:
        return self.params.token

    def token_instrument(self) -> str | None:
        return self.token_spec.name if self.token_spec is not None else None

    def token_leverage(self) -> float:
        return self.cfg.token_leverage

    def token_maintenance(self) -> float:
        return self.cfg.token_maintenance

    def redemption_open(self) -> bool:
        return self.cfg.token_redemption and self.token_spec is not None

    def request_redemption(self, holder: int, lots: int) -> None:
        if not self.redemption_open() or lots <= 0:
            return
        self._redeem_queue = [q for q in self._redeem_queue if q[1] != holder]
        self._redeem_queue.append((self.sim.kernel.now, holder, lots))

    def redemption_pending(self, holder: int) -> int:
        return sum(lots for _, h, lots in self._redeem_queue if h == holder)

    def holder_recovery(self) -> dict[str, float]:
        """First movers against last: each selling holder's recovery (sale proceeds plus
        what it still holds at the final price, per token at par), averaged over the first and
        the last decile of sellers by the time of their first sale, weighted by position.
        Stayers' recovery (final price) is reported too."""
        assert self.token_spec is not None
        lot = float(self.token_spec.lot_size)
        par = self.params.finance.token_reference_price
        final = self._token_price
        sellers = sorted(((s[2], aid) for aid, s in self._token_sales.items() if s[1] > 0))
        def rec(aid: int) -> float:
            sale = self._token_sales.get(aid, [0, 0, -1])
            tokens = self._token_initial[aid]
            left = max(0, tokens - sale[1])
            return (sale[0] / 1e6 + left * lot * final) / (tokens * lot * par)
        out = {"token_sellers": float(len(sellers)), "token_final_price": final}
        if sellers:
            n = max(1, len(sellers) // 10)
            for key, group in (("first", sellers[:n]), ("last", sellers[-n:])):
                w = [self._token_initial[a] for _, a in group]
                out[f"token_{key}_decile_recovery"] = sum(
                    rec(a) * x for (_, a), x in zip(group, w, strict=True)) / sum(w)
        return out

    # -- results -------------------------------------------------------------------------------
    def table(self, run_id: int) -> pa.Table:
        """One row per period: the economy's metrics and what the market did."""
        keys = sorted({k for row in self.rows for k in row})
        lead = ["period", "year", "ts"]
        cols = lead + [k for k in keys if k not in lead]
        data: dict[str, pa.Array] = {"run_id": pa.array([run_id] * len(self.rows), pa.int64())}
        for key in cols:
            values = [row.get(key, math.nan) for row in self.rows]
            if key in ("period", "ts"):
                data[key] = pa.array([int(v) for v in values], pa.int64())
            else:
                data[key] = pa.array(values, pa.float64())
        return pa.table(data)

    def summary(self) -> dict[str, float]:
        """Run-level numbers: the glut summary, spot against break-even, circular shares."""
        rows = self.rows
        if not rows:
            return {}
        out = {f"econ_{k}": v for k, v in glut_summary(rows).items()}
        spots = [r["spot_price"] for r in rows]
        out["econ_mean_spot"] = sum(spots) / len(spots)
        out["econ_break_even"] = rows[0]["break_even"]
        out["econ_years"] = len(rows) * self.economy.clock.years_per_period
        out["econ_strategic_overbuild"] = float(self.strategic_overbuild())
        circ = self._circular
        for name in sorted(self.economy.sellers):
            out[f"econ_circular_share_{name}"] = circ.traced_share(name)
        for name in sorted(self.params.vendors.cash_usd):
            out[f"econ_{VENDOR_PREFIX}{name}"] = circ.traced_share(name)
            out[f"econ_vendor_circular_upper_{name}"] = circ.earmarked_share(name)
        if self.holders and self.token_spec is not None:
            prices = [r["token_price"] for r in rows]
            out["econ_token_final_price"] = prices[-1]
            out["econ_token_drawdown"] = 1.0 - prices[-1] / max(prices)
            out["econ_token_holders_sold"] = float(sum(
                1 for a in self.holders if self._token_sales.get(a.agent_id, [0, 0])[1] > 0))
        return out


def _is_desk(agent: EconomyAgent) -> bool:
    return isinstance(agent, HedgeDesk)


def _own_account(agent: EconomyAgent) -> bool:
    """Agents that trade from their own account rather than an entity's (token holders and
    the token dealer)."""
    return agent.own_account


def attach(sim: Simulation, section: dict[str, Any],
           seq: np.random.SeedSequence) -> EconomyDriver:
    """Join an economy to ``sim`` (called by the runner when the scenario has ``[economy]``)."""
    return EconomyDriver(sim, section, seq)

