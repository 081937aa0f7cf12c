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

from collections.abc import Mapping

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
from .ledger import (
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
from .units import HOURS_PER_YEAR, split_pro_rata, usd_to_micros

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
        """Micro-USD ``vendor`` has lent to sellers and not yet been repaid."""
        return sum(loan.balance for s in self.sellers.values() for loan in s.loans
                   if loan.lender == vendor)

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
        t = self.years()
        return self.demand.scale(t) / self.params.demand.reference_gw

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
        # 3. take-or-pay: the lab pays for contracted capacity online, used or not
        ypp = self.clock.years_per_period
        owed_total = paid_total = 0
        self.lab_hours_acquired += sum(s.contracted_lots for s in plan.sellers.values()) \
            * p.lots.gpu_hours
        for name, sp in plan.sellers.items():
            owed = usd_to_micros(sp.contracted_gw * p.commitments.usd_per_gw_year * ypp)
            if not owed:
                continue
            t = self.ledger.pay_up_to(lab, name, owed, COMPUTE_PURCHASE, k)
            owed_total += owed
            paid_total += t.amount
            self.lab_cost += owed  # accrued: the hours were delivered, paid for or not
            self.lab_unpaid += owed - t.amount
            if t.amount:
                intents.append(TransferIntent(payer=lab, payee=name, micros=t.amount,
                                              kind=COMPUTE_PURCHASE, reason="take-or-pay"))
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
            orders += self._contract_builds(intents) + self._merchant_builds(obs, intents)
            orders += self._power_builds()
        # 6. the record
        metrics = self._metrics(plan, obs, orders, defaults, owed_total, paid_total)
        self.history.append(metrics)
        self.period += 1
        self._plan = None
        return PeriodResult(period=k, intents=tuple(intents),
                            transfers=tuple(self.ledger.transfers[first_transfer:]),
                            defaults=tuple(defaults), orders=tuple(orders), metrics=metrics)

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
        loans = dict.fromkeys(parts, 0)
        active = [v for v in sorted(parts) if caps[v] > 0]
        left = need
        while left > 0 and active:
            split = split_pro_rata(left, [parts[v] for v in active])
            still = []
            for v, want in zip(active, split, strict=True):
                take = min(want, caps[v] - loans[v])
                loans[v] += take
                left -= take
                if loans[v] < caps[v]:
                    still.append(v)
            active = still
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
