"""Contracted builds and vendor financing: a vendor lends only against the chips a seller buys
from it in that build, up to a financed share, within its lending limit; its loans are repaid
to it; every transfer's tags sum to the cash moved."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from agents.economy import Economy, EconomyParams
from agents.economy.finance import debt_due
from agents.economy.intents import TransferIntent
from agents.economy.ledger import (
    CHIP_PURCHASE,
    DEBT_SERVICE,
    OPEX,
    OUTSIDE,
    VENDOR_FINANCING,
)
from agents.economy.params import VendorParams


def _economy(**vendors: object) -> Economy:
    params = EconomyParams()
    if vendors:
        params = msgspec.structs.replace(
            params, vendors=msgspec.structs.replace(params.vendors, **vendors))
    return Economy(params, np.random.default_rng(1))


def _set_cash(economy: Economy, name: str, micros: int) -> None:
    """Leave ``name`` with exactly ``micros`` of cash (the rest leaves as operating cost)."""
    balance = economy.ledger.balance(name)
    if balance > micros:
        economy.ledger.transfer(name, OUTSIDE, balance - micros, OPEX, 0)
    elif balance < micros:
        economy.ledger.inject(name, micros - balance, name, "own", 0)


def _cash_for_half_the_equity(economy: Economy, name: str, gw: float) -> int:
    """Cash that covers a year of debt service (the seller's loans and the build's bank loan)
    and half of the build's equity, so the vendors are asked for the other half."""
    from agents.economy.finance import Loan

    p = economy.params
    cost = int(gw * p.cluster.capex_usd_per_gw * 1e6)
    debt = int(cost * p.finance.debt_fraction)
    rate = economy.seller_rate(name, p.lab.investment_grade)
    bank = Loan.originate(name, debt, rate, p.finance.loan_years,
                          economy.clock.years_per_period)
    reserve = economy._periods_per_year() * debt_due(economy.sellers[name].loans + [bank])
    return reserve + (cost - debt) // 2


def _build(economy: Economy, name: str, gw: float) -> tuple[object, list]:
    intents: list = []
    rate = economy.seller_rate(name, economy.params.lab.investment_grade)
    first = len(economy.ledger.transfers)
    order = economy._finance_build(name, gw, rate, "contract", intents, vendor_financing=True)
    return order, economy.ledger.transfers[first:]


def _by_kind(transfers: list, kind: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for t in transfers:
        if t.kind == kind:
            out[(t.payer, t.payee)] = out.get((t.payer, t.payee), 0) + t.amount
    return out


def test_each_vendor_loan_is_capped_by_the_financed_share_of_its_own_chips() -> None:
    economy = _economy()
    name = "coreweave"
    # enough cash for the reserve but not for the equity: the vendors finance the gap
    _set_cash(economy, name, _cash_for_half_the_equity(economy, name, 1.0))
    order, moved = _build(economy, name, 1.0)
    assert order is not None
    loans = _by_kind(moved, VENDOR_FINANCING)
    chips = _by_kind(moved, CHIP_PURCHASE)
    assert loans, "the seller was short of equity, so some vendor lends"
    share = economy.params.vendors.financed_share
    for (vendor, borrower), amount in loans.items():
        assert borrower == name
        bought = chips[(name, vendor)]
        assert 0 < amount <= bought * share + 1
    # the loans follow the chip shares: no vendor lends while another one has room left
    ratios = {v: amount / chips[(name, v)] for (v, _), amount in loans.items()}
    assert max(ratios.values()) - min(ratios.values()) < 1e-6
    assert set(ratios) == set(economy.params.vendors.vendor_shares)
    # the seller keeps a year of debt service in cash, vendor loans included
    state = economy.sellers[name]
    assert economy.ledger.balance(name) >= economy._periods_per_year() * debt_due(state.loans)
    assert {loan.lender for loan in state.loans if loan.tag == VENDOR_FINANCING} \
        == set(ratios)


def test_no_vendor_loan_without_a_chip_purchase() -> None:
    # the vendors sell no chips (a build that is all construction): nobody can lend
    economy = _economy(chip_share_of_capex=0.0)
    name = "coreweave"
    _set_cash(economy, name, _cash_for_half_the_equity(economy, name, 1.0))
    order, moved = _build(economy, name, 1.0)
    assert order is None
    assert not _by_kind(moved, VENDOR_FINANCING) and not _by_kind(moved, CHIP_PURCHASE)
    # and a vendor without a chip share cannot be given a lending limit
    with pytest.raises(ValueError):
        VendorParams(vendor_shares={"nvidia": 1.0}, lending_limit_usd={"amd": 1e9})


def test_a_seller_with_cash_borrows_nothing_from_vendors() -> None:
    economy = _economy()
    order, moved = _build(economy, "msft", 1.0)  # $80B of its own cash
    assert order is not None
    assert not _by_kind(moved, VENDOR_FINANCING)
    assert sum(_by_kind(moved, CHIP_PURCHASE).values()) > 0


def test_the_lending_limit_binds_and_the_build_shrinks() -> None:
    limits = {"nvidia": 1e9, "amd": 0.0, "broadcom": 0.0}  # only NVIDIA lends, $1B at most
    economy = _economy(lending_limit_usd=limits)
    name = "coreweave"
    _set_cash(economy, name, _cash_for_half_the_equity(economy, name, 1.0))
    rate = economy.seller_rate(name, economy.params.lab.investment_grade)
    cost = int(economy.params.cluster.capex_usd_per_gw * 1e6)
    assert economy._vendor_loans(name, cost, int(cost * 0.7), rate,
                                 "contract") is None  # a 1 GW build needs more than $1B
    gw = economy._financeable_gw(name, 1.0, rate, "contract")
    assert 0 < gw < 1.0
    order, moved = _build(economy, name, gw)
    assert order is not None
    loans = _by_kind(moved, VENDOR_FINANCING)
    assert set(loans) <= {("nvidia", name)}
    assert economy.vendor_outstanding("nvidia") <= 1_000_000_000_000_000
    assert economy.vendor_room("amd") == 0 and economy.vendor_room("broadcom") == 0
    # with the limit used up, another build of the same kind finds no vendor money
    assert economy.vendor_room("nvidia") < 1_000_000_000_000_000


def test_a_cashless_seller_cannot_get_a_contracted_build_financed() -> None:
    # vendor loans finance chips, not a year of debt service on top of the whole build
    economy = _economy()
    name = "coreweave"
    _set_cash(economy, name, 0)
    order, moved = _build(economy, name, 1.0)
    assert order is None and not moved
    rate = economy.seller_rate(name, False)
    assert economy._financeable_gw(name, 1.0, rate, "contract") == 0.0


def test_merchant_builds_are_not_vendor_financed() -> None:
    economy = _economy()
    name = "coreweave"
    _set_cash(economy, name, 0)
    rate = economy.seller_rate(name, False)
    assert economy._finance_build(name, 1.0, rate, "merchant", [],
                                  vendor_financing=False) is None


def test_vendor_loans_are_repaid_to_the_vendor_and_the_ledger_sums() -> None:
    economy = _economy()
    name = "coreweave"
    _set_cash(economy, name, _cash_for_half_the_equity(economy, name, 1.0))
    order, _ = _build(economy, name, 1.0)
    assert order is not None
    vendors = sorted(economy.params.vendors.vendor_shares)
    owed = {v: economy.vendor_outstanding(v) for v in vendors}
    before = [(loan, loan.balance) for loan in economy.sellers[name].loans if loan.lender]
    due = {v: sum(loan.amount_due() for loan in economy.sellers[name].loans
                  if loan.lender == v) for v in vendors}
    from agents.economy.records import PeriodObservation

    economy.open_period()
    result = economy.close_period(PeriodObservation(spot_price=2.35, kwh_price=0.08))
    service = [t for t in result.transfers if t.kind == DEBT_SERVICE and t.payer == name]
    to_vendors = {t.payee: t.amount for t in service if t.payee != OUTSIDE}
    assert set(to_vendors) == {v for v, x in owed.items() if x > 0}
    for vendor, amount in to_vendors.items():
        # the vendor received what its loans asked for this period, and they fell
        assert amount == due[vendor] > 0
    assert before and all(loan.balance < balance for loan, balance in before)
    for t in result.transfers:  # every transfer's tags sum to the cash it moved
        assert sum(v for _, _, v in t.parts) == t.amount
    assert any(isinstance(i, TransferIntent) and i.kind == DEBT_SERVICE
               for i in result.intents)


def test_over_a_run_vendor_loans_stay_within_their_caps_and_the_bounds_sum() -> None:
    """Two years of the default economy on the stand-in market: no vendor's loans outstanding
    exceed its limit, no vendor lends more than the financed share of the chips it sold, and
    the circular tracker's totals are the ledger's transfers."""
    from agents.economy.circular import CircularTracker
    from agents.economy.clearing import run_standalone
    from agents.economy.ledger import EQUITY, WARRANT

    params = EconomyParams()
    run = run_standalone(params, 104, np.random.default_rng(2))
    economy = run.economy
    vendors = sorted(params.vendors.vendor_shares)
    for v in vendors:
        limit = params.vendors.lending_limit_usd[v]
        assert max(run.series(f"vendor_loans_{v}_usd")) <= limit + 1e-6
    transfers = economy.ledger.transfers
    assert all(sum(v for _, _, v in t.parts) == t.amount for t in transfers)
    lent = {v: sum(t.amount for t in transfers if t.kind == VENDOR_FINANCING and t.payer == v)
            for v in vendors}
    sold = {v: sum(t.amount for t in transfers if t.kind == CHIP_PURCHASE and t.payee == v)
            for v in vendors}
    assert sum(lent.values()) > 0
    for v in vendors:
        assert lent[v] <= params.vendors.financed_share * sold[v] + len(transfers)
    tracker = CircularTracker(vendors)
    tracker.update(transfers)
    for v in vendors:
        assert tracker.revenue[v] == sold[v]
        assert tracker.invested[v] == lent[v] + sum(
            t.amount for t in transfers if t.kind in (EQUITY, WARRANT) and t.payer == v)
        assert 0.0 <= tracker.traced_share(v) <= tracker.earmarked_share(v) <= 1.0
