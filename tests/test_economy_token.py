"""The compute-credit token: supply accounting and the global-games run."""

from __future__ import annotations

import numpy as np
import pytest

from agents.economy.compute_token import (
    Holders,
    TokenParams,
    TokenState,
    coverage,
    holder_sigma,
    run_round,
    run_threshold,
    should_redeem,
)

P = TokenParams()


def test_threshold_formula() -> None:
    t = run_threshold(P)
    q = (P.annual_yield + P.run_fee) / (P.annual_yield + P.loss_given_collapse)
    assert t.indifference == pytest.approx(q)
    assert t.theta_star == pytest.approx(1 - q)
    assert t.theta_star == pytest.approx(0.8)
    # a holder with a noisier signal needs a higher signal to stay (q < 0.5)
    assert run_threshold(P, 0.3).signal_star > run_threshold(P, 0.1).signal_star > t.theta_star
    # a higher yield makes holders stay at lower coverage
    assert run_threshold(TokenParams(annual_yield=0.5)).theta_star < t.theta_star


def test_decision_rule_is_a_threshold_and_visibility_shades_it() -> None:
    star = run_threshold(P).signal_star
    assert should_redeem(star - 1e-6, P)
    assert not should_redeem(star + 1e-6, P)
    assert should_redeem(star + 0.1, P, observed_large_run_share=1.0)
    assert not should_redeem(star + 0.1, P, observed_large_run_share=0.0)


def test_large_holders_see_more_precisely() -> None:
    assert holder_sigma(100.0, 1.0, P) < holder_sigma(1.0, 1.0, P) == P.signal_sigma


def _holders(seed: int = 0) -> Holders:
    return Holders.draw(P.initial_supply, P, np.random.default_rng(seed))


def test_holders_draw_is_deterministic_and_heterogeneous() -> None:
    a, b = _holders(1), _holders(1)
    assert a.sizes == b.sizes and a.large == b.large
    assert sum(a.sizes) == pytest.approx(P.initial_supply)
    assert sum(a.large) == round(P.large_share * P.holders)
    assert max(a.sizes) > 20 * float(np.median(a.sizes))


def test_strong_fundamentals_no_run_weak_fundamentals_collapse() -> None:
    holders = _holders()
    calm = run_round(1.5, holders, P, np.random.default_rng(2))
    assert not calm.collapsed and calm.redeemed_share < 0.05
    run = run_round(0.3, holders, P, np.random.default_rng(2))
    assert run.collapsed and run.redeemed_share > 0.9


def test_run_probability_rises_as_coverage_falls() -> None:
    holders = _holders()
    shares = [run_round(theta, holders, P, np.random.default_rng(5)).redeemed_share
              for theta in (1.2, 0.9, 0.8, 0.7, 0.5)]
    assert all(b >= a for a, b in zip(shares, shares[1:], strict=False))
    assert shares[-1] > shares[0]


def test_first_movers_lose_least() -> None:
    holders = _holders()
    out = run_round(0.4, holders, P, np.random.default_rng(4))
    assert out.collapsed
    first = out.redeemers[: len(out.redeemers) // 10]
    last = out.redeemers[-len(out.redeemers) // 10:]
    avg = lambda idx: sum(out.recovery[i] for i in idx) / len(idx)  # noqa: E731
    assert avg(first) > avg(last)
    assert out.recovery[out.redeemers[0]] == pytest.approx(1 - P.run_fee)
    assert avg(last) == pytest.approx(1 - P.loss_given_collapse)
    large = [i for i in out.redeemers if holders.large[i]]
    small = [i for i in out.redeemers if not holders.large[i]]
    assert avg(large) > avg(small)


def test_run_is_deterministic_by_seed() -> None:
    holders = _holders()
    a = run_round(0.8, holders, P, np.random.default_rng(9))
    b = run_round(0.8, holders, P, np.random.default_rng(9))
    assert a == b


def test_supply_issuance_and_redemption() -> None:
    s = TokenState(supply=100.0)
    s.issue(50.0)
    hours = s.redeem(30.0, spot_price=2.0, p=P)
    assert s.supply == 120.0 and s.issued == 50.0 and s.redeemed == 30.0
    assert hours == pytest.approx(15.0)
    assert s.redeem(1e9, 2.0, P) == pytest.approx(60.0) and s.supply == 0.0
    with pytest.raises(ValueError):
        s.issue(-1.0)


def test_coverage() -> None:
    assert coverage(5e9, 10e9, 19e9, P) == pytest.approx(15 / 19)
    assert coverage(0.0, 0.0, 0.0, P) == float("inf")


def test_the_lab_issues_tokens_and_holders_redeem_them_for_compute() -> None:
    from agents.economy.economy import TOKEN_HOLDERS, Economy, PeriodObservation
    from agents.economy.intents import CCT, DepositIntent, MintIntent, TransferIntent
    from agents.economy.ledger import TOKEN_ISSUANCE
    from agents.economy.params import EconomyParams, LabParams

    params = EconomyParams(lab=LabParams(token_issuance_usd_per_year=52e9),
                           token=TokenParams(initial_supply=0.0))
    econ = Economy(params, np.random.default_rng(0))
    assert econ.token_fundamental() == float("inf")
    cash0 = econ.ledger.balance("lab")
    plan = econ.open_period()
    week = 52e9 * econ.clock.years_per_period
    assert econ.token.supply == pytest.approx(week)
    minted = [i for i in plan.intents if isinstance(i, MintIntent) and i.asset == CCT]
    assert minted[0].holder == TOKEN_HOLDERS and minted[0].lots == int(week)
    proceeds = [i.micros for i in plan.intents
                if isinstance(i, DepositIntent) and i.kind == TOKEN_ISSUANCE]
    deals = sum(i.micros for i in plan.intents
                if isinstance(i, TransferIntent) and i.payee == "lab")
    assert econ.ledger.balance("lab") == cash0 + plan.lab_revenue + proceeds[0] + deals
    assert (TOKEN_HOLDERS, TOKEN_ISSUANCE) in econ.ledger.mix("lab")
    theta = econ.token_fundamental()
    assert 0 < theta < float("inf")
    result = econ.close_period(PeriodObservation(spot_price=2.0, kwh_price=0.08,
                                                 tokens_redeemed=0.5e9))
    assert econ.token.supply == pytest.approx(week - 0.5e9)
    assert result.metrics["token_redemption_gpu_hours"] == pytest.approx(0.25e9)
