"""The read-only window strategic agents have on the macro economy.

An agent's targets (how many GPU-hours its end users want at a price, how many kWh lots it
needs for next period, the marginal cost it may dump down to, its exposure to hedge) are
economy state, not market data, so they do not belong on the ``Client``. The economy driver
implements this interface and gives it to each strategic agent once, before the run starts.
Every method but one is a pure read of the current period's plan: an agent cannot change the
economy through it, and two agents asking the same question at the same instant get the same
answer. The exception is ``request_redemption``: redeeming a compute-credit token happens at the
lab's endpoints, not on the exchange, so a holder asks the economy, which serves requests at the
period's close.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

from agents.economy.compute_token import TokenParams


class FutureInfo(NamedTuple):
    """A GPU-hour future of the strip: it settles on the spot TWAP of one economy period."""

    name: str
    expiry_ns: int


class EconomyView(ABC):
    """What the economy tells the strategic agents, period by period."""

    @abstractmethod
    def period(self) -> int:
        """Index of the economy period now trading (-1 before the first one opens)."""

    @abstractmethod
    def phase(self, now_ns: int) -> float:
        """Fraction of the current period elapsed at ``now_ns``, in [0, 1)."""

    @abstractmethod
    def period_ns(self) -> int:
        """Length of one economy period in virtual nanoseconds."""

    @abstractmethod
    def reference_price(self) -> float:
        """USD per GPU-hour the last period cleared at (its last, marginal trade; the
        calibrated reference price before any trade)."""

    @abstractmethod
    def marginal_cost(self) -> float:
        """USD per GPU-hour of energy and variable opex: the floor sellers dump down to."""

    @abstractmethod
    def break_even(self) -> float:
        """Sellers' break-even USD per GPU-hour at the reference utilisation."""

    @abstractmethod
    def demand_lots(self, price: float, who: str) -> int:
        """GPU-hour lots ``who`` (the lab or the other users) wants this period at ``price``."""

    @abstractmethod
    def kwh_price(self) -> float:
        """USD per kWh the producer asks this period (reference price, scaled up when power
        binds)."""

    @abstractmethod
    def kwh_lots_needed(self, entity: str) -> int:
        """kWh lots ``entity``'s capacity will draw next period (0 for non-sellers)."""

    @abstractmethod
    def exposure_lots(self, entity: str) -> int:
        """Signed GPU-hour lots per period ``entity`` expects to trade on spot: positive when it
        buys (the lab short of its demand), negative when it sells (merchant hours)."""

    @abstractmethod
    def futures(self, now_ns: int) -> list[FutureInfo]:
        """Futures of the strip still trading at ``now_ns``, nearest expiry first."""

    @abstractmethod
    def strategic_overbuild(self) -> bool:
        """Whether the lab's take-or-pay commitments follow the overbuild schedule."""

    def cash_due(self, entity: str) -> int:
        """Micro-USD that falls due on ``entity`` at the close of the period now trading and
        that the economy settles out of its exchange cash: for the lab, its take-or-pay,
        opex and arrears (``Economy.lab_due``); 0 for everyone else and for a view without
        an economy behind it. An agent that spends cash during the period reads it to keep
        what is contractually due."""
        return 0

    # -- the compute-credit token (concrete defaults: a view without a token market has none) --
    def token_fundamental(self) -> float:
        """The fundamental ``theta`` token holders' private signals are drawn around this
        period (the lab's coverage, net of any scenario shock); NaN when there is no token
        market, so holders stay put."""
        return math.nan

    def token_price(self) -> float:
        """USD per token at the last period's close (par before any trade)."""
        return math.nan

    def large_run_share(self) -> float:
        """Share of the visible large holders' initial tokens they have sold so far."""
        return 0.0

    def token_params(self) -> TokenParams:
        """The token's calibration (payoffs, signal noise), as the economy uses it."""
        return TokenParams()

    def token_instrument(self) -> str | None:
        """Name of the token's spot instrument (None: no token market)."""
        return None

    def token_leverage(self) -> float:
        """Holders' borrowed leverage, debt / equity, at the start (0: no debt)."""
        return 0.0

    def token_maintenance(self) -> float:
        """Equity share of a holder's position below which its lender forces a sale."""
        return 0.15

    def redemption_open(self) -> bool:
        """Whether the lab honours redemptions of tokens for compute at its endpoints."""
        return False

    # The one request a view takes: redemption happens at the lab's endpoints, not on the
    # exchange, so a holder asks the economy for it. The economy decides at the period's
    # close what it honours (first come, first served, out of the lab's GPU-hours).
    def request_redemption(self, holder: int, lots: int) -> None:
        """Ask to redeem ``lots`` token lots of account ``holder`` at this period's close
        (replacing any earlier request of the same holder this period)."""
        return None

    def redemption_pending(self, holder: int) -> int:
        """Token lots ``holder`` has asked to redeem this period, not yet served."""
        return 0
