"""The compute-credit token: supply, issuance, redemption, and the run decision of holders.

Supply accounting: the lab issues tokens for cash (each a prepaid claim on ``par`` USD of
compute at its endpoints); a holder redeems a token for compute, which burns it and obliges the
lab to deliver ``par / spot`` GPU-hours; tokens change hands on the exchange at a market price.

The run is a global game (Morris and Shin). The fundamental ``theta`` is the lab's coverage:
the share of outstanding tokens it can honour at par (liquid resources plus near-term revenue
over the token supply at par). If the share of supply that redeems exceeds ``theta`` the token
collapses and stayers recover ``1 - loss``. Each holder sees ``x_i = theta + sigma_i * eps_i``.
Staying earns ``yield`` if the token survives; running earns ``-fee`` (slippage, haircut).
The indifferent holder runs exactly when ``P(collapse | x) > q`` with ``q = (y + f) / (y + l)``;
with a diffuse prior the equilibrium threshold is

    theta* = 1 - q = (l - f) / (y + l),      x* = theta* - sigma * Phi^{-1}(q)

so a holder runs when its signal is below ``x*``. Large holders are visible: the others see
what share of the large holders' tokens ran and shade their signal down by ``visibility``
times that share, which is how the first movers pull the rest along. Redemptions are served
first come, first served out of the ``theta`` share the lab can honour; the rest recovers
``1 - loss``: large, early holders lose least (the Terra/UST precedent).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import msgspec
import numpy as np

_N = NormalDist()


class TokenParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Calibration: the Terra/UST precedent: ~$19B outstanding, ~70% of it earning a ~19.5%
    yield; deposits fell from $22B to $2.6B in 5 days (a loss for stayers near 90%).

    * ``initial_supply`` 19e9 tokens at ``par`` 1 USD (the UST size; no compute token exists).
    * ``annual_yield`` 0.195 (the protocol's yield), ``loss_given_collapse`` 0.88 (22 -> 2.6),
      ``run_fee`` 0.02 (slippage and haircut for running): threshold theta* = 0.80.
    * ``signal_sigma`` 0.1: noise of a small holder's private signal about coverage;
      ``large_holder_precision`` 2: a holder ``k`` times the median size sees noise
      ``sigma / k**(1/precision)`` (better research), ``large_share`` 0.1: the top 10% of
      holders by size are "large" and visible; ``visibility`` 0.5.
    """

    par: float = 1.0
    initial_supply: float = 19e9
    annual_yield: float = 0.195
    loss_given_collapse: float = 0.88
    run_fee: float = 0.02
    signal_sigma: float = 0.1
    large_holder_precision: float = 2.0
    large_share: float = 0.1
    visibility: float = 0.5
    holders: int = 1000
    size_pareto_alpha: float = 1.16  # size dispersion: the "80/20" Pareto index

    def __post_init__(self) -> None:
        if not 0 < self.loss_given_collapse <= 1 or self.run_fee < 0 or self.annual_yield < 0:
            raise ValueError("need 0 < loss_given_collapse <= 1, run_fee >= 0, yield >= 0")
        if self.run_fee >= self.loss_given_collapse:
            raise ValueError("run_fee must be below loss_given_collapse or nobody ever runs")
        if self.signal_sigma <= 0 or self.holders < 1:
            raise ValueError("need signal_sigma > 0 and at least one holder")


class RunThreshold(msgspec.Struct, frozen=True):
    theta_star: float  # coverage below which the token collapses in equilibrium
    signal_star: float  # signal below which a holder with this noise redeems
    indifference: float  # q: the collapse probability that makes a holder indifferent


def run_threshold(p: TokenParams, sigma: float | None = None) -> RunThreshold:
    """Equilibrium thresholds of the global game for a holder with signal noise ``sigma``."""
    s = p.signal_sigma if sigma is None else sigma
    q = (p.annual_yield + p.run_fee) / (p.annual_yield + p.loss_given_collapse)
    q = min(max(q, 1e-12), 1 - 1e-12)
    theta = 1.0 - q
    return RunThreshold(theta, theta - s * _N.inv_cdf(q), q)


def should_redeem(signal: float, p: TokenParams, sigma: float | None = None,
                  observed_large_run_share: float = 0.0) -> bool:
    """The holder's decision rule: redeem (or sell) when its signal, shaded down by what the
    visible large holders did, is below the threshold for its own noise level."""
    shaded = signal - p.visibility * observed_large_run_share
    return shaded < run_threshold(p, sigma).signal_star


def holder_sigma(size: float, median_size: float, p: TokenParams) -> float:
    """Signal noise of a holder: larger holders see the fundamental more precisely."""
    k = max(size / median_size, 1e-9)
    return p.signal_sigma / k ** (1.0 / p.large_holder_precision)


class Holders(msgspec.Struct, kw_only=True):
    """A population of token holders: sizes (tokens) and which are large (visible)."""

    sizes: list[float]
    large: list[bool]

    @classmethod
    def draw(cls, total_tokens: float, p: TokenParams, rng: np.random.Generator) -> Holders:
        raw = rng.pareto(p.size_pareto_alpha, p.holders) + 1.0
        sizes = raw / raw.sum() * total_tokens
        cutoff_rank = max(1, int(round(p.large_share * p.holders)))
        order = np.argsort(-sizes, kind="stable")
        large = np.zeros(p.holders, dtype=bool)
        large[order[:cutoff_rank]] = True
        return cls(sizes=sizes.tolist(), large=large.tolist())


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    theta: float
    redeemed_share: float  # share of supply that tried to redeem
    collapsed: bool
    large_run_share: float  # share of large holders' tokens that ran in the first round
    redeemers: tuple[int, ...]  # holder indices in the order they were served
    recovery: tuple[float, ...]  # per holder: value per token received (run or stay)


def run_round(theta: float, holders: Holders, p: TokenParams,
              rng: np.random.Generator) -> RunOutcome:
    """One episode: large holders decide on their signals, the rest decide after seeing them;
    redemptions are served first come, first served up to ``theta`` of supply."""
    sizes = holders.sizes
    n = len(sizes)
    total = sum(sizes)
    median = float(np.median(sizes))
    sigmas = [holder_sigma(s, median, p) for s in sizes]
    signals = [theta + sig * float(e) for sig, e in zip(sigmas, rng.standard_normal(n),
                                                        strict=True)]
    first = [i for i in range(n) if holders.large[i] and should_redeem(signals[i], p, sigmas[i])]
    large_total = sum(s for s, lg in zip(sizes, holders.large, strict=True) if lg)
    large_ran = sum(sizes[i] for i in first) / large_total if large_total else 0.0
    second = [i for i in range(n) if not holders.large[i]
              and should_redeem(signals[i], p, sigmas[i], large_ran)]
    # within a round, lower signals act first (more alarmed holders move sooner)
    first.sort(key=lambda i: (signals[i], i))
    second.sort(key=lambda i: (signals[i], i))
    order = first + second
    redeemed = sum(sizes[i] for i in order) / total if total else 0.0
    collapsed = redeemed > theta
    capacity = max(0.0, theta) * total
    recovery = [0.0] * n
    stay_value = (1.0 - p.loss_given_collapse) if collapsed else 1.0
    for i in range(n):
        recovery[i] = stay_value
    served = 0.0
    for i in order:
        full = min(sizes[i], max(0.0, capacity - served))
        served += full
        rest = sizes[i] - full
        value = full * (1.0 - p.run_fee) + rest * (1.0 - p.loss_given_collapse)
        recovery[i] = value / sizes[i] if sizes[i] else 0.0
    return RunOutcome(theta=theta, redeemed_share=redeemed, collapsed=collapsed,
                      large_run_share=large_ran, redeemers=tuple(order),
                      recovery=tuple(recovery))


def coverage(liquid_usd: float, annual_revenue_usd: float, supply: float, p: TokenParams,
             revenue_years: float = 1.0) -> float:
    """The fundamental ``theta``: what the lab could honour at par, as a share of supply."""
    owed = supply * p.par
    if owed <= 0:
        return math.inf
    return max(0.0, liquid_usd + annual_revenue_usd * revenue_years) / owed


class TokenState(msgspec.Struct, kw_only=True):
    """Token supply and cumulative issuance and redemption (tokens)."""

    supply: float
    issued: float = 0.0
    redeemed: float = 0.0
    bought_back: float = 0.0

    def issue(self, tokens: float) -> None:
        if tokens < 0:
            raise ValueError("cannot issue a negative amount")
        self.supply += tokens
        self.issued += tokens

    def buy_back(self, tokens: float) -> None:
        """The lab bought ``tokens`` back on the market and retired them."""
        tokens = min(max(tokens, 0.0), self.supply)
        self.supply -= tokens
        self.bought_back += tokens

    def redeem(self, tokens: float, spot_price: float, p: TokenParams) -> float:
        """Burn ``tokens`` against compute; returns the GPU-hours the lab owes for them."""
        tokens = min(max(tokens, 0.0), self.supply)
        self.supply -= tokens
        self.redeemed += tokens
        return tokens * p.par / spot_price if spot_price > 0 else 0.0


# -- leverage, redemption and buy-backs ------------------------------------------------------------


def margin_call_sale(tokens: float, price: float, debt: float, maintenance: float) -> float:
    """Tokens a leveraged holder must sell at ``price`` so that its equity is again at least
    ``maintenance`` of its position's value, the sale proceeds repaying ``debt``.

    Equity after selling ``q`` is ``(T - q) p - (D - q p)``; it must be at least
    ``m (T - q) p``, which holds iff ``q p m >= D - T p (1 - m)``. So nothing is sold while
    ``T p (1 - m) >= D``; otherwise ``q = (D - T p (1 - m)) / (p m)``, capped at the whole
    position (the lender takes everything and bears what is left of the debt). This is the
    channel through which leverage turns a price fall into forced sales, whatever the holder's
    own view of the fundamental."""
    if tokens <= 0 or debt <= 0:
        return 0.0
    if not 0 < maintenance < 1:
        raise ValueError("maintenance must be in (0, 1)")
    if price <= 0:
        return tokens
    gap = debt - tokens * price * (1.0 - maintenance)
    if gap <= 0:
        return 0.0
    return min(tokens, gap / (price * maintenance))


def holder_debt(tokens: float, par: float, leverage: float) -> float:
    """Debt of a holder that bought ``tokens`` at ``par`` with ``leverage`` = debt / equity:
    the position is equity plus debt, so debt is ``leverage / (1 + leverage)`` of it."""
    if leverage < 0:
        raise ValueError("leverage must be non-negative")
    return tokens * par * leverage / (1.0 + leverage)


def redeemable_tokens(requested: float, gpu_hours_available: float, spot_price: float,
                      par: float) -> float:
    """Tokens the lab can honour out of ``gpu_hours_available``: each token is a claim on
    ``par`` USD of compute at the spot price, ``par / spot`` GPU-hours."""
    if requested <= 0 or gpu_hours_available <= 0 or spot_price <= 0:
        return 0.0
    return min(requested, gpu_hours_available * spot_price / par)


def buyback_budget(cash_usd: float, reserve_usd: float, share: float) -> float:
    """USD the lab puts into buying its tokens back this period: ``share`` of the cash it
    holds beyond ``reserve_usd`` (nothing when it has no spare cash). Retiring a $1 claim for
    less than $1 is the lab's gain; spending its reserve on it would not be."""
    if not 0 <= share <= 1:
        raise ValueError("share must be in [0, 1]")
    return max(0.0, cash_usd - reserve_usd) * share
