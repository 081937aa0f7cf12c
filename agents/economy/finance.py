"""Finance: the cost of capital, loans and their service, break-even, capex and default.

Cost of debt for a seller (annual, decimal):

    r = base + s_credit(grade) + s_lev * max(0, L - L0) + s_tok * clip(1 - P/P_ref, -c, 1)

* ``s_credit`` is the spread for the credit quality of the buyer whose contract backs the loan
  (investment grade or not): the facts quote SOFR+2.25% vs SOFR+4.50% (earlier SOFR+6-6.5%
  vs SOFR+13%), hundreds of basis points from the buyer's credit alone.
* ``L`` is leverage (debt / book assets) above a threshold ``L0``.
* ``P`` is the compute-credit token price: the reflexive channel. A falling token raises every
  seller's rate; a token above its reference lowers it, at most by ``s_tok * c``.

Weighted cost of capital ``w = d r + (1 - d)(r + equity_premium)`` for debt fraction ``d``.
Levelised cost of a GPU-hour at utilisation ``u``:

    c(u) = (capex_per_gw * a(w, life) / gpu_hours_per_gw_year + opex) / u + e * p_kwh

with the annuity factor ``a(w, n) = w / (1 - (1 + w)^-n)``; ``c(0.8)`` at the non-investment-
grade rate is calibrated to the ~$1.65/GPU-hour seller break-even in the market facts.
"""

from __future__ import annotations

import math

import msgspec

from .capacity import ClusterParams
from .energy import EnergyParams, gpu_hours_per_gw
from .units import HOURS_PER_YEAR


class FinanceParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Calibration (docs/model.md, "Finance"):

    * ``base_rate`` 0.043: SOFR-like base (the level of SOFR in 2025; not in the sources).
    * ``spread_investment_grade`` 0.0225 and ``spread_non_investment_grade`` 0.045: loan
      margins against investment-grade vs non-investment-grade contracts (the later regime);
      ``early_regime()`` gives the earlier 0.0625 / 0.13.
    * ``leverage_threshold`` 0.6 and ``leverage_slope`` 0.10: a CoreWeave-like seller at 0.8
      debt/assets pays ~200 bp more, so its all-in rate is ~10.8%, within its 10-15% effective
      rates (2030 notes 10%, term loans 11-15%).
    * ``token_sensitivity`` 0.05: a complete token collapse adds 500 bp, roughly the gap
      between the investment-grade and the earlier non-investment-grade spreads; relief when
      the token is above its reference is capped at ``token_relief_cap`` x that.
    * ``equity_premium`` 0.04, ``debt_fraction`` 0.7 (builds financed mostly with debt, as in
      the "cash flow -> debt and private credit -> securitisation" stages), ``loan_years`` 5.
    * ``opex_usd_per_gpu_hour`` 0.28 per hour of capacity (sold or not) and
      ``break_even_utilisation`` 0.8: fixed operating cost chosen so that the break-even at
      the non-investment-grade rate is ~$1.65/GPU-hour.
    * ``variable_opex_usd_per_gpu_hour`` 0.03: the non-energy marginal cost of running a GPU
      for an hour; with energy it is the floor sellers dump perishable hours down to.
    * ``distressed_price_ratio`` 0.3: a defaulter's capacity sells at 30% of book (no figure;
      the fibre bust sold assets for cents on the dollar).
    * ``investment_elasticity`` 1.0 and ``max_build_share_per_year`` 0.5: merchant builds per
      year as a share of installed capacity per unit of expected margin over levelised cost.
    """

    base_rate: float = 0.043
    spread_investment_grade: float = 0.0225
    spread_non_investment_grade: float = 0.045
    leverage_threshold: float = 0.6
    leverage_slope: float = 0.10
    token_sensitivity: float = 0.05
    token_reference_price: float = 1.0
    token_relief_cap: float = 0.2
    equity_premium: float = 0.04
    debt_fraction: float = 0.7
    loan_years: float = 5.0
    opex_usd_per_gpu_hour: float = 0.28  # per capacity hour, sold or idle
    variable_opex_usd_per_gpu_hour: float = 0.03
    break_even_utilisation: float = 0.8
    distressed_price_ratio: float = 0.3
    investment_elasticity: float = 1.0
    max_build_share_per_year: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.debt_fraction <= 1:
            raise ValueError("debt_fraction must be in [0, 1]")
        if not 0 <= self.distressed_price_ratio <= 1:
            raise ValueError("distressed_price_ratio must be in [0, 1]")
        if self.token_reference_price <= 0 or self.loan_years <= 0:
            raise ValueError("token_reference_price and loan_years must be positive")


def early_regime(p: FinanceParams | None = None) -> FinanceParams:
    """The earlier spreads: SOFR+6.25% (investment-grade contracts) vs SOFR+13%."""
    p = p or FinanceParams()
    return msgspec.structs.replace(p, spread_investment_grade=0.0625,
                                   spread_non_investment_grade=0.13)


def token_term(token_price: float, p: FinanceParams) -> float:
    """Spread added (or, capped, removed) by the compute-credit token's price."""
    drawdown = 1.0 - token_price / p.token_reference_price
    return p.token_sensitivity * min(1.0, max(-p.token_relief_cap, drawdown))


def cost_of_debt(p: FinanceParams, investment_grade: bool, leverage: float,
                 token_price: float) -> float:
    """Annual borrowing rate of a seller (never below the base rate)."""
    spread = p.spread_investment_grade if investment_grade else p.spread_non_investment_grade
    spread += p.leverage_slope * max(0.0, leverage - p.leverage_threshold)
    spread += token_term(token_price, p)
    return p.base_rate + max(0.0, spread)


def wacc(debt_rate: float, p: FinanceParams) -> float:
    return debt_rate + (1.0 - p.debt_fraction) * p.equity_premium


def annuity_factor(rate: float, years: float) -> float:
    """Payment per year per unit of principal repaid over ``years`` at ``rate``."""
    if years <= 0:
        raise ValueError("years must be positive")
    if rate == 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)


def levelised_cost(rate: float, utilisation: float, kwh_price: float, cluster: ClusterParams,
                   energy: EnergyParams, p: FinanceParams) -> float:
    """USD per GPU-hour sold that covers capital (at cost of debt ``rate``, weighted with
    equity), fixed operating cost and energy when a fraction ``utilisation`` is sold."""
    if utilisation <= 0:
        return math.inf
    hours_per_year = gpu_hours_per_gw(HOURS_PER_YEAR, energy)
    capital = cluster.capex_usd_per_gw * annuity_factor(wacc(rate, p), cluster.life_years)
    fixed = capital / hours_per_year + p.opex_usd_per_gpu_hour
    return fixed / utilisation + energy.kwh_per_gpu_hour * kwh_price


def break_even_price(p: FinanceParams, cluster: ClusterParams, energy: EnergyParams,
                     investment_grade: bool = False, leverage: float = 0.0,
                     token_price: float | None = None) -> float:
    """Seller break-even per GPU-hour at the reference utilisation and energy price."""
    token = p.token_reference_price if token_price is None else token_price
    rate = cost_of_debt(p, investment_grade, leverage, token)
    return levelised_cost(rate, p.break_even_utilisation, energy.reference_kwh_price,
                          cluster, energy, p)


def marginal_cost(kwh_price: float, energy: EnergyParams, p: FinanceParams) -> float:
    """Cost of running one more GPU-hour (energy and variable opex): the price floor below
    which a seller would rather let an hour perish."""
    return energy.kwh_per_gpu_hour * kwh_price + p.variable_opex_usd_per_gpu_hour


def merchant_build_gw(expected_price: float, rate: float, installed_gw: float,
                      years_per_period: float, kwh_price: float, cluster: ClusterParams,
                      energy: EnergyParams, p: FinanceParams) -> float:
    """GW of uncontracted capacity a seller orders this period.

    Orders grow with the expected margin over levelised cost at the break-even utilisation:
    ``gw = min(elasticity * margin, max_share) * installed * dt`` when the margin is positive,
    else nothing. A dearer cost of capital raises the levelised cost and cuts builds, which is
    how the token price reaches capacity.
    """
    cost = levelised_cost(rate, p.break_even_utilisation, kwh_price, cluster, energy, p)
    margin = expected_price / cost - 1.0
    if margin <= 0 or installed_gw <= 0:
        return 0.0
    share = min(p.investment_elasticity * margin, p.max_build_share_per_year)
    return share * installed_gw * years_per_period


class Loan(msgspec.Struct, kw_only=True):
    """An amortising loan with a fixed annual rate, paid once per period.

    Money is integer micro-USD: interest is rounded to the micro-USD each period and the last
    payment clears the balance exactly, so principal repaid sums to the amount lent.
    """

    borrower: str
    principal: int
    balance: int
    annual_rate: float
    periods_left: int
    payment: int  # level payment per period (interest + principal)
    years_per_period: float
    tag: str = ""
    #: who is repaid: ``""`` for lenders outside the model (banks, private credit), else an
    #: entity of the economy (a chip vendor financing its own chips), whose cash the payments
    #: and any recovery in default return to
    lender: str = ""

    @classmethod
    def originate(cls, borrower: str, principal: int, annual_rate: float, years: float,
                  years_per_period: float, tag: str = "", lender: str = "") -> Loan:
        n = max(1, int(round(years / years_per_period)))
        r = annual_rate * years_per_period
        factor = 1.0 / n if r == 0 else r / (1.0 - (1.0 + r) ** -n)
        payment = int(math.ceil(principal * factor))
        return cls(borrower=borrower, principal=principal, balance=principal,
                   annual_rate=annual_rate, periods_left=n, payment=payment,
                   years_per_period=years_per_period, tag=tag, lender=lender)

    def interest_due(self) -> int:
        return int(round(self.balance * self.annual_rate * self.years_per_period))

    def amount_due(self) -> int:
        """Interest plus principal due this period."""
        if self.balance <= 0:
            return 0
        interest = self.interest_due()
        if self.periods_left <= 1:
            return interest + self.balance
        return min(self.payment, interest + self.balance)

    def pay(self) -> tuple[int, int]:
        """Service this period's payment; returns (interest, principal) paid."""
        due = self.amount_due()
        interest = min(self.interest_due(), due)
        principal = due - interest
        self.balance -= principal
        self.periods_left = max(0, self.periods_left - 1)
        return interest, principal


def debt_due(loans: list[Loan]) -> int:
    return sum(loan.amount_due() for loan in loans)


def leverage(debt: int, assets: int) -> float:
    """Debt over book assets (1.0 when there are no assets but some debt)."""
    if assets <= 0:
        return 1.0 if debt > 0 else 0.0
    return debt / assets
