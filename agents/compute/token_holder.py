"""Compute-credit token holders and the dealer that makes their market (``CCT_USD``).

Holders bought the lab's tokens for yield or use before the run: the economy driver mints each
holder's ``tokens`` lots to its account at the start (the lab's issuance; the proceeds are in
the lab's starting cash). Sizes differ by group: a few large holders, who are visible, and many
small ones.

Each period a holder that has not run draws a private signal of the token's fundamental,
``x = theta + sigma * eps``, with ``theta`` from the economy view and ``sigma`` from
``holder_sigma`` (larger holders see more precisely), and applies the global-games rule
``should_redeem``. Large holders decide on their own signal (they move first); small holders
also shade their signal by the share of the large holders' tokens already sold, which the
market sees. A holder that runs sells its whole position on ``CCT_USD`` on a descending
clock: it asks ``run_discount`` below the last price and lowers its ask by that much at each
wake-up, down to one tick, so it sells what the market will take. A run is absorbing: a holder
that sold does not buy back in this slice of the model.

The dealer is the liquidity provider: it quotes around a mid that it marks down as it uses up
its capital (``mid = par * cash / initial cash``, floored at one tick), so its price impact is
the share of its capital spent absorbing sales. When its cash is gone it stops bidding and the
token finds only the runners' falling asks: this is the limited capital that lets a run
overwhelm the market.

Both trade from their own accounts, outside the economy's flow-of-funds ledger (like hedge
desks): their cash is theirs, not an entity's.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from agents.economy.compute_token import holder_sigma, should_redeem
from exchange.core.messages import BUY, SELL


class HolderParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: token lots minted to this holder at the start (its position)
    tokens: Annotated[int, msgspec.Meta(ge=0)] = 100
    #: a large holder: visible to the others, and it moves on its own signal
    large: bool = False
    #: the median holder's position in lots: signal noise scales with size relative to it
    median_tokens: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    #: how far below the last price a running holder asks, and steps down each wake-up
    run_discount: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.05
    steps: Annotated[int, msgspec.Meta(ge=2)] = 4


class TokenHolder(EconomyAgent):
    """A holder of compute-credit tokens that runs on the global-games threshold rule."""

    Params = HolderParams
    listens = False
    own_account = True  # trades from its own account, not an economy entity's

    def attach_view(self, view) -> None:  # type: ignore[no-untyped-def]
        super().attach_view(view)
        self.running = False
        self.ran_period = -1
        self.asks = 0  # wake-ups spent selling: the ask steps down with each
        self.last_signal = float("nan")

    def decide(self, theta: float, eps: float, observed_large: float) -> bool:
        """Apply ``should_redeem`` to the signal ``theta + sigma * eps``. Kept apart from the
        random draw in ``on_period`` so that the decision is a pure function of its inputs,
        exactly the economy's rule and nothing of the agent's own."""
        view = self.view
        assert view is not None
        p: HolderParams = self.params
        tp = view.token_params()
        sigma = holder_sigma(float(p.tokens), p.median_tokens, tp)
        signal = theta + sigma * eps
        self.last_signal = signal
        return should_redeem(signal, tp, sigma, 0.0 if p.large else observed_large)

    def on_period(self, period: int) -> None:
        view = self.view
        assert view is not None
        eps = float(self.rng.standard_normal())  # drawn every period: streams stay aligned
        if self.running:
            return
        theta = view.token_fundamental()
        if theta != theta:  # NaN: no token market
            return
        if self.decide(theta, eps, view.large_run_share()):
            self.running = True
            self.ran_period = period

    def act(self, phase: float) -> None:
        if not self.running:
            return
        view = self.view
        assert view is not None
        client = self.client
        client.cancel_all(self.instrument)
        held = client.holding(self.base)
        if held <= 0:
            return
        p: HolderParams = self.params
        self.asks += 1
        last = view.token_price()
        price = last * max(0.0, 1.0 - p.run_discount * self.asks)
        client.place(self.instrument, SELL, held, self.to_ticks(price))

    def metrics(self) -> dict[str, float]:
        return {"ran": float(getattr(self, "running", False)),
                "ran_period": float(getattr(self, "ran_period", -1))}


class DealerParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    par: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    half_spread: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.01
    size: Annotated[int, msgspec.Meta(ge=1)] = 50  # lots bid per wake-up
    steps: Annotated[int, msgspec.Meta(ge=2)] = 12


class TokenDealer(EconomyAgent):
    """A liquidity provider on ``CCT_USD`` with limited capital (its scenario ``cash``)."""

    Params = DealerParams
    listens = False
    own_account = True

    def attach_view(self, view) -> None:  # type: ignore[no-untyped-def]
        super().attach_view(view)
        self.capital = 0

    def mid(self) -> float:
        """Par marked down by the share of capital already spent on inventory."""
        p: DealerParams = self.params
        cash = self.client.cash()
        if self.capital <= 0:
            self.capital = cash
        if self.capital <= 0:
            return self.tick
        return max(self.tick, p.par * cash / self.capital)

    def act(self, phase: float) -> None:
        p: DealerParams = self.params
        client = self.client
        client.cancel_all(self.instrument)
        mid = self.mid()
        bid = self.to_ticks(mid * (1.0 - p.half_spread))
        per_lot = bid * client.instrument(self.instrument).tick_value  # micro-USD
        affordable = client.free_cash() // max(1, per_lot)
        if min(p.size, affordable) > 0 and bid > 1:
            client.place(self.instrument, BUY, min(p.size, affordable), bid)
        held = client.holding(self.base)
        if held > 0:
            client.place(self.instrument, SELL, min(p.size, held),
                         self.to_ticks(mid * (1.0 + p.half_spread)))
