"""The economy as one object stepped twice per period: ``open_period`` then ``close_period``.

The runner's loop, per period (e.g. one week):

1. ``plan = economy.open_period()``: capacity arrives and retires, power is rationed, and the
   plan's intents mint this period's GPU-hours (merchant hours to each seller, contracted hours
   to the lab), mint the kWh available to data centres to the energy producer, deposit the lab's
   end-user revenue and any deal tranche due. Apply them with ``intents.to_commands``.
2. Agents trade for the period on the exchange.
3. ``result = economy.close_period(obs)`` with what the exchange saw (prices, purchases, unsold
   and consumed lots): the result's intents burn unsold hours (they perish), burn consumed
   ones, pay take-or-pay, operating costs and debt service, default those who cannot pay, and
   finance new builds (loans drawn, chips paid to vendors). Apply them, then go to 1.

Nothing here reads a clock or a global random state: time is the period counter and the only
randomness is the ``numpy.random.Generator`` given at construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec
import numpy as np

from .capacity import CLUSTER, BuildOrder, CapacityBook
from .compute_token import TokenState, coverage
from .deals import flow_in_window, per_gw_amount
from .demand import DemandModel
from .energy import deliverable_gpu_hours, gpu_hours_per_gw, kwh_for, kwh_from_power, ration
from .finance import (
    Loan,
    break_even_price,
    cost_of_debt,
    debt_due,
    leverage,
    marginal_cost,
    merchant_build_gw,
)
from .intents import (
    CCT,
    GPUH,
    KWH,
    AnyIntent,
    BurnIntent,
    DepositIntent,
    MintIntent,
    TransferIntent,
    WithdrawIntent,
)
from .lab_finance import (
    EQUITY_SOURCE,
    NOTES_SOURCE,
    VENDOR_CREDIT_SOURCE,
    Arrear,
    equity_cap,
    pay_oldest_first,
    revenue_growth,
    round_share,
)
from .ledger import (
    BACKSTOP_CREDIT,
    CHIP_PURCHASE,
    COMPUTE_PURCHASE,
    DEBT,
    DEBT_SERVICE,
    DISTRESSED_SALE,
    END_USER_REVENUE,
    END_USERS,
    ENERGY_PURCHASE,
    EQUITY,
    EXCHANGE_FEE,
    LENDERS,
    OPEX,
    OUTSIDE,
    OWN,
    TOKEN_ISSUANCE,
    VENDOR_FINANCING,
    FlowLedger,
    LedgerMismatch,
)
from .params import EconomyParams, SellerParams
from .records import (
    DefaultRecord,
    PeriodObservation,
    PeriodPlan,
    PeriodResult,
    Purchase,
    SellerPlan,
)
from .units import HOURS_PER_YEAR, capped_split, split_pro_rata, usd_to_micros

__all__ = ["Economy", "DefaultRecord", "PeriodObservation", "PeriodPlan", "PeriodResult",
           "Purchase", "SellerPlan", "CONTRACT", "MERCHANT", "TOKEN_HOLDERS"]

CONTRACT = "contract"  # tag of cluster capacity built for the lab's take-or-pay programme
MERCHANT = "merchant"
TOKEN_HOLDERS = "token_holders"
CONSTRUCTION = "construction"


class SellerState:
    """A seller's financial state; its capacity lives in the economy's cluster book."""

    def __init__(self, params: SellerParams) -> None:
        self.params = params
        self.loans: list[Loan] = []
        self.defaulted = False

    @property
    def name(self) -> str:
        return self.params.name

    def debt(self) -> int:
        return sum(loan.balance for loan in self.loans)


def _delivered_share(plan: SellerPlan) -> float:
    """Share of a seller's capacity hours it can deliver this period (power and kWh held)."""
    if plan.capacity_gpu_hours <= 0:
        return 0.0
    return min(1.0, max(0.0, plan.deliverable_gpu_hours / plan.capacity_gpu_hours))


class Economy:
    """The macro layer: demand, capacity, energy, finance, flows of funds and the token."""

    def __init__(self, params: EconomyParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        self.clock = params.clock
        self.period = 0
        self.demand = DemandModel(params.demand)
        self.clusters = CapacityBook(self.clock)
        self.power = CapacityBook(self.clock)
        self.ledger = FlowLedger()
        self.token = TokenState(supply=params.token.initial_supply)
        self.token_price = params.finance.token_reference_price
        self.sellers: dict[str, SellerState] = {}
        self.defaults: list[DefaultRecord] = []
        self.history: list[dict[str, float]] = []
        self.expected_price = params.demand.reference_price
        self.contract_deployed_gw = 0.0
        # The lab's compute account, cumulative, on an accrual basis: take-or-pay counts what
        # was owed, paid or not (the hours were delivered either way).
        self.lab_cost = 0  # micro-USD: take-or-pay owed + GPU-hours bought
        self.lab_unpaid = 0  # micro-USD: take-or-pay owed and not paid (in lab_cost)
        self.lab_hours_acquired = 0.0  # GPU-hours delivered under contract or bought
        self.lab_hours = 0.0  # GPU-hours the lab consumed
        self.lab_resale_revenue = 0  # micro-USD: what the lab's sales of GPU-hours fetched
        self.lab_hours_resold = 0.0  # GPU-hours the lab sold
        self.redeemed_gpu_hours = 0.0  # GPU-hours owed for tokens redeemed, this period
        # the lab's financing (lab_finance.py): what it raised from each source, its arrears,
        # partners' credit and whether it defaulted; all micro-USD unless said otherwise
        self.lab_revenues: list[int] = []  # end-user revenue per period, for its growth
        self.lab_raised = dict.fromkeys((EQUITY_SOURCE, NOTES_SOURCE, VENDOR_CREDIT_SOURCE), 0)
        self.lab_year = -1  # the run year (0, 1, ...) the caps below apply to
        self.lab_equity_cap = 0  # this year's cap on equity rounds
        self.lab_year_raised = dict.fromkeys((EQUITY_SOURCE, NOTES_SOURCE), 0)
        self.lab_credit: dict[str, int] = {}  # vendor -> backstop credit outstanding
        self.arrears: list[Arrear] = []
        self.lab_deferred = 0  # take-or-pay sellers agreed to defer (backstop), cumulative
        self.lab_arrears_paid = 0  # arrears paid down, cumulative
        self.lab_written_off = 0  # arrears and credit written off on the lab's default
        self.lab_financing_cost = 0.0  # USD, accrued (lab_finance.py)
        self.lab_investor_share = 0.0  # share of the lab the run's equity rounds sold
        self.lab_defaulted = False
        self.lab_default_period = -1
        self.lab_exposed: set[str] = set()  # sellers the lab has owed take-or-pay
        self._plan: PeriodPlan | None = None
        self._initial: list[AnyIntent] = []
        self._setup()

    # -- set-up --------------------------------------------------------------------------------
    @property
    def hours(self) -> float:
        return self.clock.period_hours

    @property
    def lab(self) -> str:
        return self.params.lab.name

    def _fund(self, holder: str, micros: int, source: str, channel: str) -> None:
        if micros:
            self.ledger.inject(holder, micros, source, channel, self.period)
            self._initial.append(DepositIntent(holder=holder, micros=micros, kind=channel,
                                               reason="initial cash"))

    def _setup(self) -> None:
        p = self.params
        for sp in p.sellers:
            state = SellerState(sp)
            self.sellers[sp.name] = state
            n = max(1, sp.installed_vintages)
            for i in range(n):
                age_years = i + 0.5
                online = -self.clock.periods(age_years)
                cost = usd_to_micros(sp.installed_gw / n * p.cluster.capex_usd_per_gw)
                self.clusters.add_existing(sp.name, CLUSTER, sp.installed_gw / n, online,
                                           p.cluster.life_years, cost, MERCHANT)
            tranches = max(1, self.clock.periods(p.cluster.build_lag_years)
                           // max(1, self.clock.periods(0.25)))
            for j in range(tranches if sp.pipeline_gw > 0 else 0):
                gw = sp.pipeline_gw / tranches
                lag = p.cluster.build_lag_years * (j + 1) / tranches
                self.clusters.order(sp.name, CLUSTER, gw, 0, lag, p.cluster.life_years,
                                    cost=usd_to_micros(gw * p.cluster.capex_usd_per_gw),
                                    tag=MERCHANT)
            book = self.clusters.assets(0, sp.name)
            debt = book * int(round(sp.leverage * 1_000_000)) // 1_000_000
            if debt:
                rate = cost_of_debt(p.finance, sp.investment_grade, sp.leverage,
                                    self.token_price)
                state.loans.append(Loan.originate(sp.name, debt, rate, p.finance.loan_years,
                                                  self.clock.years_per_period, "initial"))
            self._fund(sp.name, usd_to_micros(sp.cash_usd), sp.name, OWN)
        origins = sorted(p.lab.cash_origins.items())
        lab_cash = split_pro_rata(usd_to_micros(p.lab.cash_usd),
                                  [int(round(v * 1_000_000)) for _, v in origins])
        for (source, _), micros in zip(origins, lab_cash, strict=True):
            channel = OWN if source == self.lab else EQUITY
            self._fund(self.lab, micros, source, channel)
        for vendor, usd in sorted(p.vendors.cash_usd.items()):
            self._fund(vendor, usd_to_micros(usd), vendor, OWN)
        self.power.add_existing(p.power.producer, "existing", p.power.initial_firm_gw, 0,
                                1000.0, 0)

    def initial_intents(self) -> tuple[AnyIntent, ...]:
        """Deposits that give every entity its starting cash (apply once, before period 0)."""
        return tuple(self._initial)

    def entities(self) -> list[str]:
        """Every name the economy may address in an intent (the runner needs an account for
        each): sellers, the lab, the energy producer, other users, token holders, the
        distressed buyer, vendors and every party to a deal's flows."""
        p = self.params
        names = [s.name for s in p.sellers] + [self.lab, p.power.producer, p.users,
                                               TOKEN_HOLDERS, p.distressed_buyer]
        names += sorted(set(p.vendors.cash_usd) | set(p.vendors.vendor_shares))
        for deal in p.deals:
            for flow in deal.flows:
                names += [flow.payer, flow.payee]
        names.append(p.lab_finance.investor)
        return list(dict.fromkeys(names))  # each once, in first-mention order

    # -- helpers -------------------------------------------------------------------------------
    def years(self, period: int | None = None) -> float:
        """Years since the start at the beginning of ``period`` (default: the current one)."""
        return (self.period if period is None else period) * self.clock.years_per_period

    def gpu_hours_per_gw_period(self) -> float:
        return gpu_hours_per_gw(self.hours, self.params.energy)

    def grid_gw(self, period: int) -> float:
        """Firm power from grid additions available to data centres by ``period``."""
        return self.params.power.grid_additions_gw_per_year * self.years(period)

    def firm_power_gw(self, period: int) -> float:
        return self.power.online_gw(period) + self.grid_gw(period)

    def contracted_gw(self, owner: str | None = None, period: int | None = None) -> float:
        k = self.period if period is None else period
        return sum(c.gw for c in self.clusters.cohorts
                   if c.tag == CONTRACT and c.active(k) and (owner is None or c.owner == owner))

    def seller_rate(self, name: str, investment_grade: bool) -> float:
        """A seller's cost of debt. After the lab's default a seller it owed take-or-pay to
        borrows at the non-investment-grade spread: its book was built on the lab's credit."""
        if self.lab_defaulted and name in self.lab_exposed:
            investment_grade = False
        state = self.sellers[name]
        lev = leverage(state.debt(), self.clusters.assets(self.period, name))
        return cost_of_debt(self.params.finance, investment_grade, lev, self.token_price)

    def lab_cost_per_hour(self) -> tuple[float, float, float]:
        """The lab's cost per GPU-hour to date: (gross, net, resale gain in USD).

        * gross: what its hours cost it (take-or-pay owed, paid or not, plus hours bought) per
          GPU-hour acquired.
        * net: the cost of the hours it used, per hour used. Hours it resold leave its books
          at the lower of what they cost (the gross rate) and what they fetched, so a resale
          at a loss (dumping surplus contracted hours in a glut) is part of the cost of what
          it used, and hours that perished unused are too; a resale above cost is a trading
          gain, not a negative cost, and is the third number. The net cost is therefore never
          below zero and never below the gross rate's share of hours kept.
        * resale gain: what resales fetched above the cost of the hours resold, in USD.
        """
        if self.lab_hours_acquired <= 0:
            return 0.0, 0.0, 0.0
        gross = self.lab_cost / 1e6 / self.lab_hours_acquired
        resale = self.lab_resale_revenue / 1e6
        at_cost = gross * self.lab_hours_resold
        credit = min(resale, at_cost)
        net = (self.lab_cost / 1e6 - credit) / self.lab_hours if self.lab_hours else 0.0
        return gross, net, max(0.0, resale - at_cost)

    def record_lab_trade(self, micros: int, gpu_hours: float, bought: bool) -> None:
        """Count one of the lab's GPU-hour trades (with an entity or with an account outside
        the economy) in its compute account."""
        if bought:
            self.lab_cost += micros
            self.lab_hours_acquired += gpu_hours
        else:
            self.lab_resale_revenue += micros
            self.lab_hours_resold += gpu_hours

    def outside_compute_trade(self, entity: str, micros: int, gpu_hours: float,
                              bought: bool, source: str) -> None:
        """An entity's GPU-hour trade with an account outside the economy (an arbitrageur):
        the cash leaves or enters the ledger at once, and the lab's compute account counts it
        as it counts trades with entities."""
        if bought:
            self.ledger.transfer(entity, OUTSIDE, micros, COMPUTE_PURCHASE, self.period)
        else:
            self.ledger.inject(entity, micros, source, COMPUTE_PURCHASE, self.period)
        if entity == self.lab:
            self.record_lab_trade(micros, gpu_hours, bought)

    def vendor_outstanding(self, vendor: str) -> int:
        """Micro-USD ``vendor`` has lent to sellers and, as backstop credit, to the lab, and
        not yet been repaid: one lending limit bounds both."""
        return sum(loan.balance for s in self.sellers.values() for loan in s.loans
                   if loan.lender == vendor) + self.lab_credit.get(vendor, 0)

    def vendor_room(self, vendor: str) -> int:
        """What ``vendor`` may still lend: its lending limit less its loans outstanding, and
        never more than the cash it holds (it lends from its balance sheet)."""
        limit = usd_to_micros(self.params.vendors.lending_limit_usd.get(vendor, 0.0))
        room = limit - self.vendor_outstanding(vendor)
        return max(0, min(room, self.ledger.balance(vendor)))

    def token_fundamental(self) -> float:
        """Coverage ``theta`` of the token for holder agents (see ``compute_token.coverage``)."""
        p = self.params
        revenue = p.lab.annual_revenue_usd * self._revenue_factor()
        return coverage(self.ledger.balance(self.lab) / 1e6, revenue, self.token.supply,
                        p.token)

    @property
    def capex_every(self) -> int:
        """Periods between capex decisions (at least 1)."""
        return max(1, self.clock.periods(self.params.capex_every_years))

    def _periods_per_year(self) -> int:
        return max(1, self.clock.periods(1.0))

    def _revenue_factor(self) -> float:
        """The lab's end-user revenue relative to its start: demand at the reference price
        relative to the start (adoption, quality, the shock) times the growth of its revenue
        per unit of that demand (``lab.monetisation_growth``, 0 by default: revenue per
        GPU-hour of the lab's demand stays at its calibrated start)."""
        t = self.years()
        p = self.params
        return (self.demand.scale(t) / p.demand.reference_gw
                * (1.0 + p.lab.monetisation_growth) ** t)

    def fund(self, holder: str, micros: int, source: str, channel: str) -> None:
        """Record cash the runner put into an account from outside the modelled flows (e.g. a
        buyer agent's deposit); the economy's pools must see every dollar the exchange does."""
        self.ledger.inject(holder, micros, source, channel, self.period)

    def _pay_external(self, payer: str, payee: str, micros: int, kind: str,
                      intents: list[AnyIntent], reason: str) -> None:
        """A deal payment by a party whose other business lies outside the model: it is topped
        up with its own money if its pool here is short, then pays."""
        short = micros - self.ledger.balance(payer)
        if short > 0:
            self.ledger.inject(payer, short, payer, OWN, self.period)
            intents.append(DepositIntent(holder=payer, micros=short, kind=OWN, reason=reason))
        self.ledger.transfer(payer, payee, micros, kind, self.period)
        intents.append(TransferIntent(payer=payer, payee=payee, micros=micros, kind=kind,
                                      reason=reason))

    # -- opening a period ----------------------------------------------------------------------
    def open_period(self, kwh_held: Mapping[str, int] | None = None) -> PeriodPlan:
        """Bring capacity on and off line and mint this period's GPU-hours and kWh.

        Without ``kwh_held`` the energy the data centres draw is rationed from built power and
        settled through ``obs.energy_purchases``. With it (each seller's KWH lots on the
        exchange, bought during the previous period) a seller also cannot run more hours than
        its kWh tokens cover, and the plan burns the kWh lots its hours use up.
        """
        if self._plan is not None:
            raise RuntimeError("close_period must be called before the next open_period")
        p = self.params
        k = self.period
        intents: list[AnyIntent] = []
        before = self.contract_deployed_gw
        arrived, _ = self.clusters.advance(k)
        self.power.advance(k)
        self.contract_deployed_gw += sum(c.gw for c in arrived if c.tag == CONTRACT)
        for deal in p.deals:
            for flow in deal.flows:
                usd = per_gw_amount(flow, before, self.contract_deployed_gw)
                if usd > 0:
                    self._pay_external(flow.payer, flow.payee, usd_to_micros(usd), flow.kind,
                                       intents, f"deal {deal.name}: per GW deployed")
        y0, y1 = self.clock.year(k), self.clock.year(k + 1)
        for deal in p.deals:
            for flow in deal.flows:
                usd = flow_in_window(flow, y0, y1)
                if usd > 0:
                    self._pay_external(flow.payer, flow.payee, usd_to_micros(usd), flow.kind,
                                       intents, f"deal {deal.name}: scheduled")
        self.demand.draw_shock(self.rng)
        per_gw = self.gpu_hours_per_gw_period()
        live = [s for s in self.sellers.values() if not s.defaulted]
        online = [self.clusters.online_gw(k, owner=s.name) for s in live]
        capacity_hours = [gw * per_gw for gw in online]
        needs = [kwh_for(h, p.energy) for h in capacity_hours]
        supply = kwh_from_power(self.firm_power_gw(k), self.hours)
        alloc = ration(supply, needs)
        drawable = sum(alloc)  # what the producer can deliver to data centres this period
        if kwh_held is not None:
            unit_kwh = p.lots.kwh
            alloc = [min(a, kwh_held.get(s.name, 0) * unit_kwh) for s, a in zip(live, alloc,
                                                                                strict=True)]
        plans: dict[str, SellerPlan] = {}
        lots = p.lots
        lab_lots = 0
        for s, gw, cap_h, kwh in zip(live, online, capacity_hours, alloc, strict=True):
            deliver = deliverable_gpu_hours(cap_h, kwh, p.energy)
            contracted = self.contracted_gw(s.name, k)
            share = contracted / gw if gw > 0 else 0.0
            c_lots = lots.gpuh_lots(deliver * share)
            m_lots = lots.gpuh_lots(deliver) - c_lots
            plans[s.name] = SellerPlan(s.name, gw, contracted, cap_h, deliver, m_lots, c_lots,
                                       kwh)
            if kwh_held is not None:
                used = kwh_for((m_lots + c_lots) * lots.gpu_hours, p.energy)
                burn = min(kwh_held.get(s.name, 0), -int(-used // lots.kwh))
                intents.append(BurnIntent(holder=s.name, asset=KWH, lots=burn,
                                          reason="energy used by this period's hours"))
            intents.append(MintIntent(holder=s.name, asset=GPUH, lots=m_lots,
                                      reason="capacity: merchant hours"))
            lab_lots += c_lots
        intents.append(MintIntent(holder=self.lab, asset=GPUH, lots=lab_lots,
                                  reason="capacity: contracted hours delivered to the lab"))
        intents.append(MintIntent(holder=p.power.producer, asset=KWH,
                                  lots=lots.kwh_lots(drawable),
                                  reason="energy available to data centres"))
        revenue = usd_to_micros(p.lab.annual_revenue_usd * self._revenue_factor()
                                * self.clock.years_per_period)
        self.lab_revenues.append(revenue)
        if revenue:
            self.ledger.inject(self.lab, revenue, END_USERS, END_USER_REVENUE, k)
            intents.append(DepositIntent(holder=self.lab, micros=revenue,
                                         kind=END_USER_REVENUE, reason="lab end-user revenue"))
        issue_usd = p.lab.token_issuance_usd_per_year * self.clock.years_per_period
        if issue_usd > 0 and self.token_price > 0:
            tokens = issue_usd / self.token_price
            micros = usd_to_micros(issue_usd)
            self.token.issue(tokens)
            self.ledger.inject(self.lab, micros, TOKEN_HOLDERS, TOKEN_ISSUANCE, k)
            intents.append(DepositIntent(holder=self.lab, micros=micros, kind=TOKEN_ISSUANCE,
                                         reason="token issuance proceeds"))
            intents.append(MintIntent(holder=TOKEN_HOLDERS, asset=CCT,
                                      lots=lots.token_lots(tokens), reason="token issuance"))
        plan = PeriodPlan(period=k, year=y0, intents=tuple(intents), sellers=plans,
                          kwh_supply=supply, kwh_need=sum(needs),
                          power_binds=sum(needs) > supply,
                          demand_ref_gw=self.demand.scale(self.years()), lab_revenue=revenue)
        self._plan = plan
        return plan

    # -- closing a period ----------------------------------------------------------------------
    def close_period(self, obs: PeriodObservation) -> PeriodResult:
        """Settle the period just traded and take this period's investment decisions."""
        plan = self._plan
        if plan is None:
            raise RuntimeError("open_period must be called first")
        p = self.params
        k = self.period
        first_transfer = len(self.ledger.transfers)
        intents: list[AnyIntent] = []
        lab = self.lab
        self.token_price = obs.token_price
        # 1. what happened on the exchange, in the ledger
        for pu in obs.purchases:
            self.ledger.transfer(pu.buyer, pu.seller, pu.micros, COMPUTE_PURCHASE, k)
            if pu.buyer == lab:
                self.record_lab_trade(pu.micros, pu.units, bought=True)
            if pu.seller == lab:
                self.record_lab_trade(pu.micros, pu.units, bought=False)
        for pu in obs.energy_purchases:
            self.ledger.pay_up_to(pu.buyer, pu.seller, pu.micros, ENERGY_PURCHASE, k)
        for holder, fee in sorted(obs.fees.items()):
            if fee > 0:
                self.ledger.pay_up_to(holder, OUTSIDE, fee, EXCHANGE_FEE, k)
            elif fee < 0:
                self.ledger.inject(holder, -fee, OUTSIDE, EXCHANGE_FEE, k)
        wrong = {h: (c, self.ledger.balance(h)) for h, c in sorted(obs.cash.items())
                 if c != self.ledger.balance(h)}
        if wrong:
            raise LedgerMismatch(f"exchange cash vs ledger (micro-USD): {wrong}")
        # 2. perishable hours: unsold ones expire, consumed ones are used up
        for holder, n in sorted(obs.unsold_lots.items()):
            intents.append(BurnIntent(holder=holder, asset=GPUH, lots=n,
                                      reason="unsold GPU-hours expire"))
        consumed_hours = 0.0
        for holder, n in sorted(obs.consumed_lots.items()):
            intents.append(BurnIntent(holder=holder, asset=GPUH, lots=n,
                                      reason="GPU-hours consumed"))
            consumed_hours += n * p.lots.gpu_hours
            if holder == lab:
                self.lab_hours += n * p.lots.gpu_hours
        per_gw_year = gpu_hours_per_gw(HOURS_PER_YEAR, p.energy)
        self.demand.consume(consumed_hours / per_gw_year)
        if obs.tokens_issued:
            self.token.issue(obs.tokens_issued)
        if obs.tokens_bought_back:
            self.token.buy_back(obs.tokens_bought_back)
        self.redeemed_gpu_hours = 0.0
        if obs.tokens_redeemed:
            self.redeemed_gpu_hours = self.token.redeem(obs.tokens_redeemed, obs.spot_price,
                                                        p.token)
        # 3. take-or-pay: the lab pays for contracted capacity online, used or not, financing
        # what its cash does not cover (lab_finance.py); the rest is arrears
        ypp = self.clock.years_per_period
        self.lab_hours_acquired += sum(s.contracted_lots for s in plan.sellers.values()) \
            * p.lots.gpu_hours
        owed_total, paid_total = self._settle_lab(plan, intents)
        # 4. operating costs and debt service; default when they cannot be met
        defaults: list[DefaultRecord] = []
        for name in sorted(plan.sellers):
            state = self.sellers[name]
            if state.defaulted:
                continue
            opex = usd_to_micros(plan.sellers[name].capacity_gpu_hours
                                 * p.finance.opex_usd_per_gpu_hour)
            due = debt_due(state.loans)
            if self.ledger.balance(name) < opex + due:
                defaults.append(self._default(name, intents))
                continue
            if opex:
                self.ledger.transfer(name, OUTSIDE, opex, OPEX, k)
                intents.append(WithdrawIntent(holder=name, micros=opex, kind=OPEX,
                                              reason="operating costs"))
            if due:
                by_lender: dict[str, int] = {}
                for loan in state.loans:
                    interest, principal = loan.pay()
                    lender = loan.lender or OUTSIDE
                    by_lender[lender] = by_lender.get(lender, 0) + interest + principal
                state.loans = [loan for loan in state.loans if loan.balance > 0]
                if sum(by_lender.values()) != due:
                    raise AssertionError("debt service paid differs from debt service due")
                for lender, amount in sorted(by_lender.items()):
                    if amount:
                        self._pay_lender(name, lender, amount, DEBT_SERVICE, intents,
                                         "debt service")
        # 5. expectations and investment
        if obs.futures_prices:
            self.expected_price = sum(obs.futures_prices) / len(obs.futures_prices)
        else:
            w = min(1.0, ypp / 0.25)  # adaptive expectation, ~3-month memory
            self.expected_price += w * (obs.spot_price - self.expected_price)
        orders: list[BuildOrder] = []
        if k % self.capex_every == 0:
            if not self.lab_defaulted:  # a defaulted lab's contracts have ended
                orders += self._contract_builds(intents)
            orders += self._merchant_builds(obs, intents)
            orders += self._power_builds()
        # 6. the record
        metrics = self._metrics(plan, obs, orders, defaults, owed_total, paid_total)
        self.history.append(metrics)
        self.period += 1
        self._plan = None
        return PeriodResult(period=k, intents=tuple(intents),
                            transfers=tuple(self.ledger.transfers[first_transfer:]),
                            defaults=tuple(defaults), orders=tuple(orders), metrics=metrics)

    # -- the lab's financing (lab_finance.py) --------------------------------------------------
    def _settle_lab(self, plan: PeriodPlan, intents: list[AnyIntent]) -> tuple[int, int]:
        """Pay what falls due on the lab this period, raising what its cash does not cover.

        Due: arrears of earlier periods, the lab's opex and the take-or-pay for contracted GW
        online. When its cash is short the lab raises money in ``lab_finance.order``. Cash
        then pays arrears oldest first, opex, and the take-or-pay (pro rata by seller when
        short); the unpaid take-or-pay is deferred by sellers under the backstop, up to each
        one's limit, and is plain arrears beyond it. Spare cash repays partners' credit.
        Plain arrears older than the grace period are a default. Returns (take-or-pay owed
        this period, paid this period)."""
        p = self.params
        f = p.lab_finance
        k = self.period
        lab = self.lab
        ypp = self.clock.years_per_period
        self._accrue_financing_cost()
        owed = self._take_or_pay_owed(plan)
        self.lab_cost += sum(owed.values())  # accrued: the hours were delivered either way
        self.lab_exposed |= set(owed)
        opex = self._lab_opex()
        due = self.lab_due()
        short = due - self.ledger.balance(lab)
        if short > 0 and not self.lab_defaulted:
            self._raise(short, intents)
        # arrears, oldest first
        for arrear, x in pay_oldest_first(self.arrears, self.ledger.balance(lab)):
            self._pay_due(arrear.payee, x, intents, "take-or-pay arrears paid down")
            arrear.micros -= x
            self.lab_arrears_paid += x
        self.arrears = [a for a in self.arrears if a.micros > 0]
        # the lab's own operating cost
        if opex:
            x = min(opex, self.ledger.balance(lab))
            self._pay_due(OUTSIDE, x, intents, "lab operating costs")
            if opex > x:
                self.arrears.append(Arrear(payee=OUTSIDE, period=k, micros=opex - x,
                                           deferred=False))
        # this period's take-or-pay, pro rata by seller when the cash is short
        names = list(owed)
        cash = self.ledger.balance(lab)
        total = sum(owed.values())
        pays = ([owed[n] for n in names] if cash >= total
                else split_pro_rata(cash, [owed[n] for n in names]) if names else [])
        for name, x in zip(names, pays, strict=True):
            if x:
                self._pay_due(name, x, intents, "take-or-pay")
            unpaid = owed[name] - x
            if unpaid <= 0:
                continue
            defer = 0
            if f.backstop and not self.lab_defaulted:
                limit = int(f.deferral_years * owed[name] / ypp)
                deferred = sum(a.micros for a in self.arrears if a.payee == name and a.deferred)
                defer = max(0, min(unpaid, limit - deferred))
            if defer:
                self.arrears.append(Arrear(payee=name, period=k, micros=defer, deferred=True))
                self.lab_deferred += defer
            if unpaid > defer:
                self.arrears.append(Arrear(payee=name, period=k, micros=unpaid - defer,
                                           deferred=False))
        self._repay_credit(intents)
        grace = max(1, int(round(f.grace_weeks * 168.0 / self.hours)))
        if not self.lab_defaulted and any(not a.deferred and k - a.period >= grace
                                          for a in self.arrears):
            self._lab_default()
        self.lab_unpaid = sum(a.micros for a in self.arrears) + self.lab_written_off
        return total, sum(pays)

    def _take_or_pay_owed(self, plan: PeriodPlan) -> dict[str, int]:
        """Micro-USD of take-or-pay each seller is owed for ``plan``'s contracted GW online
        that it can deliver (sellers owed nothing left out).

        Take-or-pay binds the buyer, not the seller: the lab pays for contracted capacity
        the seller makes available, used or not, but not for the part of it the seller cannot
        run this period because its power is rationed (or, on the exchange, because it holds
        too few kWh). A seller's deliverable hours are split between contract and merchant
        pro rata to its GW (``open_period``), so the contracted GW owed for is
        ``contracted_gw x deliverable / capacity``."""
        p = self.params
        ypp = self.clock.years_per_period
        owed = {n: usd_to_micros(sp.contracted_gw * _delivered_share(sp)
                                 * p.commitments.usd_per_gw_year * ypp)
                for n, sp in sorted(plan.sellers.items())}
        return {n: v for n, v in owed.items() if v > 0}

    def _lab_opex(self) -> int:
        """Micro-USD of the lab's own operating cost for one period."""
        return usd_to_micros(self.params.lab_finance.opex_usd_per_year
                             * self.clock.years_per_period)

    def lab_due(self) -> int:
        """Micro-USD that falls due on the lab at the close of the period now open: the
        take-or-pay for contracted GW online, its opex and the arrears of earlier periods
        (0 when no period is open). ``close_period`` settles exactly this amount before it
        raises any money, so the lab's agent can keep it out of its bids (its treasury rule,
        ``agents/compute/lab.py``). The financing cost is accrued, never paid in cash, so it
        is not due."""
        plan = self._plan
        if plan is None:
            return 0
        return (sum(self._take_or_pay_owed(plan).values()) + self._lab_opex()
                + sum(a.micros for a in self.arrears))

    def _pay_due(self, payee: str, micros: int, intents: list[AnyIntent], reason: str) -> None:
        """The lab pays ``micros`` to a seller (a compute purchase) or its opex to outside."""
        if micros <= 0:
            return
        if payee == OUTSIDE:
            self.ledger.transfer(self.lab, OUTSIDE, micros, OPEX, self.period)
            intents.append(WithdrawIntent(holder=self.lab, micros=micros, kind=OPEX,
                                          reason=reason))
            return
        self.ledger.transfer(self.lab, payee, micros, COMPUTE_PURCHASE, self.period)
        intents.append(TransferIntent(payer=self.lab, payee=payee, micros=micros,
                                      kind=COMPUTE_PURCHASE, reason=reason))

    def _raise(self, short: int, intents: list[AnyIntent]) -> None:
        """Raise up to ``short`` micro-USD for the lab from its sources, in order."""
        f = self.params.lab_finance
        year = int(math.floor(self.years() + 1e-9))
        if year != self.lab_year:  # a new year: caps reset, the equity cap follows growth
            self.lab_year = year
            self.lab_year_raised = dict.fromkeys(self.lab_year_raised, 0)
            growth = revenue_growth(self.lab_revenues, self._periods_per_year(),
                                    f.reference_growth)
            self.lab_equity_cap = usd_to_micros(equity_cap(f, growth))
        for source in f.order:
            if short <= 0:
                break
            if source == EQUITY_SOURCE:
                got = self._equity_round(short, intents)
            elif source == NOTES_SOURCE and f.notes:
                got = self._issue_notes(short, intents)
            elif source == VENDOR_CREDIT_SOURCE and f.backstop:
                got = self._vendor_credit(short, intents)
            else:
                got = 0
            self.lab_raised[source] += got
            short -= got

    def _equity_round(self, short: int, intents: list[AnyIntent]) -> int:
        """An equity round from the investor entity, within what is left of the year's cap;
        it dilutes earlier holders at the round's valuation."""
        f = self.params.lab_finance
        amount = min(short, self.lab_equity_cap - self.lab_year_raised[EQUITY_SOURCE])
        if amount <= 0:
            return 0
        self._pay_external(f.investor, self.lab, amount, EQUITY, intents, "lab equity round")
        self.lab_year_raised[EQUITY_SOURCE] += amount
        revenue = self.params.lab.annual_revenue_usd * self._revenue_factor()
        share = round_share(amount / 1e6, revenue, f)
        self.lab_investor_share = 1.0 - (1.0 - self.lab_investor_share) * (1.0 - share)
        return amount

    def _issue_notes(self, short: int, intents: list[AnyIntent]) -> int:
        """Revenue-linked notes: compute-credit tokens sold to holders at the token's price,
        in whole exchange lots, within what is left of the year's cap."""
        p = self.params
        price = self.token_price
        left = usd_to_micros(p.lab_finance.notes_cap_usd_per_year) \
            - self.lab_year_raised[NOTES_SOURCE]
        lot_micros = p.lots.tokens * price * 1e6
        if price <= 0 or left <= 0 or lot_micros <= 0:
            return 0
        lots = min(math.ceil(short / lot_micros), int(left // lot_micros))
        if lots <= 0:
            return 0
        tokens = lots * p.lots.tokens
        micros = usd_to_micros(tokens * price)
        self.token.issue(tokens)
        self.ledger.inject(self.lab, micros, TOKEN_HOLDERS, TOKEN_ISSUANCE, self.period)
        intents.append(DepositIntent(holder=self.lab, micros=micros, kind=TOKEN_ISSUANCE,
                                     reason="lab notes: token issuance proceeds"))
        intents.append(MintIntent(holder=TOKEN_HOLDERS, asset=CCT, lots=lots,
                                  reason="lab notes: token issuance"))
        self.lab_year_raised[NOTES_SOURCE] += micros
        return micros

    def _vendor_credit(self, short: int, intents: list[AnyIntent]) -> int:
        """The backstop's cash: chip vendors lend the lab up to their room under their
        lending limits, split by their chip shares (what a capped vendor cannot lend goes to
        the others in the same proportions)."""
        v = self.params.vendors
        rooms = {n: self.vendor_room(n) for n in sorted(v.vendor_shares)}
        lent = capped_split(short, {n: int(round(v.vendor_shares[n] * 1e6)) for n in rooms},
                            rooms)
        for n, amount in sorted(lent.items()):
            if amount:
                self.ledger.transfer(n, self.lab, amount, BACKSTOP_CREDIT, self.period)
                intents.append(TransferIntent(payer=n, payee=self.lab, micros=amount,
                                              kind=BACKSTOP_CREDIT,
                                              reason="backstop: vendor credit to the lab"))
                self.lab_credit[n] = self.lab_credit.get(n, 0) + amount
        return sum(lent.values())

    def _repay_credit(self, intents: list[AnyIntent]) -> None:
        """Cash the lab has left once everything due is paid repays partners' credit, pro
        rata to what each vendor is owed."""
        cash = self.ledger.balance(self.lab)
        owed = {n: x for n, x in sorted(self.lab_credit.items()) if x > 0}
        if cash <= 0 or not owed or self.arrears:
            return
        pay = min(cash, sum(owed.values()))
        for n, x in zip(owed, split_pro_rata(pay, list(owed.values())), strict=True):
            if x:
                self.ledger.transfer(self.lab, n, x, DEBT_SERVICE, self.period)
                intents.append(TransferIntent(payer=self.lab, payee=n, micros=x,
                                              kind=DEBT_SERVICE,
                                              reason="backstop credit repaid"))
                self.lab_credit[n] -= x
        self.lab_credit = {n: x for n, x in self.lab_credit.items() if x > 0}

    def _accrue_financing_cost(self) -> None:
        """The period's cost of the lab's financing, accrued in USD (not paid in cash): the
        required return on equity raised in the run, the notes' yield, the rate on partners'
        credit and on arrears outstanding."""
        f = self.params.lab_finance
        dt = self.clock.years_per_period
        cost = (f.equity_cost_rate * self.lab_raised[EQUITY_SOURCE]
                + f.notes_rate * self.lab_raised[NOTES_SOURCE]
                + f.vendor_credit_rate * sum(self.lab_credit.values())
                + f.arrears_rate * sum(a.micros for a in self.arrears))
        self.lab_financing_cost += cost * dt / 1e6

    def _lab_default(self) -> None:
        """The lab defaults: sellers write off the arrears they are owed and vendors their
        credit, the take-or-pay contracts end (contracted capacity, online or pending, is the
        sellers' merchant capacity from now on), no contract is built any more, and sellers
        the lab owed borrow at the non-investment-grade spread (``seller_rate``)."""
        self.lab_defaulted = True
        self.lab_default_period = self.period
        self.lab_written_off += sum(a.micros for a in self.arrears) \
            + sum(self.lab_credit.values())
        self.arrears = []
        self.lab_credit = {}
        for cohort in self.clusters.cohorts:
            if cohort.tag == CONTRACT:
                cohort.tag = MERCHANT
        self.clusters.pending = [msgspec.structs.replace(o, tag=MERCHANT)
                                 if o.tag == CONTRACT else o for o in self.clusters.pending]

    def lab_finance_metrics(self) -> dict[str, float]:
        """The lab's funding picture to date, in USD: raised per source, partners' support,
        arrears, write-offs, the accrued financing cost and whether it defaulted."""
        f = self.params.lab_finance
        lab_hours = self.lab_hours
        _, net, _ = self.lab_cost_per_hour()
        per_hour = self.lab_financing_cost / lab_hours if lab_hours else 0.0
        return {
            "lab_backstop": float(f.backstop),
            "lab_equity_raised_usd": self.lab_raised[EQUITY_SOURCE] / 1e6,
            "lab_notes_issued_usd": self.lab_raised[NOTES_SOURCE] / 1e6,
            "lab_vendor_credit_usd": self.lab_raised[VENDOR_CREDIT_SOURCE] / 1e6,
            "lab_vendor_credit_outstanding_usd": sum(self.lab_credit.values()) / 1e6,
            "lab_deferred_usd": self.lab_deferred / 1e6,
            "lab_arrears_usd": sum(a.micros for a in self.arrears) / 1e6,
            "lab_arrears_deferred_usd": sum(a.micros for a in self.arrears if a.deferred)
            / 1e6,
            "lab_arrears_paid_usd": self.lab_arrears_paid / 1e6,
            "lab_written_off_usd": self.lab_written_off / 1e6,
            "lab_defaulted": float(self.lab_defaulted),
            # 0 while the lab has not defaulted (NaN would break equality of histories)
            "lab_default_year": (self.clock.year(self.lab_default_period)
                                 if self.lab_defaulted else 0.0),
            "lab_equity_cap_usd": self.lab_equity_cap / 1e6,
            "lab_investor_share": self.lab_investor_share,
            "lab_financing_cost_usd": self.lab_financing_cost,
            "lab_all_in_cost": net + per_hour,
        }

    # -- default -------------------------------------------------------------------------------
    def _default(self, name: str, intents: list[AnyIntent]) -> DefaultRecord:
        """``name`` cannot meet its obligations: its capacity (and pending builds) is sold at
        the distressed price to the richest surviving seller that can pay, else to the
        distressed buyer; the price and its remaining cash go to its lenders."""
        p = self.params
        k = self.period
        state = self.sellers[name]
        ratio = p.finance.distressed_price_ratio
        book = self.clusters.assets(k, name)
        estimate = book * int(round(ratio * 1_000_000)) // 1_000_000
        gw = self.clusters.online_gw(k, owner=name) + self.clusters.pending_gw(owner=name)
        candidates = sorted(
            ((self.ledger.balance(s.name), s.name) for s in self.sellers.values()
             if not s.defaulted and s.name != name and s.name != p.distressed_buyer),
            reverse=True)
        acquirer = p.distressed_buyer
        if candidates:
            balance, richest = candidates[0]
            reserve = debt_due(self.sellers[richest].loans) * self._periods_per_year()
            if balance >= estimate + reserve:
                acquirer = richest
        if acquirer == p.distressed_buyer:
            if acquirer not in self.sellers:
                self.sellers[acquirer] = SellerState(SellerParams(
                    name=acquirer, installed_gw=0.0, investment_grade=False, cash_usd=0.0,
                    leverage=0.0, merchant_builds=False))
            self.sellers[acquirer].defaulted = False
            # a distressed fund comes capitalised: the price plus a year of operating costs
            year_opex = usd_to_micros(gw * gpu_hours_per_gw(HOURS_PER_YEAR, p.energy)
                                      * p.finance.opex_usd_per_gpu_hour)
            short = estimate + year_opex - self.ledger.balance(acquirer)
            if short > 0:
                self.ledger.inject(acquirer, short, acquirer, OWN, k)
                intents.append(DepositIntent(holder=acquirer, micros=short, kind=OWN,
                                             reason="distressed buyer's own funds"))
        price = self.clusters.transfer(name, acquirer, k, ratio)
        # the price and the defaulter's cash go to its lenders in proportion to what each is
        # owed: a vendor recovers its share of its loans, outside lenders the rest
        owed: dict[str, int] = {}
        for loan in state.loans:
            lender = loan.lender or OUTSIDE
            owed[lender] = owed.get(lender, 0) + loan.balance
        self._pay_lenders(acquirer, owed, price, DISTRESSED_SALE, intents,
                          f"buys {name}'s capacity at a distressed price")
        cash = self.ledger.balance(name)
        self._pay_lenders(name, owed, cash, DEBT_SERVICE, intents,
                          "defaulter's cash to its lenders")
        debt = state.debt()
        state.loans = []
        state.defaulted = True
        record = DefaultRecord(period=k, seller=name, acquirer=acquirer, gw=gw, price=price,
                               debt=debt, cash_seized=cash,
                               lender_loss=max(0, debt - price - cash))
        self.defaults.append(record)
        return record

    def _pay_lender(self, payer: str, lender: str, micros: int, kind: str,
                    intents: list[AnyIntent], reason: str) -> None:
        """Pay ``micros`` to a lender: out of the economy for outside lenders, to the entity's
        account for a vendor."""
        self.ledger.transfer(payer, lender, micros, kind, self.period)
        if lender == OUTSIDE:
            intents.append(WithdrawIntent(holder=payer, micros=micros, kind=kind, reason=reason))
        else:
            intents.append(TransferIntent(payer=payer, payee=lender, micros=micros, kind=kind,
                                          reason=reason))

    def _pay_lenders(self, payer: str, owed: dict[str, int], micros: int, kind: str,
                     intents: list[AnyIntent], reason: str) -> None:
        """Split ``micros`` among lenders in proportion to what each is owed (all of it out
        of the economy when nobody is owed anything)."""
        if micros <= 0:
            return
        lenders = sorted(owed)
        if not lenders or sum(owed.values()) <= 0:
            self._pay_lender(payer, OUTSIDE, micros, kind, intents, reason)
            return
        for lender, part in zip(lenders, split_pro_rata(micros, [owed[n] for n in lenders]),
                                strict=True):
            if part:
                self._pay_lender(payer, lender, part, kind, intents, reason)

    # -- investment ----------------------------------------------------------------------------
    def _chip_parts(self, cost: int) -> list[tuple[str, int]]:
        """A build's chip purchases per vendor, in micro-USD: ``chip_share_of_capex`` of its
        cost split exactly by ``vendor_shares`` (vendors in name order, which only orders the
        list; every amount follows the shares)."""
        v = self.params.vendors
        chips = cost * int(round(v.chip_share_of_capex * 1_000_000)) // 1_000_000
        vendors = sorted(v.vendor_shares)
        weights = [int(round(v.vendor_shares[n] * 1_000_000)) for n in vendors]
        if chips <= 0 or sum(weights) <= 0:
            return [(n, 0) for n in vendors]
        return list(zip(vendors, split_pro_rata(chips, weights), strict=True))

    def _vendor_loans(self, name: str, cost: int, debt: int, rate: float,
                      tag: str) -> dict[str, int] | None:
        """The vendor loans a contracted build costing ``cost`` (``debt`` of it borrowed from
        banks) needs, per vendor; ``None`` when the vendors cannot lend that much.

        The seller pays the equity part and keeps a year of debt service in cash, counting
        the build's bank loan and the vendor loans themselves (financing exactly the equity
        gap would leave it unable to pay the first instalment). What its cash does not cover
        the vendors lend, each at most ``financed_share`` of the chips this build buys from it
        and at most its room under its lending limit. The need is split in proportion to the
        chips bought from each vendor; what a capped vendor cannot lend goes to the others in
        the same proportions."""
        p = self.params
        ypp = self.clock.years_per_period
        state = self.sellers[name]
        planned = state.loans + ([Loan.originate(name, debt, rate, p.finance.loan_years, ypp,
                                                 tag)] if debt else [])
        reserve = self._periods_per_year() * debt_due(planned)
        short = cost - debt + reserve - self.ledger.balance(name)
        if short <= 0:
            return {}
        # The vendor loan adds its own service to the year kept in reserve: with a payment of
        # f per unit borrowed, borrowing short / (1 - periods * f) covers it too.
        unit = 1_000_000_000_000
        f = Loan.originate(name, unit, p.vendors.vendor_financing_rate, p.finance.loan_years,
                           ypp).payment / unit
        cover = 1 - self._periods_per_year() * f
        if cover <= 0.05:
            return None
        need = int(short / cover) + 1
        share = int(round(p.vendors.financed_share * 1_000_000))
        parts = {v: part for v, part in self._chip_parts(cost) if part > 0}
        caps = {v: min(part * share // 1_000_000, self.vendor_room(v))
                for v, part in parts.items()}
        if sum(caps.values()) < need:
            return None
        loans = capped_split(need, parts, caps)
        return {v: x for v, x in loans.items() if x > 0}

    def _financeable_gw(self, name: str, gw: float, rate: float, tag: str) -> float:
        """The largest part of ``gw`` (to 1e-6 GW) a contracted build can be financed for:
        the seller's cash and the vendor loans its chips allow must cover the equity and a
        year of debt service. Feasibility falls with size, so bisection finds the edge."""
        p = self.params

        def feasible(g: float) -> bool:
            cost = usd_to_micros(g * p.cluster.capex_usd_per_gw)
            debt = cost * int(round(p.finance.debt_fraction * 1_000_000)) // 1_000_000
            return self._vendor_loans(name, cost, debt, rate, tag) is not None

        if feasible(gw):
            return gw
        lo, hi = 0.0, gw
        while hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            if feasible(mid):
                lo = mid
            else:
                hi = mid
        return lo

    def _finance_build(self, name: str, gw: float, rate: float, tag: str,
                       intents: list[AnyIntent], vendor_financing: bool) -> BuildOrder | None:
        """Order ``gw`` of clusters for ``name``: draw the loan, pay the chips to the vendors
        and the rest to construction. The equity part comes from the seller's cash; for a
        contracted build (``vendor_financing``) the chip vendors may lend what the cash does
        not cover, tied to and capped by the chips bought from each (``_vendor_loans``). A
        contracted build the cash and the vendors cannot finance is not ordered (the caller
        shrinks it with ``_financeable_gw`` first)."""
        p = self.params
        k = self.period
        cost = usd_to_micros(gw * p.cluster.capex_usd_per_gw)
        if cost <= 0:
            return None
        ypp = self.clock.years_per_period
        state = self.sellers[name]
        debt = cost * int(round(p.finance.debt_fraction * 1_000_000)) // 1_000_000
        if vendor_financing:
            loans = self._vendor_loans(name, cost, debt, rate, tag)
            if loans is None:
                return None
        else:
            loans = {}
            if cost - debt > self.ledger.balance(name):
                return None
        for vendor, amount in sorted(loans.items()):
            self.ledger.transfer(vendor, name, amount, VENDOR_FINANCING, k)
            intents.append(TransferIntent(payer=vendor, payee=name, micros=amount,
                                          kind=VENDOR_FINANCING,
                                          reason="vendor financing of its chips in a build"))
            state.loans.append(Loan.originate(name, amount, p.vendors.vendor_financing_rate,
                                              p.finance.loan_years, ypp, VENDOR_FINANCING,
                                              lender=vendor))
        if debt:
            self.ledger.inject(name, debt, LENDERS, DEBT, k)
            intents.append(DepositIntent(holder=name, micros=debt, kind=DEBT,
                                         reason="loan drawn for a build"))
            state.loans.append(Loan.originate(name, debt, rate, p.finance.loan_years, ypp, tag))
        chips = 0
        for vendor, part in self._chip_parts(cost):
            if part:
                chips += part
                self.ledger.transfer(name, vendor, part, CHIP_PURCHASE, k)
                intents.append(TransferIntent(payer=name, payee=vendor, micros=part,
                                              kind=CHIP_PURCHASE, reason="chips for a build"))
        rest = cost - chips
        if rest:
            self.ledger.transfer(name, OUTSIDE, rest, CONSTRUCTION, k)
            intents.append(WithdrawIntent(holder=name, micros=rest, kind=CONSTRUCTION,
                                          reason="construction of a build"))
        return self.clusters.order(name, CLUSTER, gw, k, p.cluster.build_lag_years,
                                   p.cluster.life_years, cost=cost, tag=tag)

    def _contract_builds(self, intents: list[AnyIntent]) -> list[BuildOrder]:
        """Top the lab's contracted capacity up to its target for when a build ordered now
        would arrive; split new GW among the surviving sellers by the programme's shares.

        A seller builds the part of its share it can finance (``_financeable_gw``); what it
        cannot is offered to the sellers that built their whole share, again by the shares,
        until nobody can take more. What is left is not built this quarter."""
        p = self.params
        c = p.commitments
        k = self.period
        arrive = k + self.clock.periods(p.cluster.build_lag_years)
        year = self.clock.year(arrive)
        # the lab's forecast of its own demand at the reference price when the build arrives:
        # adoption moves on, quality and the demand shock are taken as they are now
        own = p.lab.demand_share * self.demand.scale(self.years(arrive))
        target = c.target_gw(year, own)
        have = sum(cg.gw for cg in self.clusters.cohorts
                   if cg.tag == CONTRACT and cg.retires > arrive)
        have += sum(o.gw for o in self.clusters.pending if o.tag == CONTRACT)
        gap = target - have
        if gap <= 1e-9:
            return []
        shares = {n: s for n, s in sorted(c.seller_shares.items())
                  if n in self.sellers and not self.sellers[n].defaulted and s > 0}
        orders = []
        while gap > 1e-6 and shares:
            total = sum(shares.values())
            built = 0.0
            full: dict[str, float] = {}
            for name, share in shares.items():
                want = gap * share / total
                rate = self.seller_rate(name, p.lab.investment_grade)
                gw = self._financeable_gw(name, want, rate, CONTRACT)
                if gw < 1e-6:
                    continue
                order = self._finance_build(name, gw, rate, CONTRACT, intents,
                                            vendor_financing=True)
                if order is None:
                    continue
                orders.append(order)
                built += gw
                if gw >= want - 1e-9:
                    full[name] = share
            gap -= built
            if built <= 1e-9 or len(full) == len(shares):
                break
            shares = full
        return orders

    def _merchant_builds(self, obs: PeriodObservation,
                         intents: list[AnyIntent]) -> list[BuildOrder]:
        p = self.params
        k = self.period
        orders = []
        for name in sorted(self.sellers):
            state = self.sellers[name]
            if state.defaulted or not state.params.merchant_builds:
                continue
            rate = self.seller_rate(name, state.params.investment_grade)
            gw = merchant_build_gw(self.expected_price, rate, self.clusters.online_gw(k, name),
                                   self.clock.years_per_period * self.capex_every,
                                   obs.kwh_price, p.cluster, p.energy, p.finance)
            if gw <= 0:
                continue
            # equity from spare cash only, keeping a year of debt service in reserve
            spare = self.ledger.balance(name) - self._periods_per_year() * debt_due(state.loans)
            per_gw_equity = p.cluster.capex_usd_per_gw * (1 - p.finance.debt_fraction) * 1e6
            gw = min(gw, max(0.0, spare) / per_gw_equity) if per_gw_equity > 0 else gw
            if gw < 1e-6:
                continue
            order = self._finance_build(name, gw, rate, MERCHANT, intents,
                                        vendor_financing=False)
            if order is not None:
                orders.append(order)
        return orders

    def _power_builds(self) -> list[BuildOrder]:
        """Producers order firm power to cover cluster GW online plus pending, by source mix,
        counting what the grid will add by the time the clusters arrive."""
        p = self.params
        pw = p.power
        k = self.period
        horizon = k + self.clock.periods(p.cluster.build_lag_years)
        need = (self.clusters.online_gw(k) + self.clusters.pending_gw()) * pw.cover_ratio
        have = (self.power.online_gw(k) + self.power.pending_gw() + self.grid_gw(horizon))
        gap = need - have
        if gap <= 1e-9:
            return []
        by_name = {s.name: s for s in pw.sources}
        total = sum(pw.source_mix.values())
        orders = []
        ypp = self.clock.years_per_period
        for name, share in sorted(pw.source_mix.items()):
            src = by_name[name]
            firm = gap * share / total
            if src.max_gw_per_year is not None:
                firm = min(firm, src.max_gw_per_year * ypp * self.capex_every * src.firm_factor)
            if firm <= 1e-9:
                continue
            orders.append(self.power.order(pw.producer, name, firm, k, src.lag_years,
                                           src.life_years, earliest_year=src.earliest_year,
                                           tag=f"nameplate {firm / src.firm_factor:.6g} GW"))
        return orders

    # -- metrics -------------------------------------------------------------------------------
    def _metrics(self, plan: PeriodPlan, obs: PeriodObservation, orders: list[BuildOrder],
                 defaults: list[DefaultRecord], owed: int, paid: int) -> dict[str, float]:
        p = self.params
        k = self.period
        minted = sum(s.merchant_lots + s.contracted_lots for s in plan.sellers.values())
        unsold = sum(obs.unsold_lots.values())
        capacity = sum(s.online_gw for s in plan.sellers.values())
        be = break_even_price(p.finance, p.cluster, p.energy, False,
                              token_price=self.token_price)
        demand_be = self.demand.quantity_gw(be, self.years())
        lab_gross, lab_net, lab_gain = self.lab_cost_per_hour()
        m: dict[str, float] = {
            "period": float(k),
            "year": plan.year,
            "capacity_gw": capacity,
            "contracted_gw": sum(s.contracted_gw for s in plan.sellers.values()),
            "deliverable_gw": sum(s.deliverable_gpu_hours for s in plan.sellers.values())
            / self.gpu_hours_per_gw_period(),
            "power_firm_gw": self.firm_power_gw(k),
            "power_binds": float(plan.power_binds),
            "demand_ref_gw": plan.demand_ref_gw,
            "demand_gw": self.demand.quantity_gw(obs.spot_price, self.years()),
            "overbuild_ratio": capacity / demand_be if demand_be > 0 else 0.0,
            "utilisation": (minted - unsold) / minted if minted else 0.0,
            "spot_price": obs.spot_price,
            "expected_price": self.expected_price,
            "kwh_price": obs.kwh_price,
            "token_price": obs.token_price,
            "token_supply": self.token.supply,
            "break_even": be,
            "marginal_cost": marginal_cost(obs.kwh_price, p.energy, p.finance),
            "builds_gw": sum(o.gw for o in orders if o.kind == CLUSTER),
            "power_orders_gw": sum(o.gw for o in orders if o.kind != CLUSTER),
            "defaults": float(len(defaults)),
            "lab_cash_usd": self.ledger.balance(self.lab) / 1e6,
            "lab_take_or_pay_owed_usd": owed / 1e6,
            "lab_take_or_pay_shortfall_usd": (owed - paid) / 1e6,
            # the lab's compute account to date (lab_cost_per_hour): net per hour used, gross
            # per hour acquired, resale gain above cost; take-or-pay counts as owed
            "lab_avg_cost": lab_net,
            "lab_gross_cost": lab_gross,
            "lab_resale_gain_usd": lab_gain,
            "lab_unpaid_usd": self.lab_unpaid / 1e6,
            **self.lab_finance_metrics(),
            "token_redemption_gpu_hours": self.redeemed_gpu_hours,
            "token_redeemed": self.token.redeemed,
            "token_bought_back": self.token.bought_back,
            "token_coverage": self.token_fundamental(),
        }
        for name in sorted(self.sellers):
            state = self.sellers[name]
            m[f"gw_{name}"] = self.clusters.online_gw(k, name)
            m[f"cash_{name}_usd"] = self.ledger.balance(name) / 1e6
            m[f"rate_{name}"] = self.seller_rate(name, state.params.investment_grade)
            m[f"defaulted_{name}"] = float(state.defaulted)
        for vendor in sorted(p.vendors.vendor_shares):
            m[f"vendor_loans_{vendor}_usd"] = self.vendor_outstanding(vendor) / 1e6
        return m

    # -- reports -------------------------------------------------------------------------------
    def circular_revenue(self) -> dict[str, float]:
        """Per seller and vendor: the share of its revenue (compute or chip sales) that was its
        own money coming back."""
        kinds = (COMPUTE_PURCHASE, CHIP_PURCHASE)
        names = sorted(set(self.sellers) | set(self.params.vendors.cash_usd))
        return {n: self.ledger.circular_share(n, kinds) for n in names}
