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

**Redemption.** When the lab honours redemptions (``view.redemption_open()``), a holder that
runs first asks to redeem its whole position at the lab's endpoints for compute; the economy
serves requests at the period's close, first come first served, out of the GPU-hours the lab
holds. What is not honoured the holder sells on the descending clock from the next wake-up.

**Borrowed leverage.** With ``view.token_leverage()`` = L > 0 a holder bought its position with
debt ``L / (1 + L)`` of its value at par (``holder_debt``), owed to a lender outside the model.
Sale proceeds stay in its account and repay the debt, so its net debt is the initial debt less
its cash. Every wake-up, whether or not it runs, it marks its position to the last traded
price; when its equity is below ``view.token_maintenance()`` of the position, the lender forces
the sale ``margin_call_sale`` says (at the descending clock's ask). Forced sales need no signal:
a falling price makes them, and they make the price fall.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from agents.economy.compute_token import (
    holder_debt,
    holder_sigma,
    margin_call_sale,
    should_redeem,
)
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
        self.requested = False  # asked the lab's endpoints to redeem (once, when it runs)
        self.debt_usd: float | None = None  # set at the first wake-up, once bound
        self.margin_calls = 0  # wake-ups on which the lender forced a sale
        self.forced_lots = 0  # lots offered in forced sales

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

    def lot(self) -> float:
        """Tokens per lot of the instrument."""
        return float(self.client.instrument(self.instrument).lot_size)

    def net_debt(self) -> float:
        """USD still owed: the initial debt less the sale proceeds held (which repay it)."""
        view = self.view
        assert view is not None
        if self.debt_usd is None:
            self.debt_usd = holder_debt(self.params.tokens * self.lot(),
                                        view.token_params().par, view.token_leverage())
        return max(0.0, self.debt_usd - self.client.cash() / 1e6)

    def forced_sale_lots(self, held: int, price: float) -> int:
        """Lots the lender forces this holder to sell at ``price`` (0 while its margin
        holds), from the pure ``margin_call_sale``."""
        view = self.view
        assert view is not None
        debt = self.net_debt()
        if debt <= 0 or held <= 0:
            return 0
        lot = self.lot()
        tokens = margin_call_sale(held * lot, price, debt, view.token_maintenance())
        return min(held, int(-(-tokens // lot)))

    def act(self, phase: float) -> None:
        view = self.view
        assert view is not None
        client = self.client
        if self.running and view.redemption_open() and not self.requested:
            self.requested = True  # wait for the close: the lab serves requests there
            client.cancel_all(self.instrument)
            view.request_redemption(self.agent_id, client.holding(self.base))
            return
        held = client.holding(self.base) - view.redemption_pending(self.agent_id)
        if held <= 0:
            return
        sell = held if self.running else 0
        if not self.running:
            last = client.last_price(self.instrument)
            mark = last * self.tick if last is not None else view.token_price()
            forced = self.forced_sale_lots(held, mark)
            if forced <= 0:
                self.asks = 0  # margin restored: the next forced sale starts at the last price
                return
            self.margin_calls += 1
            self.forced_lots += forced
            sell = forced
        client.cancel_all(self.instrument)
        p: HolderParams = self.params
        self.asks += 1
        last = view.token_price()
        price = last * max(0.0, 1.0 - p.run_discount * self.asks)
        client.place(self.instrument, SELL, sell, self.to_ticks(price))

    def metrics(self) -> dict[str, float]:
        return {"ran": float(getattr(self, "running", False)),
                "ran_period": float(getattr(self, "ran_period", -1)),
                "margin_calls": float(getattr(self, "margin_calls", 0)),
                "forced_lots": float(getattr(self, "forced_lots", 0))}


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
