"""Circular revenue of each seller and chip vendor, as two bounds read off the flow ledger.

A firm's revenue is *circular* when it is the firm's own money coming back: MSFT's equity in
the lab returning as Azure purchases, NVIDIA's equity in the lab returning as chip purchases,
AMD's warrants (equity given to win the deal) returning the same way, a vendor's loan to a
seller spent on that vendor's chips. Money is fungible, so how much of it came back cannot be
observed; it can be bounded:

* **traced** (lower bound): the ledger's pro-rata tracing (``ledger.py``). Every payment
  carries the payer's whole origin mix, so the firm's money is diluted by every pool it passes
  through (the lab's end-user revenue, sellers' loans).
* **earmarked** (upper bound): the deals' own reading, "the money buys NVIDIA chips": every
  dollar the firm put into its customers through an investment channel (equity, vendor
  financing, warrants) comes back as its revenue, as far as that revenue goes:
  ``min(invested, revenue) / revenue``. Nothing else of its own can come back, since a firm's
  other payments (opex, debt service, construction) leave the modelled economy.

Revenue is compute purchases for a seller and chip purchases for a vendor. The tracker reads
the ledger's transfers incrementally, so a run pays for each transfer once.
"""

from __future__ import annotations

from collections.abc import Iterable

from .ledger import (
    BACKSTOP_CREDIT,
    CHIP_PURCHASE,
    COMPUTE_PURCHASE,
    EQUITY,
    OUTSIDE,
    VENDOR_FINANCING,
    WARRANT,
    Transfer,
)

#: transfer kinds that are a firm's revenue
REVENUE_KINDS = (COMPUTE_PURCHASE, CHIP_PURCHASE)
#: transfer kinds through which a firm puts its own money into its customers
INVESTMENT_KINDS = (EQUITY, VENDOR_FINANCING, WARRANT, BACKSTOP_CREDIT)


class CircularTracker:
    """Cumulative revenue, own money returned (traced) and own money invested, per firm."""

    def __init__(self, firms: Iterable[str]) -> None:
        self.firms = sorted(set(firms))
        self.revenue = dict.fromkeys(self.firms, 0)
        self.traced = dict.fromkeys(self.firms, 0)
        self.invested = dict.fromkeys(self.firms, 0)
        self._seen = 0

    def update(self, transfers: list[Transfer]) -> None:
        """Read the transfers appended to the ledger's list since the last call."""
        for t in transfers[self._seen:]:
            if t.kind in REVENUE_KINDS and t.payee in self.revenue:
                self.revenue[t.payee] += t.amount
                self.traced[t.payee] += sum(v for s, _, v in t.parts if s == t.payee)
            if t.kind in INVESTMENT_KINDS and t.payer in self.invested and t.payee != OUTSIDE:
                # the whole payment: under the earmark the firm's investment is its money,
                # whatever the ledger's tags say about where the firm's pool came from
                self.invested[t.payer] += t.amount
        self._seen = len(transfers)

    def traced_share(self, firm: str) -> float:
        """Lower bound: the share of the firm's revenue traced to its own money (0 without
        revenue)."""
        total = self.revenue[firm]
        return self.traced[firm] / total if total else 0.0

    def earmarked_share(self, firm: str) -> float:
        """Upper bound: the share of the firm's revenue its invested money could account for
        (0 without revenue)."""
        total = self.revenue[firm]
        return min(self.invested[firm], total) / total if total else 0.0
