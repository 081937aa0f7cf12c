"""The records that cross the boundary between the economy and the runner.

``PeriodObservation`` is what the runner tells the economy about a traded period (prices,
purchases, unsold and consumed lots); ``PeriodPlan`` and ``PeriodResult`` are what the economy
hands back (intents to apply, transfers, defaults, orders, metrics). Plain ``msgspec`` structs,
so they encode to JSON or msgpack for the recorder.
"""

from __future__ import annotations

import msgspec

from .capacity import BuildOrder
from .intents import AnyIntent
from .ledger import Transfer


class Purchase(msgspec.Struct, frozen=True):
    """Cash paid by ``buyer`` to ``seller`` over the period for ``units`` (GPU-hours or kWh);
    the runner aggregates exchange trades per pair so the ledger stays small."""

    buyer: str
    seller: str
    micros: int
    units: float = 0.0


class PeriodObservation(msgspec.Struct, kw_only=True):
    """What the runner saw on the exchange during the period just traded.

    Prices are in USD (per GPU-hour, per kWh, per token); ``futures_prices`` are the settlement
    or mid prices along the GPU-hour curve (the capex rule uses their mean as the expected
    price; empty means "use the economy's own adaptive expectation of spot").
    """

    spot_price: float
    kwh_price: float
    token_price: float = 1.0
    futures_prices: tuple[float, ...] = ()
    purchases: tuple[Purchase, ...] = ()
    energy_purchases: tuple[Purchase, ...] = ()
    unsold_lots: dict[str, int] = {}
    consumed_lots: dict[str, int] = {}
    tokens_issued: float = 0.0
    tokens_redeemed: float = 0.0
    #: tokens the lab bought back on the market this period and retired
    tokens_bought_back: float = 0.0
    #: micro-USD each holder paid in exchange fees over the period (negative: rebates)
    fees: dict[str, int] = {}
    #: optional: each holder's USD balance on the exchange at the end of the period; when
    #: given, the economy checks its ledger against it after recording the period's trades
    cash: dict[str, int] = {}


class SellerPlan(msgspec.Struct, frozen=True):
    name: str
    online_gw: float
    contracted_gw: float
    capacity_gpu_hours: float
    deliverable_gpu_hours: float
    merchant_lots: int
    contracted_lots: int
    kwh: float


class PeriodPlan(msgspec.Struct, frozen=True):
    period: int
    year: float
    intents: tuple[AnyIntent, ...]
    sellers: dict[str, SellerPlan]
    kwh_supply: float
    kwh_need: float
    power_binds: bool
    demand_ref_gw: float  # demand at the reference price (everything but the price term)
    lab_revenue: int  # micro-USD


class DefaultRecord(msgspec.Struct, frozen=True):
    period: int
    seller: str
    acquirer: str
    gw: float
    price: int  # micro-USD the acquirer paid (to the defaulter's lenders)
    debt: int  # loans outstanding at default
    cash_seized: int  # the defaulter's remaining cash, paid to its lenders
    lender_loss: int


class PeriodResult(msgspec.Struct, frozen=True):
    period: int
    intents: tuple[AnyIntent, ...]
    transfers: tuple[Transfer, ...]
    defaults: tuple[DefaultRecord, ...]
    orders: tuple[BuildOrder, ...]
    metrics: dict[str, float]
