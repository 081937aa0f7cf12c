"""Demand for GPU-hours: adoption times model quality, divided by price to a power.

    D(p, t) = D0 * (A(t) / A0) * (Q(t) / Q0)^beta * (p / p_ref)^(-eps) * S(t)

* ``A(t)`` adoption, logistic in time: ``A = 1 / (1 + exp(-(logit(A0) + k t)))``.
* ``Q(t)`` model quality, a scaling law in cumulative compute consumed ``C``:
  ``Q / Q0 = (C / C0)^alpha`` with ``alpha < 1`` (diminishing returns: each doubling of
  compute buys the same relative improvement, so ever more compute per step of quality).
* ``(p / p_ref)^(-eps)`` the price response, constant elasticity ``eps``.
* ``S(t)`` a multiplicative demand shock, log-AR(1) with its own noise (may be switched off).

``D`` is measured in GW of cluster capacity it would keep busy (the unit deals are quoted in),
converted to GPU-hours with ``energy.gpu_hours_per_gw``. The quality channel is the only
feedback: compute consumed raises ``C``, which raises demand in later periods.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np


class DemandParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Calibration (see docs/model.md, "Demand"):

    * ``reference_price`` 2.35 USD/GPU-hour: the H100 rental price in March 2026.
    * ``reference_gw`` 8.5: demand at the reference price at the start, in GW; with the default
      10 GW of installed capacity that is 85% utilisation, consistent with a rental price above
      the ~$1.65 break-even (a market that cleared at ~$1.70 in Oct 2025 and recovered since).
    * ``adoption_initial`` 0.25 and ``adoption_rate`` 0.8/yr, with ``quality_exponent`` 0.15
      and ``initial_cumulative_years`` 1.5: together demand doubles in about 12 months at a
      constant price at the start, inside the fibre lesson's 9-14 months and nowhere near the
      forecast "every 100 days"; growth slows as adoption saturates.
    * ``price_elasticity`` 1.0: no figure in the sources; unit elasticity means spending on
      compute does not change with price (a neutral middle between inelastic and Jevons-like).
    """

    reference_price: float = 2.35
    reference_gw: float = 8.5
    price_elasticity: float = 1.0
    adoption_initial: float = 0.25
    adoption_rate: float = 0.8  # logistic rate per year
    quality_exponent: float = 0.15  # alpha in Q ~ C^alpha
    quality_demand_elasticity: float = 1.0  # beta: demand response to quality
    initial_cumulative_years: float = 1.5  # C0 in years of the initial consumption rate
    shock_sigma: float = 0.0  # std dev of the log shock per period (0: deterministic)
    shock_persistence: float = 0.9  # AR(1) coefficient of the log shock per period
    price_floor: float = 0.01  # prices below this are treated as this (avoids p**-eps blowup)

    def __post_init__(self) -> None:
        if not 0 < self.adoption_initial < 1:
            raise ValueError("adoption_initial must be in (0, 1)")
        if self.reference_price <= 0 or self.reference_gw <= 0:
            raise ValueError("reference_price and reference_gw must be positive")
        if not 0 <= self.quality_exponent < 1:
            raise ValueError("quality_exponent must be in [0, 1): diminishing returns")
        if self.price_elasticity < 0 or self.shock_sigma < 0:
            raise ValueError("price_elasticity and shock_sigma must be non-negative")
        if self.initial_cumulative_years <= 0:
            raise ValueError("initial_cumulative_years must be positive")


def adoption(t_years: float, p: DemandParams) -> float:
    """Logistic adoption share at ``t_years`` after the start."""
    a0 = p.adoption_initial
    z = math.log(a0 / (1 - a0)) + p.adoption_rate * t_years
    return 1.0 / (1.0 + math.exp(-z))


def quality_ratio(cumulative_gwy: float, initial_cumulative_gwy: float, p: DemandParams) -> float:
    """Q / Q0 from cumulative compute consumed (both in GW-years)."""
    return (cumulative_gwy / initial_cumulative_gwy) ** p.quality_exponent


def price_factor(price: float, p: DemandParams) -> float:
    return (max(price, p.price_floor) / p.reference_price) ** (-p.price_elasticity)


class DemandState(msgspec.Struct, kw_only=True):
    """What demand remembers: cumulative compute consumed and the current shock."""

    cumulative_gwy: float  # GW-years of compute consumed since the beginning of the industry
    initial_cumulative_gwy: float
    log_shock: float = 0.0

    @classmethod
    def initial(cls, p: DemandParams) -> DemandState:
        c0 = p.reference_gw * p.initial_cumulative_years
        return cls(cumulative_gwy=c0, initial_cumulative_gwy=c0)


class DemandModel:
    """Demand at any price for the current period, and its update from compute consumed."""

    def __init__(self, params: DemandParams) -> None:
        self.params = params
        self.state = DemandState.initial(params)

    def scale(self, t_years: float) -> float:
        """Demand in GW at the reference price: everything except the price term."""
        p = self.params
        s = self.state
        return (p.reference_gw * adoption(t_years, p) / p.adoption_initial
                * quality_ratio(s.cumulative_gwy, s.initial_cumulative_gwy, p)
                ** p.quality_demand_elasticity
                * math.exp(s.log_shock))

    def quantity_gw(self, price: float, t_years: float) -> float:
        """GW of capacity demanded at ``price`` (USD/GPU-hour)."""
        return self.scale(t_years) * price_factor(price, self.params)

    def price_for(self, quantity_gw: float, t_years: float) -> float:
        """Inverse demand: the price at which ``quantity_gw`` would be demanded."""
        p = self.params
        if quantity_gw <= 0:
            return math.inf
        if p.price_elasticity == 0:
            return math.inf if quantity_gw > self.scale(t_years) else p.price_floor
        ratio = self.scale(t_years) / quantity_gw
        return max(p.price_floor, p.reference_price * ratio ** (1.0 / p.price_elasticity))

    def consume(self, gw_years: float) -> None:
        """Record compute consumed this period (GW-years): it feeds model quality."""
        if gw_years < 0:
            raise ValueError("consumption must be non-negative")
        self.state.cumulative_gwy += gw_years

    def draw_shock(self, rng: np.random.Generator) -> None:
        """Advance the log-AR(1) demand shock by one period (no draw when sigma is 0)."""
        p = self.params
        if p.shock_sigma > 0:
            self.state.log_shock = (p.shock_persistence * self.state.log_shock
                                    + float(rng.normal(0.0, p.shock_sigma)))


def doubling_time_months(model: DemandModel, t_years: float, consumption_gw: float) -> float:
    """Instantaneous doubling time of demand at a constant price, in months, assuming
    ``consumption_gw`` is being consumed (the calibration check against the 9-14 months)."""
    p = model.params
    s = model.state
    a = adoption(t_years, p)
    growth = p.adoption_rate * (1 - a)
    growth += (p.quality_demand_elasticity * p.quality_exponent
               * consumption_gw / s.cumulative_gwy)
    return 12.0 * math.log(2.0) / growth if growth > 0 else math.inf
