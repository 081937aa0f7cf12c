"""The websocket implementation of ``clients.base.Client``: an agent against a live server.

The same agent class that runs in virtual time in-process runs here against the Deribit-v2
gateway, next to external bots. What the in-process client gets for free has to be rebuilt
from what any remote trader can see:

* Time: :class:`LiveClock` maps virtual nanoseconds onto the event loop's clock with a speed
  factor (``speed`` virtual seconds per wall second); ``wake_at`` becomes ``loop.call_at``.
* Orders stay fire-and-forget: ``place`` queues a ``private/buy``/``private/sell`` on the
  agent's own connection (pipelined, in order) and returns. An error answer becomes a core
  ``Rejected`` event; everything else arrives on the ``user.changes`` channel, which
  :class:`EventTranslator` turns back into ``OrderAccepted``/``Trade``/``OrderUpdated``.
  Only the notifications produce events (never the answers), so events come in the order the
  server published them, whatever the race between an answer and its notification.
* Good-till-date orders with an arbitrary ``expire_ts`` do not exist in Deribit's API (its
  ``good_til_day`` ends at 08:00 UTC): they are sent good-till-cancelled and the client
  cancels them itself when their virtual time is due.
* Market data comes from a :class:`MarketFeed`: one connection shared by every agent of the
  process, subscribed to the raw book and trades of each instrument and keeping local books.
* The account comes from ``user.portfolio`` and the positions carried by ``user.changes``,
  seeded by ``get_account_summary``/``get_positions`` when the client connects.

The counterparty of a trade is not public: a translated ``Trade`` carries this account and
order on its own side and 0 for the other side's account and order id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from clients.base import Client, OpenOrder, as_int
from clients.ws import ApiError, _encoder
from clients.ws import Client as WsClient
from exchange.core.instruments import USD, InstrumentSpec, usd_to_micros
from exchange.core.messages import (
    BUY,
    GTC,
    GTD,
    LIMIT,
    MARKET,
    OPEN,
    SELL,
    OrderAccepted,
    OrderUpdated,
    Rejected,
    Trade,
)

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import Agent

log = logging.getLogger("clients.live")

NS = 1_000_000_000
TIF_TO_DERIBIT = {GTC: "good_til_cancelled", GTD: "good_til_cancelled",
                  "ioc": "immediate_or_cancel", "fok": "fill_or_kill"}
TIF_FROM_DERIBIT = {"good_til_cancelled": GTC, "good_til_day": GTD,
                    "immediate_or_cancel": "ioc", "fill_or_kill": "fok"}


class LiveClock:
    """Virtual time = ``start_ns`` + (loop time since :meth:`start`) x ``speed``.

    The loop's monotonic clock drives wake-ups; the wall clock taken at the same instant
    converts the server's millisecond timestamps (wall time) into virtual time. A server whose
    engine runs on this very clock (``server_virtual``: the economy scenarios, whose futures
    expire at scenario dates) already reports virtual time, so its timestamps pass through.
    Before :meth:`start` the clock stands at ``start_ns``."""

    def __init__(self, start_ns: int, speed: float, server_virtual: bool = False) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.start_ns = start_ns
        self.speed = speed
        self.server_virtual = server_virtual
        self.t0 = 0.0
        self.wall0_ns = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.wall0_ns = time.time_ns()

    def now(self) -> int:
        if self.loop is None:
            return self.start_ns
        return self.start_ns + int((self.loop.time() - self.t0) * NS * self.speed)

    def loop_time(self, ts: int) -> float:
        """The loop time at which virtual time ``ts`` is reached."""
        return self.t0 + (ts - self.start_ns) / (NS * self.speed)

    def from_wall_ms(self, ms: int) -> int:
        """A server timestamp (wall-clock ms) as virtual ns."""
        if self.server_virtual:
            return ms * 1_000_000
        return self.start_ns + int((ms * 1_000_000 - self.wall0_ns) * self.speed)


class Connection(WsClient):
    """The SDK client plus pipelined fire-and-forget requests.

    ``submit`` registers the answer's future and queues the frame; one writer task sends the
    frames in submission order, so an agent's orders reach the server in the order it sent
    them (as on one TCP connection) without waiting a round trip for each."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, reconnect=False, **kwargs)
        self._outbox: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def connect(self) -> Connection:
        await super().connect()
        self._writer = asyncio.create_task(self._write())
        return self

    def submit(self, method: str, params: dict[str, Any]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.ws is None or not self.connected.is_set():
            fut.set_exception(ConnectionError("not connected"))
            return fut
        rid = next(self._ids)
        self._pending[rid] = fut
        self._outbox.append(_encoder.encode({"jsonrpc": "2.0", "id": rid, "method": method,
                                             "params": params}))
        self._ready.set()
        return fut

    async def _write(self) -> None:
        ws = self.ws
        assert ws is not None
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox:
                    await ws.send(self._outbox.popleft(), text=True)
        except Exception:  # the connection is gone: pending futures fail in the reader
            return

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await super().close()


def _ticks(spec: InstrumentSpec, price: Any) -> int:
    if price is None or price == "market_price":
        return 0
    return spec.price_to_ticks(Decimal(str(price)))


def _lots(spec: InstrumentSpec, amount: Any) -> int:
    return spec.amount_to_lots(Decimal(str(amount)))


class EventTranslator:
    """Deribit private notifications -> the core event structs an agent expects.

    It remembers each open order's last known (state, filled, amount, price): the first
    sighting of an order id is its ``OrderAccepted``, a later change of any of these an
    ``OrderUpdated``. Within one ``user.changes`` message the events come in the engine's
    order: acceptances, then trades, then order updates."""

    def __init__(self, account: int, specs: dict[str, InstrumentSpec],
                 to_virtual: Callable[[int], int] = lambda ms: ms * 1_000_000) -> None:
        self.account = account
        self.specs = specs
        self.to_virtual = to_virtual
        self.known: dict[int, tuple[str, int, int, int]] = {}

    def changes(self, data: dict[str, Any]) -> list[Any]:
        """One ``user.changes.*`` message (orders, trades and positions of one command)."""
        accepted, updated = self._orders(data.get("orders") or ())
        return accepted + self.trades(data.get("trades") or ()) + updated

    def orders(self, orders: dict[str, Any] | Iterable[dict[str, Any]]) -> list[Any]:
        """A ``user.orders.*`` message (one order, or a list of them on batched channels)."""
        items = [orders] if isinstance(orders, dict) else orders
        accepted, updated = self._orders(items)
        return accepted + updated

    def _orders(self, items: Iterable[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        accepted: list[Any] = []
        updated: list[Any] = []
        for o in items:
            spec = self.specs.get(o["instrument_name"])
            if spec is None:
                continue
            order_id = int(o["order_id"])
            state = o["order_state"]
            amount = _lots(spec, o["amount"])
            filled = _lots(spec, o.get("filled_amount", 0))
            price = _ticks(spec, o.get("price"))
            ts = self.to_virtual(int(o.get("last_update_timestamp", 0)))
            side = BUY if o["direction"] == "buy" else SELL
            current = (state, filled, amount, price)
            previous = self.known.get(order_id)
            if previous is None:
                accepted.append(OrderAccepted(
                    order_id=order_id, account=self.account, instrument=spec.name, side=side,
                    amount=amount, price=price, type=o.get("order_type", LIMIT),
                    tif=TIF_FROM_DERIBIT.get(o.get("time_in_force", ""), GTC),
                    post_only=bool(o.get("post_only", False)),
                    reduce_only=bool(o.get("reduce_only", False)),
                    label=o.get("label") or None,
                    ts=self.to_virtual(int(o.get("creation_timestamp", 0))),
                ))
                changed = state != OPEN or filled > 0
            else:
                changed = previous != current
            if state == OPEN:
                self.known[order_id] = current
            else:
                self.known.pop(order_id, None)
            if changed:
                updated.append(OrderUpdated(
                    order_id=order_id, account=self.account, instrument=spec.name,
                    status=state, filled=filled, remaining=amount - filled, price=price,
                    reason=o.get("cancel_reason"), ts=ts,
                ))
        return accepted, updated

    def trades(self, trades: Iterable[dict[str, Any]]) -> list[Any]:
        """A ``user.trades.*`` message (or the trades of a ``user.changes`` one)."""
        out: list[Any] = []
        for t in trades:
            spec = self.specs.get(t["instrument_name"])
            if spec is None:
                continue
            side = BUY if t["direction"] == "buy" else SELL
            order_id = int(t["order_id"])
            maker = t.get("liquidity") == "M"
            both = bool(t.get("self_trade", False))
            fee = usd_to_micros(Decimal(str(t.get("fee", 0))))
            me = self.account
            out.append(Trade(
                trade_id=int(t["trade_id"]), instrument=spec.name,
                price=_ticks(spec, t["price"]), amount=_lots(spec, t["amount"]),
                aggressor=-side if maker else side,
                maker_order_id=order_id if maker else 0,
                taker_order_id=0 if maker else order_id,
                maker_account=me if maker or both else 0,
                taker_account=me if not maker or both else 0,
                maker_fee=fee if maker else 0, taker_fee=0 if maker else fee,
                ts=self.to_virtual(int(t.get("timestamp", 0))),
                liquidation=t.get("liquidation") is not None and not maker,
            ))
        return out


class MarketFeed:
    """Public market data for every agent of a process, over one connection.

    Agents read it synchronously; it is as fresh as the last notification the loop has
    processed, which is what any remote trader's local book is."""

    def __init__(self, url: str, specs: dict[str, InstrumentSpec]) -> None:
        self.url = url
        self.specs = specs
        self.conn = Connection(url)
        self.last: dict[str, int | None] = {}
        self.trades = 0
        self.volume = 0
        self.on_trade: list[Callable[[str, dict[str, Any]], None]] = []

    async def connect(self, instruments: Iterable[str]) -> MarketFeed:
        await self.conn.connect()
        for name in instruments:
            spec = self.specs[name]
            book = await self.conn.get_order_book(name, 1)
            self.last[name] = (spec.price_to_ticks(book.last_price)
                               if book.last_price is not None else None)
            await self.conn.subscribe([f"trades.{name}.raw"], self._trades)
            await self.conn.subscribe_book(name)
            await self.conn.wait_book(name)
        return self

    def _trades(self, channel: str, data: Any) -> None:
        for t in data:
            name = t["instrument_name"]
            spec = self.specs.get(name)
            if spec is None:
                continue
            self.last[name] = _ticks(spec, t["price"])
            self.trades += 1
            self.volume += _lots(spec, t["amount"])
            for cb in self.on_trade:
                cb(name, t)

    async def close(self) -> None:
        await self.conn.close()

    # -- reads ---------------------------------------------------------------------------------
    def _book(self, name: str) -> Any:
        return self.conn.books[name]

    def best(self, name: str, side: int) -> int | None:
        book = self._book(name)
        top = book.best_bid() if side == BUY else book.best_ask()
        return None if top is None else self.specs[name].price_to_ticks(top[0])

    def depth(self, name: str, side: int, levels: int) -> list[tuple[int, int]]:
        spec = self.specs[name]
        rows = self._book(name).levels("bids" if side == BUY else "asks", levels)
        return [(spec.price_to_ticks(p), spec.amount_to_lots(a)) for p, a in rows]


class LiveClient(Client):
    """One agent's connection to a live server (see the module docstring)."""

    def __init__(self, url: str, account: int, client_id: str, client_secret: str,
                 clock: LiveClock, feed: MarketFeed,
                 series: Callable[[str, int], float] | None = None) -> None:
        self.url = url
        self.account = account
        self.clock = clock
        self.feed = feed
        self.specs = feed.specs
        self._series = series
        self.agent: Agent | None = None
        self.listens = True
        self.open_orders: dict[int, OpenOrder] = {}
        self.conn = Connection(url, client_id=client_id, client_secret=client_secret)
        self.translator = EventTranslator(account, self.specs, clock.from_wall_ms)
        self._cash = 0
        self._reserved = 0
        self._assets: dict[str, tuple[int, int]] = {}  # asset -> (balance, free) in lots
        self._positions: dict[str, int] = {}
        self._spot_by_asset = {s.base: s for s in self.specs.values() if s.kind == "spot"}
        self.stopped = False
        self.wakes = 0
        self.lag_total = 0.0  # wall seconds
        self.lag_max = 0.0
        self.rejections: Counter[str] = Counter()  # reason -> count

    def attach(self, agent: Agent) -> None:
        self.agent = agent
        self.listens = bool(getattr(agent, "listens", True))

    async def connect(self) -> LiveClient:
        """Authenticate, cancel-on-disconnect, subscribe, then read the starting account."""
        conn = self.conn
        await conn.connect()
        await conn.enable_cancel_on_disconnect("connection")
        await conn.subscribe(["user.changes.any.any.raw"], self._on_changes)
        await conn.subscribe(["user.portfolio.any"], self._on_portfolio)
        for currency in [USD, *sorted(self._spot_by_asset)]:
            self._on_portfolio("", await conn.request("private/get_account_summary",
                                                      {"currency": currency}))
        for pos in await conn.request("private/get_positions",
                                      {"currency": "any", "kind": "any"}):
            self._position(pos)
        return self

    async def close(self) -> None:
        self.stopped = True
        await self.conn.close()

    # -- notifications -------------------------------------------------------------------------
    def _on_changes(self, channel: str, data: Any) -> None:
        for pos in data.get("positions") or ():
            self._position(pos)
        self.deliver(self.translator.changes(data))

    def _position(self, pos: dict[str, Any]) -> None:
        spec = self.specs.get(pos["instrument_name"])
        if spec is not None:
            self._positions[spec.name] = _lots(spec, pos["size"])

    def _on_portfolio(self, channel: str, data: Any) -> None:
        currency = data["currency"]
        if currency == USD:
            self._cash = usd_to_micros(Decimal(str(data["balance"])))
            self._reserved = usd_to_micros(Decimal(str(data.get("spot_reserve", 0))))
            return
        spec = self._spot_by_asset.get(currency)
        if spec is not None:
            self._assets[currency] = (_lots(spec, data["balance"]),
                                      _lots(spec, data["available_funds"]))

    def deliver(self, events: list[Any]) -> None:
        if self.stopped:
            return
        agent = self.agent
        for event in events:
            self.track(event)
            if agent is not None and self.listens:
                try:
                    agent.on_event(event)
                except Exception:
                    log.exception("agent %d failed on %s", self.account, type(event).__name__)

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> int:
        return self.clock.now()

    def wake_at(self, ts: int, token: object = None) -> None:
        loop = self.clock.loop
        assert loop is not None, "clock not started"
        due = self.clock.loop_time(max(ts, self.clock.now()))
        loop.call_at(due, self._wake, token, due)

    def _wake(self, token: object, due: float) -> None:
        if self.stopped or self.agent is None:
            return
        # how late the loop runs this wake-up: the sign that the process does not keep up
        lag = self.clock.loop.time() - due  # type: ignore[union-attr]
        self.wakes += 1
        self.lag_total += lag
        if lag > self.lag_max:
            self.lag_max = lag
        try:
            self.agent.on_wake(token)
        except Exception:
            log.exception("agent %d failed on wake-up", self.account)

    # -- orders --------------------------------------------------------------------------------
    def _send(self, method: str, params: dict[str, Any], command: str,
              order_id: int | None = None, label: str | None = None,
              then: Callable[[Any], None] | None = None) -> None:
        if self.stopped:
            return
        fut = self.conn.submit(method, params)

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or self.stopped:
                return
            exc = f.exception()
            if isinstance(exc, ApiError):
                reason = str(exc.reason or exc.message)
                self.rejections[f"{command}: {reason}"] += 1
                self.deliver([Rejected(command=command, account=self.account, code=exc.code,
                                       reason=reason,
                                       order_id=order_id, label=label)])
            elif exc is None and then is not None:
                then(f.result())

        fut.add_done_callback(done)

    def place(self, instrument: str, side: int, amount: int, price: int | None = None, *,
              type: str = LIMIT, tif: str = GTC, post_only: bool = False,
              label: str | None = None, expire_ts: int | None = None) -> None:
        spec = self.specs[instrument]
        amount = as_int(amount, "amount")  # the same edge rule as in process (clients/base.py)
        if price is not None:
            price = as_int(price, "price")
        if expire_ts is not None:
            expire_ts = as_int(expire_ts, "expire_ts")
        params: dict[str, Any] = {"instrument_name": instrument,
                                  "amount": spec.lots_to_amount(amount), "type": type,
                                  "time_in_force": TIF_TO_DERIBIT.get(tif, tif)}
        if price is not None and type != MARKET:
            params["price"] = spec.ticks_to_price(price)
        if post_only:
            params["post_only"] = True
        if label:
            params["label"] = label
        then = None
        if tif == GTD and expire_ts is not None:
            def then(result: Any, due: int = expire_ts) -> None:
                order = result.get("order") or {}
                if order.get("order_state") == OPEN:
                    loop = self.clock.loop
                    assert loop is not None
                    loop.call_at(self.clock.loop_time(max(due, self.clock.now())),
                                 self._expire, int(order["order_id"]))
        self._send("private/buy" if side == BUY else "private/sell", params, "PlaceOrder",
                   label=label, then=then)

    def _expire(self, order_id: int) -> None:
        """A good-till-date order's time is up: cancel it (the server never will)."""
        if order_id in self.translator.known:
            self._send("private/cancel", {"order_id": str(order_id)}, "CancelOrder",
                       order_id=order_id)

    def cancel(self, order_id: int) -> None:
        order_id = as_int(order_id, "order_id")
        self._send("private/cancel", {"order_id": str(order_id)}, "CancelOrder",
                   order_id=order_id)

    def cancel_all(self, instrument: str | None = None) -> None:
        if instrument is None:
            self._send("private/cancel_all", {}, "CancelAll")
        else:
            self._send("private/cancel_all_by_instrument", {"instrument_name": instrument},
                       "CancelAll")

    def amend(self, order_id: int, amount: int | None = None, price: int | None = None) -> None:
        order_id = as_int(order_id, "order_id")
        if amount is not None:
            amount = as_int(amount, "amount")
        if price is not None:
            price = as_int(price, "price")
        known = self.translator.known.get(order_id)
        order = self.open_orders.get(order_id)
        if known is None or order is None:
            self.deliver([Rejected(command="AmendOrder", account=self.account, code=404,
                                   reason="unknown order", order_id=order_id)])
            return
        spec = self.specs[order.instrument]
        params: dict[str, Any] = {
            "order_id": str(order_id),
            "amount": spec.lots_to_amount(known[2] if amount is None else amount),
            "price": spec.ticks_to_price(known[3] if price is None else price),
        }
        self._send("private/edit", params, "AmendOrder", order_id=order_id)

    # -- market data ---------------------------------------------------------------------------
    def instrument(self, name: str) -> InstrumentSpec:
        return self.specs[name]

    def best_bid(self, instrument: str) -> int | None:
        return self.feed.best(instrument, BUY)

    def best_ask(self, instrument: str) -> int | None:
        return self.feed.best(instrument, SELL)

    def depth(self, instrument: str, side: int, levels: int) -> list[tuple[int, int]]:
        return self.feed.depth(instrument, side, levels)

    def last_price(self, instrument: str) -> int | None:
        return self.feed.last.get(instrument)

    # -- account -------------------------------------------------------------------------------
    def cash(self) -> int:
        return self._cash

    def free_cash(self) -> int:
        return self._cash - self._reserved

    def holding(self, asset: str) -> int:
        if asset == USD:
            return self._cash
        return self._assets.get(asset, (0, 0))[0]

    def free_holding(self, asset: str) -> int:
        if asset == USD:
            return self.free_cash()
        return self._assets.get(asset, (0, 0))[1]

    def position(self, instrument: str) -> int:
        return self._positions.get(instrument, 0)

    # -- world ---------------------------------------------------------------------------------
    def series(self, name: str) -> float:
        if self._series is None:
            raise KeyError(f"no exogenous series named {name!r}")
        return self._series(name, self.clock.now())
