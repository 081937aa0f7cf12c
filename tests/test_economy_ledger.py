"""Flow-of-funds ledger: exact pro-rata tags, origin tracing and circular revenue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.economy.ledger import (
    COMPUTE_PURCHASE,
    END_USER_REVENUE,
    END_USERS,
    EQUITY,
    OUTSIDE,
    OWN,
    FlowLedger,
    InsufficientFunds,
)
from agents.economy.units import USD_SCALE, split_pro_rata


def usd(x: float) -> int:
    return int(x * USD_SCALE)


def test_hand_worked_microsoft_example() -> None:
    """MSFT invests 13 in the lab, which has 5 of its own revenue; the lab pays MSFT 9 for
    compute: 9 * 13/18 = 6.5 of the 9 is MSFT's own money coming back."""
    ledger = FlowLedger()
    ledger.inject("msft", usd(13), "msft", OWN, 0)
    ledger.inject("lab", usd(5), END_USERS, END_USER_REVENUE, 0)
    invest = ledger.transfer("msft", "lab", usd(13), EQUITY, 0)
    assert invest.parts == (("msft", EQUITY, usd(13)),)
    pay = ledger.transfer("lab", "msft", usd(9), COMPUTE_PURCHASE, 1)
    parts = {(s, c): v for s, c, v in pay.parts}
    assert parts == {("msft", EQUITY): usd(6.5), (END_USERS, END_USER_REVENUE): usd(2.5)}
    own, total = ledger.circular_revenue("msft")
    assert (own, total) == (usd(6.5), usd(9))
    assert ledger.circular_share("msft") == pytest.approx(6.5 / 9)
    # what is left in the lab is the same mix: 13-6.5 of MSFT's money and 5-2.5 of revenue
    assert ledger.mix("lab") == {(END_USERS, END_USER_REVENUE): usd(2.5),
                                 ("msft", EQUITY): usd(6.5)}


def test_tags_sum_exactly_on_awkward_amounts() -> None:
    ledger = FlowLedger()
    ledger.inject("a", 1, "x", OWN, 0)
    ledger.inject("a", 1, "y", OWN, 0)
    ledger.inject("a", 1, "z", OWN, 0)
    t = ledger.transfer("a", "b", 2, COMPUTE_PURCHASE, 0)
    assert sum(v for _, _, v in t.parts) == 2 == t.amount
    assert ledger.balance("a") == 1 and ledger.balance("b") == 2
    # largest remainder with ties to the first origin in sorted order: x and y pay
    assert [s for s, _, _ in t.parts] == ["x", "y"]


def test_own_money_is_retagged_with_the_payment_kind_only_once() -> None:
    ledger = FlowLedger()
    ledger.inject("nvidia", usd(10), "nvidia", OWN, 0)
    ledger.transfer("nvidia", "lab", usd(10), EQUITY, 0)
    ledger.transfer("lab", "oracle", usd(10), COMPUTE_PURCHASE, 0)
    t = ledger.transfer("oracle", "nvidia", usd(4), "chip_purchase", 0)
    assert t.parts == (("nvidia", EQUITY, usd(4)),)
    assert ledger.circular_share("nvidia", kinds=("chip_purchase",)) == 1.0
    assert ledger.circular_share("oracle") == 0.0


def test_cannot_pay_more_than_held_and_pay_up_to() -> None:
    ledger = FlowLedger()
    ledger.inject("a", 5, "a", OWN, 0)
    with pytest.raises(InsufficientFunds):
        ledger.transfer("a", "b", 6, COMPUTE_PURCHASE, 0)
    assert ledger.balance("a") == 5
    t = ledger.pay_up_to("a", OUTSIDE, 6, "opex", 0)
    assert t.amount == 5 and ledger.balance("a") == 0 and ledger.total() == 0


@given(st.integers(0, 10**15), st.lists(st.integers(0, 10**9), min_size=1, max_size=12))
def test_split_pro_rata_is_exact_and_close(amount: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        if amount:
            with pytest.raises(ValueError):
                split_pro_rata(amount, weights)
        return
    parts = split_pro_rata(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - amount * w / total) < 1.0 + 1e-6 * amount * w / total


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd"),
                          st.integers(0, 10**12)), max_size=40))
def test_random_transfers_conserve_cash_and_tags(moves: list[tuple[str, str, int]]) -> None:
    ledger = FlowLedger()
    for i, name in enumerate("abcd"):
        ledger.inject(name, 10**12 * (i + 1), name, OWN, 0)
    start = ledger.total()
    for payer, payee, amount in moves:
        if payer == payee:
            with pytest.raises(ValueError):
                ledger.transfer(payer, payee, amount, COMPUTE_PURCHASE, 0)
            continue
        t = ledger.pay_up_to(payer, payee, amount, COMPUTE_PURCHASE, 0)
        assert sum(v for _, _, v in t.parts) == t.amount
    assert ledger.total() == start
    for name in "abcd":
        assert all(v > 0 for v in ledger.mix(name).values())
