"""How the frontier lab finances what falls due when its cash does not cover it.

The lab's take-or-pay bill outgrows its end-user revenue by hundreds of billions a year (the
facts: revenue ~$13B/yr growing past $20B, losses ~$11.5B a quarter, ~$1.4T of commitments).
Without financing it simply leaves take-or-pay unpaid, which no seller would tolerate for long.
This module holds the parameters and the pure rules of the lab's financing; the state (what
was raised, the arrears, the default) lives in ``Economy`` and is settled in ``close_period``.

Each period, what falls due is the lab's own operating cost, the take-or-pay for the contracted
GW online and the arrears of earlier periods. When the lab's cash falls short of that, it
raises money from the sources in ``order``:

* ``equity``: a round from an investor entity (``investor``), at most the year's cap, which
  scales with the lab's revenue growth (``equity_cap_usd``); priced at a multiple of
  annualised revenue, so each round dilutes the earlier holders (``round_share``);
* ``notes``: revenue-linked notes, i.e. compute-credit tokens sold to holders at the token's
  price, only where the market lists the token, up to ``notes_cap_usd_per_year``;
* ``vendor_credit``: with ``backstop`` on, chip vendors lend the lab cash, each within its room
  under its lending limit (the same limit that bounds its chip financing of sellers).

What cash still cannot pay is arrears. With ``backstop`` on, each seller first *defers* its
take-or-pay (consented arrears, no default) up to ``deferral_years`` of its annual bill; what
it will not defer is plain arrears. Arrears are paid down, oldest first, whenever the lab has
cash. Plain arrears older than ``grace_weeks`` are a default: sellers write off what they are
owed, the contracts end and the sellers sell the capacity as merchant hours.

Financing costs are accrued, not paid in cash within the run (a simplification): each period
the lab's cost of financing grows by ``rate x outstanding x dt`` for every source, and the
buyer-gain verdict adds it to the lab's cost per GPU-hour in both arms.
"""

from __future__ import annotations

import msgspec

#: sources the lab may raise money from, in the order ``LabFinanceParams.order`` lists them
EQUITY_SOURCE = "equity"
NOTES_SOURCE = "notes"
VENDOR_CREDIT_SOURCE = "vendor_credit"
SOURCES = (EQUITY_SOURCE, NOTES_SOURCE, VENDOR_CREDIT_SOURCE)


class LabFinanceParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The lab's financing (docs/model.md, 3.13). Defaults and their sources:

    * ``order`` (equity, notes, vendor_credit): the order the lab taps its sources in; a
      source missing from it is never used (``()`` turns financing off: the lab pays what its
      cash covers and the rest is arrears).
    * ``investor`` "equity_investors": the entity that buys the lab's equity rounds.
    * ``equity_cap_usd`` 40e9 a year at the reference growth: the SoftBank-led $40B round.
    * ``reference_growth`` 0.54: revenue growth at which the cap is ``equity_cap_usd``
      ($13B/yr growing to "> $20B annualised" within about a year: 20/13 - 1).
    * ``max_cap_multiple`` 2.5: the cap never exceeds 2.5 x $40B = $100B a year (SoftBank
      "raising ~$100B"); an assumption that the largest raise of the facts bounds a year's.
    * ``valuation_revenue_multiple`` 25: a round's pre-money valuation over annualised revenue
      (an assumption: the facts give no valuation); it sets the dilution of each round.
    * ``equity_cost_rate`` 0.15 a year: the return equity investors require, accrued as the
      cost of equity raised in the run (an assumption, above the 10-15% effective rates of
      a levered neocloud's debt).
    * ``notes_cap_usd_per_year`` 19e9: token notes sold in one year at most, the size of the
      only precedent in the facts (UST, ~$19B outstanding); an assumption.
    * ``notes_rate`` 0.195: the notes' yield, the ~19.5% of the precedent's protocol.
    * ``backstop`` False: the "too big to fail" hypothesis; on, vendors lend and sellers defer
      rather than let the lab default.
    * ``vendor_credit_rate`` 0.095: vendors' rate on credit to the lab, their OEM financing
      rate of 9-10%.
    * ``deferral_years`` 0.5: a seller defers at most half a year of its current annual
      take-or-pay bill from the lab (an assumption: the more a seller depends on the lab,
      the more it defers).
    * ``arrears_rate`` 0.095: the cost accrued on arrears (deferred or not), as for vendor
      credit (an assumption).
    * ``grace_weeks`` 13: plain arrears older than this are a default (90 days past due, the
      usual payment-default convention; an assumption).
    * ``opex_usd_per_year`` 0: the lab's own operating cost beyond compute. The facts' losses
      (~$46B a year) are already the compute bill less revenue at the calibrated demand share
      (3.8), so the default adds none; a scenario can.
    * ``notes`` True: whether notes may be sold; the driver turns it off where the market does
      not list the token.
    """

    order: tuple[str, ...] = (EQUITY_SOURCE, NOTES_SOURCE, VENDOR_CREDIT_SOURCE)
    investor: str = "equity_investors"
    equity_cap_usd: float = 40e9
    reference_growth: float = 0.54
    max_cap_multiple: float = 2.5
    valuation_revenue_multiple: float = 25.0
    equity_cost_rate: float = 0.15
    notes_cap_usd_per_year: float = 19e9
    notes_rate: float = 0.195
    notes: bool = True
    backstop: bool = False
    vendor_credit_rate: float = 0.095
    deferral_years: float = 0.5
    arrears_rate: float = 0.095
    grace_weeks: float = 13.0
    opex_usd_per_year: float = 0.0

    def __post_init__(self) -> None:
        unknown = set(self.order) - set(SOURCES)
        if unknown:
            raise ValueError(f"lab_finance.order names unknown sources {sorted(unknown)}; "
                             f"known: {SOURCES}")
        if len(set(self.order)) != len(self.order):
            raise ValueError("lab_finance.order lists a source twice")
        if min(self.equity_cap_usd, self.max_cap_multiple, self.notes_cap_usd_per_year,
               self.deferral_years, self.grace_weeks, self.opex_usd_per_year,
               self.valuation_revenue_multiple) < 0 or self.reference_growth <= 0:
            raise ValueError("lab_finance caps, limits and multiples must be non-negative "
                             "and reference_growth positive")


def equity_cap(p: LabFinanceParams, growth: float) -> float:
    """USD of equity the market will fund in a year when the lab's revenue grows at
    ``growth`` a year: ``equity_cap_usd * clip(growth / reference_growth, 0, max_multiple)``.

    Investors fund growth: at the facts' growth a $40B round a year, up to $100B while revenue
    grows faster, and nothing once revenue stops growing."""
    ratio = max(0.0, growth) / p.reference_growth
    return p.equity_cap_usd * min(p.max_cap_multiple, ratio)


def revenue_growth(revenues: list[int], periods_per_year: int, reference: float,
                   window: int = 13) -> float:
    """Annual growth of the lab's revenue, as investors read it: the mean revenue of the last
    ``window`` periods (a quarter, which averages out the weekly demand shock) against the
    same window a year earlier, or as far back as the record goes, annualised. With less
    than two periods of record the reference growth stands in (the facts' at the start)."""
    w = min(window, len(revenues) // 2)
    if w < 1:
        return reference
    back = min(periods_per_year, len(revenues) - w)
    now = sum(revenues[-w:]) / w
    then = sum(revenues[len(revenues) - w - back:len(revenues) - back]) / w
    if then <= 0 or back <= 0:
        return reference
    return float((now / then) ** (periods_per_year / back) - 1.0)


def round_share(amount_usd: float, annual_revenue_usd: float, p: LabFinanceParams) -> float:
    """Share of the lab the investors of a round of ``amount_usd`` get: post-money, at a
    pre-money valuation of ``valuation_revenue_multiple`` x annualised revenue."""
    pre = p.valuation_revenue_multiple * max(0.0, annual_revenue_usd)
    total = pre + amount_usd
    return amount_usd / total if total > 0 else 0.0


class Arrear(msgspec.Struct, kw_only=True):
    """Take-or-pay (or opex) due and not paid: to whom, since when, how much is left, and
    whether the payee consented to defer it (the backstop) or not."""

    payee: str
    period: int
    micros: int
    deferred: bool


def pay_oldest_first(arrears: list[Arrear], cash: int) -> list[tuple[Arrear, int]]:
    """How ``cash`` pays down ``arrears``: oldest first (then plain before deferred, then by
    payee), each in full before the next. Returns (arrear, micro-USD) pairs, in order; the
    caller moves the money and reduces each arrear."""
    out = []
    for a in sorted(arrears, key=lambda a: (a.period, a.deferred, a.payee)):
        if cash <= 0:
            break
        pay = min(cash, a.micros)
        if pay > 0:
            out.append((a, pay))
            cash -= pay
    return out
