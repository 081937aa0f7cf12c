"""Circular revenue of sellers and chip vendors: the traced (lower) and earmarked (upper)
bounds, on a hand-built ledger, in the report's rule, and on the exchange."""

from __future__ import annotations

import numpy as np
import pytest

from agents.economy.circular import CircularTracker
from agents.economy.ledger import (
    CHIP_PURCHASE,
    COMPUTE_PURCHASE,
    END_USER_REVENUE,
    END_USERS,
    EQUITY,
    OWN,
    VENDOR_FINANCING,
    FlowLedger,
)
from scenarios import runner
from scenarios.report import circular_verdict
from tests.sim_helpers import shipped


def test_bounds_on_a_hand_built_ledger() -> None:
    ledger = FlowLedger()
    ledger.inject("nvidia", 100, "nvidia", OWN, 0)
    ledger.inject("lab", 10, END_USERS, END_USER_REVENUE, 0)
    ledger.inject("oracle", 20, "oracle", OWN, 0)
    tracker = CircularTracker(["nvidia", "oracle"])
    ledger.transfer("nvidia", "lab", 10, EQUITY, 0)  # lab: nvidia/equity 10, end users 10
    ledger.transfer("lab", "oracle", 8, COMPUTE_PURCHASE, 0)  # 4 of it nvidia's money
    ledger.transfer("nvidia", "oracle", 2, VENDOR_FINANCING, 0)
    tracker.update(ledger.transfers)
    t = ledger.transfer("oracle", "nvidia", 6, CHIP_PURCHASE, 0)
    tracker.update(ledger.transfers)
    returned = sum(v for s, _, v in t.parts if s == "nvidia")
    assert tracker.revenue["nvidia"] == 6 and tracker.traced["nvidia"] == returned
    assert tracker.traced_share("nvidia") == pytest.approx(
        ledger.circular_share("nvidia", (CHIP_PURCHASE,)))
    assert tracker.invested["nvidia"] == 12  # equity and the vendor loan, in full
    assert tracker.earmarked_share("nvidia") == 1.0  # 12 invested covers the 6 of revenue
    assert 0 < tracker.traced_share("nvidia") < tracker.earmarked_share("nvidia")
    # oracle sold compute to the lab, none of it oracle's own money, and invested nothing
    assert tracker.traced_share("oracle") == 0.0 and tracker.earmarked_share("oracle") == 0.0
    tracker.update(ledger.transfers)  # reading again counts nothing twice
    assert tracker.revenue["nvidia"] == 6


def _rows(lower: float, upper: float, n: int = 4) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    return [{"circular_share_nvidia": lower + 0.001 * rng.standard_normal(),
             "circular_upper_nvidia": upper + 0.001 * rng.standard_normal(),
             "circular_role_nvidia": 1.0} for _ in range(n)]


def test_the_rule_reads_both_bounds() -> None:
    assert circular_verdict(_rows(0.2, 0.5), [])["verdict"] == "yes"
    assert circular_verdict(_rows(0.01, 0.05), [])["verdict"] == "no"
    straddle = circular_verdict(_rows(0.01, 0.9), [])
    assert straddle["verdict"] == "inconclusive" and "straddle" in straddle["reason"]
    assert straddle["metrics"]["circular_upper_nvidia"]["role"] == "vendor"
    assert circular_verdict(_rows(0.2, 0.5, n=2), [])["verdict"] == "inconclusive"


def test_vendors_circular_revenue_is_in_the_economy_table() -> None:
    loaded = shipped("compute_glut", **{"scenario.duration": 60.0 * 30})
    table = runner.run(loaded, 1, record=False).tables["economy"].to_pydict()
    for vendor in ("amd", "broadcom", "nvidia"):
        traced = np.asarray(table[f"vendor_circular_share_{vendor}"])
        upper = np.asarray(table[f"vendor_circular_upper_{vendor}"])
        assert ((0 <= traced) & (traced <= 1) & (upper <= 1)).all()
        # a vendor's own money reaches its customers only as investment, so no more of it
        # can come back than it invested
        assert (traced <= upper + 1e-12).all()
        assert table[f"vendor_revenue_{vendor}_usd"][-1] > 0
    # the contracted builds' vendor loans come back as chip purchases from the first quarter
    assert table["vendor_circular_share_broadcom"][-1] > 0
    assert table["vendor_circular_upper_nvidia"][-1] >= 0
