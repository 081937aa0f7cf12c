"""Run-level numbers the glut and circular-revenue verdicts are built from.

Computed from an economy's per-period metrics after a run, so a report needs no access to the
model's internals: each function takes the list of ``PeriodResult.metrics`` dicts (or the
economy) and returns plain floats.
"""

from __future__ import annotations

from collections.abc import Sequence

from .economy import Economy

#: the lab's funding numbers a run's summary carries (``Economy.lab_finance_metrics``)
LAB_FINANCE_KEYS = ("lab_backstop", "lab_equity_raised_usd", "lab_notes_issued_usd",
                    "lab_vendor_credit_usd", "lab_deferred_usd", "lab_arrears_usd",
                    "lab_arrears_paid_usd", "lab_written_off_usd", "lab_defaulted",
                    "lab_default_year", "lab_financing_cost_usd", "lab_all_in_cost")


def glut_summary(history: Sequence[dict[str, float]]) -> dict[str, float]:
    """Did supply outrun demand, for how long was the price below break-even, who defaulted.

    * ``share_below_break_even``: share of periods with spot below the sellers' break-even.
    * ``share_overbuilt``: share of periods with capacity above demand at break-even.
    * ``peak_overbuild_ratio``, ``mean_utilisation``, ``min_spot``, ``final_spot``.
    * ``defaults``: number of seller defaults over the run.
    * ``lab_avg_cost``: the lab's net cost per GPU-hour used, at the end of the run (hours it
      resold at the lower of cost and price, take-or-pay as owed: never negative, see
      ``Economy.lab_cost_per_hour``); ``lab_gross_cost`` per hour acquired;
      ``lab_resale_gain_usd``, what resales fetched above cost; ``lab_unpaid_usd``, the
      take-or-pay it owed and could not pay (arrears outstanding plus written off).
    * the lab's funding (``LAB_FINANCE_KEYS``): raised from each source, deferred by sellers,
      arrears, write-offs, whether and when it defaulted, the accrued financing cost and
      ``lab_all_in_cost``, its net cost per hour used plus that financing cost per hour.
    """
    if not history:
        return {}
    n = len(history)
    below = sum(1 for m in history if m["spot_price"] < m["break_even"])
    over = sum(1 for m in history if m["overbuild_ratio"] > 1.0)
    return {
        "periods": float(n),
        "share_below_break_even": below / n,
        "share_overbuilt": over / n,
        "peak_overbuild_ratio": max(m["overbuild_ratio"] for m in history),
        "mean_utilisation": sum(m["utilisation"] for m in history) / n,
        "min_spot": min(m["spot_price"] for m in history),
        "final_spot": history[-1]["spot_price"],
        "defaults": sum(m["defaults"] for m in history),
        "lab_avg_cost": history[-1]["lab_avg_cost"],
        "lab_gross_cost": history[-1]["lab_gross_cost"],
        "lab_resale_gain_usd": history[-1].get("lab_resale_gain_usd", 0.0),
        "lab_unpaid_usd": history[-1].get("lab_unpaid_usd", 0.0),
        # the lab's funding to date (lab_finance.py): USD, a 0/1 flag, the default's year (0
        # when none) and its cost per hour used with the accrued financing cost added
        **{k: history[-1].get(k, 0.0) for k in LAB_FINANCE_KEYS},
        "final_capacity_gw": history[-1]["capacity_gw"],
        "final_contracted_gw": history[-1]["contracted_gw"],
    }


def circular_summary(economy: Economy) -> dict[str, dict[str, float]]:
    """Per seller and vendor: revenue, the part that was its own money, and the share."""
    from .ledger import CHIP_PURCHASE, COMPUTE_PURCHASE

    kinds = (COMPUTE_PURCHASE, CHIP_PURCHASE)
    out: dict[str, dict[str, float]] = {}
    names = sorted(set(economy.sellers) | set(economy.params.vendors.cash_usd))
    for name in names:
        own, total = economy.ledger.circular_revenue(name, kinds)
        out[name] = {"revenue_usd": total / 1e6, "own_money_usd": own / 1e6,
                     "share": own / total if total else 0.0}
    return out
