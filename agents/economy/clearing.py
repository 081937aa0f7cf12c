"""A stand-in for the exchange: clears each period's perishable GPU-hours at one price.

The economy is meant to read prices discovered on the exchange. This module gives it a market
without the exchange, for tests, calibration checks and fast macro-only sweeps: every hour on
offer is perishable, so sellers offer all of it at any price above marginal cost and the price
is where demand absorbs the whole supply,

    p = max(mc, D^-1(S)),       sold = min(S, D(p)),

with ``D`` the demand model and ``S`` the deliverable hours. The lab consumes its share of
demand, first from its contracted hours; any excess it resells on the spot market (the glut
channel: take-or-pay hours the lab cannot use push the price down), any shortfall it buys
there, with the cash it holds beyond what falls due at the period's close (the lab agent's
treasury rule, ``agents/compute/lab.py``). Other buyers (``users``) pay with end-user money.
Energy is bought from the producer at the reference price, scaled up by the shortage ratio
when power binds.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np

from .economy import Economy, PeriodObservation, PeriodPlan, PeriodResult, Purchase
from .finance import marginal_cost
from .ledger import END_USER_REVENUE, END_USERS
from .params import EconomyParams
from .units import split_pro_rata, usd_to_micros

#: kWh price multiplier cap when power binds (a scarcity price, not a sourced figure)
MAX_KWH_SCARCITY = 5.0


def clear(economy: Economy, plan: PeriodPlan, token_price: float = 1.0) -> PeriodObservation:
    """The observation an ideal perishable-goods market would produce for ``plan``."""
    p = economy.params
    lots = p.lots
    unit = lots.gpu_hours
    t = economy.years()
    kwh_price = p.energy.reference_kwh_price
    if plan.power_binds and plan.kwh_supply > 0:
        kwh_price *= min(MAX_KWH_SCARCITY, plan.kwh_need / plan.kwh_supply)
    mc = marginal_cost(kwh_price, p.energy, p.finance)
    per_gw = economy.gpu_hours_per_gw_period()
    lab = economy.lab
    offers = {n: s.merchant_lots for n, s in sorted(plan.sellers.items())}
    contracted = sum(s.contracted_lots for s in plan.sellers.values())
    supply_lots = sum(offers.values()) + contracted
    if supply_lots > 0:
        price = max(mc, economy.demand.price_for(supply_lots * unit / per_gw, t))
    else:
        price = p.demand.reference_price
    demand_lots = economy.demand.quantity_gw(price, t) * per_gw / unit
    lab_want = int(p.lab.demand_share * demand_lots)
    users_want = int(demand_lots) - lab_want
    lab_use = min(lab_want, contracted)
    if contracted > lab_use:
        offers[lab] = contracted - lab_use
    lab_buy = lab_want - lab_use
    # the lab cannot buy more than its cash pays for, and it keeps what falls due at the
    # close (take-or-pay, opex, arrears) as the lab agent's treasury rule does
    lab_cash = max(0, economy.ledger.balance(lab) - economy.lab_due())
    unit_micros = usd_to_micros(price * unit)
    if unit_micros > 0:
        lab_buy = min(lab_buy, lab_cash // unit_micros)
    wants = {p.users: users_want, lab: lab_buy}
    total_offer = sum(offers.values())
    total_want = sum(wants.values())
    traded = min(total_offer, total_want)
    purchases: list[Purchase] = []
    sold: dict[str, int] = {}
    bought: dict[str, int] = {}
    if traded > 0:
        sellers = [n for n in offers if offers[n] > 0]
        buyers = [b for b in sorted(wants) if wants[b] > 0]
        sell_parts = split_pro_rata(traded, [offers[n] for n in sellers])
        buy_parts = split_pro_rata(traded, [wants[b] for b in buyers])
        sold = dict(zip(sellers, sell_parts, strict=True))
        bought = dict(zip(buyers, buy_parts, strict=True))
        for seller, buyer, n in _match(sellers, sell_parts, buyers, buy_parts):
            purchases.append(Purchase(buyer, seller, n * unit_micros, n * unit))
    users_cost = sum(pu.micros for pu in purchases if pu.buyer == p.users)
    if users_cost:
        economy.fund(p.users, users_cost, END_USERS, END_USER_REVENUE)
    unsold = {n: offers[n] - sold.get(n, 0) for n in offers}
    if lab not in offers:
        unsold[lab] = 0
    consumed = {p.users: bought.get(p.users, 0), lab: lab_use + bought.get(lab, 0)}
    energy = tuple(
        Purchase(n, p.power.producer, usd_to_micros(s.kwh * kwh_price), s.kwh)
        for n, s in sorted(plan.sellers.items()) if s.kwh > 0)
    return PeriodObservation(spot_price=price, kwh_price=kwh_price, token_price=token_price,
                             purchases=tuple(purchases), energy_purchases=energy,
                             unsold_lots=unsold, consumed_lots=consumed)


def _match(sellers: list[str], sell: list[int], buyers: list[str],
           buy: list[int]) -> list[tuple[str, str, int]]:
    """Pair equal totals of sales and purchases in order (the north-west corner rule): every
    seller's and every buyer's total is met exactly, deterministically."""
    out: list[tuple[str, str, int]] = []
    sell, buy = list(sell), list(buy)
    i = j = 0
    while i < len(sellers) and j < len(buyers):
        n = min(sell[i], buy[j])
        if n:
            out.append((sellers[i], buyers[j], n))
        sell[i] -= n
        buy[j] -= n
        if sell[i] == 0:
            i += 1
        if buy[j] == 0:
            j += 1
    return out


class StandaloneRun(msgspec.Struct):
    economy: Economy
    results: list[PeriodResult]

    def series(self, key: str) -> list[float]:
        return [r.metrics[key] for r in self.results]


def run_standalone(params: EconomyParams, periods: int, rng: np.random.Generator,
                   token_price: Callable[[int], float] | None = None) -> StandaloneRun:
    """Step the economy ``periods`` times against the stand-in market. ``token_price(k)``
    sets the compute-credit token's price path (default: at its reference)."""
    economy = Economy(params, rng)
    results = []
    for _ in range(periods):
        plan = economy.open_period()
        price = token_price(economy.period) if token_price else \
            params.finance.token_reference_price
        obs = clear(economy, plan, price)
        results.append(economy.close_period(obs))
    return StandaloneRun(economy=economy, results=results)
