"""Contracted builds financed by vendors leave sellers able to service their debt."""

from __future__ import annotations

import numpy as np

from agents.economy import Economy, EconomyParams
from agents.economy.finance import debt_due
from agents.economy.ledger import OPEX, OUTSIDE


def test_a_cashless_seller_keeps_a_year_of_debt_service_after_a_contracted_build():
    economy = Economy(EconomyParams(), np.random.default_rng(1))
    name = "coreweave"
    balance = economy.ledger.balance(name)
    if balance:
        economy.ledger.transfer(name, OUTSIDE, balance, OPEX, 0)
    state = economy.sellers[name]
    rate = economy.seller_rate(name, economy.params.lab.investment_grade)
    order = economy._finance_build(name, 1.0, rate, "contract", [], vendor_financing=True)
    assert order is not None
    year_of_service = economy._periods_per_year() * debt_due(state.loans)
    assert year_of_service > 0
    assert economy.ledger.balance(name) >= year_of_service


def test_merchant_builds_are_not_vendor_financed():
    economy = Economy(EconomyParams(), np.random.default_rng(1))
    name = "coreweave"
    balance = economy.ledger.balance(name)
    if balance:
        economy.ledger.transfer(name, OUTSIDE, balance, OPEX, 0)
    rate = economy.seller_rate(name, False)
    assert economy._finance_build(name, 1.0, rate, "merchant", [],
                                  vendor_financing=False) is None
