"""Software arbitrage agents: the futures-spot basis, calendar spreads and the compute-vs-energy
spread, traded from a separately capitalised account with hard position limits.

Everything the arbitrageur prices comes from its ``Client`` (touch prices and sizes, its cash,
holdings and positions); from the economy view it reads only the clock (period, phase, the
futures strip and its expiries), never a target. It only takes liquidity, with immediate-or-
cancel orders at the touch, so a spread it sees is a spread it can trade, and it can never be
left with a stale resting quote across a period boundary.

GPU-hours perish: each period's spot units are consumed or burned at its end, so a spot leg
can be held only within the week it was bought in. The rules respect that:

(a) Basis. Each GPU-hour future settles on the spot TWAP of one economy period, so the only
    future a spot position can hedge is the one settling on the period now trading (the
    "front" in its settlement week). When the front's best bid is richer than the spot's best
    ask by more than ``basis_threshold`` (relative), it sells the front and buys spot (a
    cash-and-carry inside the week). When the front trades cheap to spot by the same margin,
    it can only do the reverse from spot it already holds (there is no short sale of GPU-
    hours): it buys back the front and sells that spot. Outside a settlement week a future
    against spot is a bet on next quarter's price, not an arbitrage, and it does not trade it.
(b) Calendar. On the next two futures of the strip not in their settlement week, when the far
    contract's bid exceeds the near's ask by more than ``calendar_threshold`` it sells far and
    buys near, and vice versa; it closes both legs at the touch when the spread is back inside
    a quarter of the threshold. A broken spread (legs of unequal size) and any futures position
    outside the traded pair (the strip having rolled) are flattened at the touch, except the
    front's, which settles on this week's TWAP.
(c) Compute vs energy. A GPU-hour cannot cost less to buy than the ``kwh_per_gpu_hour``
    (0.93) kWh it needs to run, plus ``energy_margin`` USD of variable cost: when the spot ask
    is below ``0.93 x kWh price + energy_margin`` it buys GPU-hours and sells them back once the
    bid reaches that floor. The opposite side (compute rich to energy) needs capacity to turn
    kWh into GPU-hours, which an arbitrageur does not own, so it does not trade it.

Spot bought in a period is sold at the best bid from phase ``unwind_at`` on; what is still
held when the period ends is counted as perished (``perished_lots``) and never traded again,
so no rule ever stores a GPU-hour across weeks.

Limits: every leg is capped at ``max_lots`` lots in absolute position, spot buys at the free
cash, and new futures legs at the free cash over their initial margin. Its capital is the
scenario's ``cash`` for the agent: a spread larger than its limits can take stays open, which is
how a market move can overwhelm it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agents.compute.base import EconomyAgent
from agents.compute.view import FutureInfo
from agents.economy.energy import EnergyParams
from exchange.core.messages import BUY, IOC, SELL

#: kWh one GPU-hour draws (8xH100 node at 6.2 kW IT load and PUE 1.2): the economy's figure
KWH_PER_GPU_HOUR = EnergyParams().kwh_per_gpu_hour


class ArbParams(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    spot: str = "GPUH_USD"
    energy: str = "KWH_USD"
    #: relative richness of the front future over spot (or under) that triggers the basis trade
    basis_threshold: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.05
    #: relative richness of one future over its neighbour that triggers the calendar spread
    calendar_threshold: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.05
    #: kWh per GPU-hour of the energy-spread rule
    kwh_per_gpu_hour: Annotated[float, msgspec.Meta(gt=0)] = KWH_PER_GPU_HOUR
    #: USD per GPU-hour of variable cost on top of energy: the floor is energy cost + this
    energy_margin: Annotated[float, msgspec.Meta(ge=0)] = 0.10
    #: absolute position limit per leg, in lots (spot holdings and each future)
    max_lots: Annotated[int, msgspec.Meta(ge=0)] = 200
    #: phase of the period from which spot held is sold back (it perishes at the period's end)
    unwind_at: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.75
    basis: bool = True
    calendar: bool = True
    energy_spread: bool = True
    steps: Annotated[int, msgspec.Meta(ge=2)] = 12


class ArbitrageAgent(EconomyAgent):
    """Trades the three spreads at the touch within its capital and position limits."""

    Params = ArbParams
    listens = False
    own_account = True  # its capital is its own, outside the economy's flow-of-funds ledger

    def attach_view(self, view) -> None:  # type: ignore[no-untyped-def]
        super().attach_view(view)
        self.stale = 0  # spot lots left from earlier periods: perished, never traded
        self.perished = 0
        self.trades = {"basis": 0, "calendar": 0, "energy": 0}

    def on_period(self, period: int) -> None:
        """Spot still held from the period that ended has perished: book it, never sell it."""
        held = self._spot_held()
        self.perished += held - self.stale
        self.stale = held

    # -- reads ---------------------------------------------------------------------------------
    def _spot_base(self) -> str:
        return self.client.instrument(self.params.spot).base

    def _spot_held(self) -> int:
        return self.client.holding(self._spot_base())

    def _live_spot(self) -> int:
        """Spot lots bought this period (tradable; older ones have perished)."""
        return max(0, self._spot_held() - self.stale)

    def _usd(self, instrument: str, ticks: int) -> float:
        return ticks * float(self.client.instrument(instrument).tick_size)

    def _top(self, instrument: str, side: int) -> tuple[int, int] | None:
        levels = self.client.depth(instrument, side, 1)
        return levels[0] if levels else None

    def _kwh_usd(self) -> float | None:
        client = self.client
        p = self.params.energy
        last = client.last_price(p)
        if last is None:
            mid = client.mid(p)
            if mid is None:
                return None
            return mid * float(client.instrument(p).tick_size)
        return self._usd(p, last)

    def energy_floor(self) -> float | None:
        """USD per GPU-hour below which compute is cheaper than the energy it needs."""
        kwh = self._kwh_usd()
        if kwh is None:
            return None
        return self.params.kwh_per_gpu_hour * kwh + self.params.energy_margin

    def _margin_lots(self, instrument: str, ticks: int, cash: int) -> int:
        """Lots of a new futures leg the free cash can margin."""
        spec = self.client.instrument(instrument)
        per_lot = ticks * spec.tick_value * spec.initial_margin_bps // 10_000
        return cash // max(1, per_lot)

    def _send(self, instrument: str, side: int, lots: int, ticks: int) -> None:
        if lots > 0 and ticks > 0:
            self.client.place(instrument, side, lots, ticks, tif=IOC)

    # -- the rules -----------------------------------------------------------------------------
    def act(self, phase: float) -> None:
        view = self.view
        assert view is not None
        p: ArbParams = self.params
        client = self.client
        now = client.now()
        period_end = now + int(round((1.0 - phase) * view.period_ns()))
        strip = view.futures(now)
        front = [f for f in strip if f.expiry_ns <= period_end]
        rest = [f for f in strip if f.expiry_ns > period_end]
        # budgets for this wake-up (orders are acknowledged later, so track what is sent)
        self._cash = client.free_cash()
        self._spot = self._live_spot()
        if p.basis and front:
            self._basis(front[0])
        if p.calendar:
            self._calendar(rest[:2], {f.name for f in front})
        if p.energy_spread:
            self._energy(phase, -client.position(front[0].name) if front else 0)
        if phase >= p.unwind_at:
            self._unwind(front[0] if front else None)

    def _basis(self, fut: FutureInfo) -> None:
        p: ArbParams = self.params
        client = self.client
        pos = client.position(fut.name)
        fb, sa = self._top(fut.name, BUY), self._top(p.spot, SELL)
        if fb and sa:
            f_usd, s_usd = self._usd(fut.name, fb[0]), self._usd(p.spot, sa[0])
            if f_usd >= s_usd * (1 + p.basis_threshold):
                tv = client.instrument(p.spot).tick_value
                lots = min(fb[1], sa[1], p.max_lots + pos, p.max_lots - self._spot_held(),
                           self._cash // (2 * max(1, sa[0] * tv)),
                           self._margin_lots(fut.name, fb[0], self._cash // 2))
                if lots > 0:
                    self._send(fut.name, SELL, lots, fb[0])
                    self._send(p.spot, BUY, lots, sa[0])
                    self._cash -= 2 * lots * sa[0] * tv
                    self._spot += lots
                    self.trades["basis"] += 1
                    return
        fa, sb = self._top(fut.name, SELL), self._top(p.spot, BUY)
        if fa and sb and pos < 0 and self._spot > 0:
            f_usd, s_usd = self._usd(fut.name, fa[0]), self._usd(p.spot, sb[0])
            if f_usd * (1 + p.basis_threshold) <= s_usd:
                lots = min(fa[1], sb[1], -pos, self._spot)
                if lots > 0:
                    self._send(fut.name, BUY, lots, fa[0])
                    self._send(p.spot, SELL, lots, sb[0])
                    self._spot -= lots
                    self.trades["basis"] += 1

    def _calendar(self, pair: list[FutureInfo], front: set[str]) -> None:
        p: ArbParams = self.params
        client = self.client
        names = {f.name for f in pair}
        view = self.view
        assert view is not None
        for info in view.futures(client.now()):  # flatten legs outside the traded pair
            if info.name in names or info.name in front:
                continue
            self._flatten(info.name)
        if len(pair) < 2:
            for info in pair:
                self._flatten(info.name)
            return
        near, far = pair[0].name, pair[1].name
        pn, pf = client.position(near), client.position(far)
        nb, na = self._top(near, BUY), self._top(near, SELL)
        fb, fa = self._top(far, BUY), self._top(far, SELL)
        if pn or pf:  # an open spread: close it when it has come back
            if pn + pf != 0:  # a broken spread (one leg partly filled or rolled): flatten
                self._flatten(near)
                self._flatten(far)
            elif nb and na and fb and fa:
                mid_n = self._usd(near, nb[0] + na[0]) / 2
                mid_f = self._usd(far, fb[0] + fa[0]) / 2
                if abs(mid_f - mid_n) <= mid_n * p.calendar_threshold / 4:
                    self._flatten(near)
                    self._flatten(far)
                    self.trades["calendar"] += 1
            return
        rich = 1 + p.calendar_threshold
        if fb and na and self._usd(far, fb[0]) >= self._usd(near, na[0]) * rich:
            lots = min(fb[1], na[1], p.max_lots, self._margin_lots(far, fb[0], self._cash // 2))
            if lots > 0:
                self._send(far, SELL, lots, fb[0])
                self._send(near, BUY, lots, na[0])
                self.trades["calendar"] += 1
        elif nb and fa and self._usd(near, nb[0]) >= self._usd(far, fa[0]) * rich:
            lots = min(nb[1], fa[1], p.max_lots, self._margin_lots(near, nb[0], self._cash // 2))
            if lots > 0:
                self._send(near, SELL, lots, nb[0])
                self._send(far, BUY, lots, fa[0])
                self.trades["calendar"] += 1

    def _energy(self, phase: float, carry: int) -> None:
        p: ArbParams = self.params
        client = self.client
        floor = self.energy_floor()
        if floor is None:
            return
        sa = self._top(p.spot, SELL)
        if sa and phase < p.unwind_at and self._usd(p.spot, sa[0]) < floor:
            tv = client.instrument(p.spot).tick_value
            lots = min(sa[1], p.max_lots - self._spot_held(),
                       self._cash // max(1, sa[0] * tv))
            if lots > 0:
                self._send(p.spot, BUY, lots, sa[0])
                self._cash -= lots * sa[0] * tv
                self._spot += lots
                self.trades["energy"] += 1
                return
        sb = self._top(p.spot, BUY)
        spare = self._spot - max(0, carry)  # spot not hedging a short front future
        if sb and spare > 0 and self._usd(p.spot, sb[0]) >= floor:
            lots = min(sb[1], spare)
            self._send(p.spot, SELL, lots, sb[0])
            self._spot -= lots

    def _unwind(self, front: FutureInfo | None) -> None:
        """Late in the period: sell the live spot at the bid before it perishes."""
        sb = self._top(self.params.spot, BUY)
        if sb and self._spot > 0:
            lots = min(sb[1], self._spot)
            self._send(self.params.spot, SELL, lots, sb[0])
            self._spot -= lots

    def _flatten(self, instrument: str) -> None:
        pos = self.client.position(instrument)
        if pos > 0:
            top = self._top(instrument, BUY)
            if top:
                self._send(instrument, SELL, min(pos, top[1]), top[0])
        elif pos < 0:
            top = self._top(instrument, SELL)
            if top:
                self._send(instrument, BUY, min(-pos, top[1]), top[0])

    def metrics(self) -> dict[str, float]:
        if self.view is None:
            return {}
        client = self.client
        now = client.now()
        return {
            "futures_gross": float(sum(abs(client.position(f.name))
                                       for f in self.view.futures(now))),
            "spot_held": float(self._live_spot()),
            "perished_lots": float(self.perished),
            "basis_trades": float(self.trades["basis"]),
            "calendar_trades": float(self.trades["calendar"]),
            "energy_trades": float(self.trades["energy"]),
        }
