"""An asyncio client for the exchange's Deribit-v2 websocket API.

Requests are matched to answers by id through futures; notifications are dispatched by
channel. Books subscribed with :meth:`Client.subscribe_book` are kept locally and checked for
gaps (``prev_change_id``); on a gap the client re-subscribes and replaces the book from the
fresh snapshot. The client answers the server's heartbeat ``test_request``s, and when the
connection drops it reconnects with exponential backoff, re-authenticates and re-subscribes,
so a bot written against it survives a server restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .local_book import LocalBook
from .types import AccountSummary, Instrument, Order, OrderBook, OrderResult, Position

log = logging.getLogger("clients.ws")

T = TypeVar("T")
Callback = Callable[[str, Any], Awaitable[None] | None]

_decoder = msgspec.json.Decoder(float_hook=Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")


class ApiError(Exception):
    """An error answer from the server: Deribit code, message and ``data.reason``."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        self.code = code
        self.message = message
        self.data = data or {}
        self.reason = self.data.get("reason")
        super().__init__(f"{code} {message}: {self.reason}" if self.reason else
                         f"{code} {message}")


def sign(secret: str, timestamp: int, nonce: str, data: str = "") -> str:
    """Deribit ``client_signature``: HMAC-SHA256 of ``timestamp\\nnonce\\ndata``."""
    return hmac.new(secret.encode(), f"{timestamp}\n{nonce}\n{data}".encode(),
                    hashlib.sha256).hexdigest()


class Client:
    def __init__(self, url: str, *, client_id: str | None = None,
                 client_secret: str | None = None, reconnect: bool = True,
                 backoff: tuple[float, float] = (0.05, 5.0), request_timeout: float = 10.0,
                 heartbeat: float | None = None) -> None:
        self.url = url
        self.client_id = client_id
        self._secret = client_secret
        self.reconnect = reconnect
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.heartbeat = heartbeat
        self.ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._channels: dict[str, None] = {}  # everything subscribed, in order
        self.books: dict[str, LocalBook] = {}
        self._book_channels: dict[str, str] = {}  # channel -> instrument
        self._resyncing: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.resyncs = 0
        self.authenticated = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def connect(self) -> Client:
        await self._open()
        self._reader = asyncio.create_task(self._run())
        await self._after_connect()
        return self

    async def _open(self) -> None:
        self.ws = await connect(self.url, max_size=1 << 22, compression=None)
        self.connected.set()

    async def _after_connect(self) -> None:
        if self._secret is not None and self.client_id is not None:
            await self.auth()
        if self.heartbeat is not None:
            await self.request("public/set_heartbeat", {"interval": self.heartbeat})
        if self._channels:
            for name in self._book_channels:
                self.books[self._book_channels[name]].valid = False
            await self.request(self._subscribe_method(list(self._channels)),
                               {"channels": list(self._channels)})

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending(ConnectionError("client closed"))

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _fail_pending(self, exc: Exception) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    async def _run(self) -> None:
        delay = self.backoff[0]
        while True:
            ws = self.ws
            assert ws is not None
            try:
                async for raw in ws:
                    await self._dispatch(raw)
            except ConnectionClosed:
                pass
            self.connected.clear()
            self.authenticated = False
            self._fail_pending(ConnectionError("connection lost"))
            if self._closing or not self.reconnect:
                return
            while not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
                try:
                    await self._open()
                except OSError as exc:
                    log.info("reconnect failed: %s", exc)
                    continue
                self.reconnects += 1
                delay = self.backoff[0]
                asyncio.get_running_loop().create_task(self._resume())
                break

    async def _resume(self) -> None:
        try:
            await self._after_connect()
        except (TimeoutError, ApiError, ConnectionError) as exc:
            log.warning("resume after reconnect failed: %s", exc)

    # -- messages ------------------------------------------------------------------------------
    async def _dispatch(self, raw: str | bytes) -> None:
        msg = _decoder.decode(raw)
        rid = msg.get("id")
        if rid is not None:
            fut = self._pending.pop(rid, None)
            if fut is not None and not fut.done():
                if "error" in msg:
                    err = msg["error"]
                    fut.set_exception(ApiError(err.get("code", 0), err.get("message", ""),
                                               err.get("data")))
                else:
                    fut.set_result(msg.get("result"))
            return
        method = msg.get("method")
        params = msg.get("params") or {}
        if method == "subscription":
            await self._notify(params.get("channel", ""), params.get("data"))
        elif method == "heartbeat" and params.get("type") == "test_request":
            self._send({"jsonrpc": "2.0", "id": next(self._ids), "method": "public/test",
                        "params": {}})

    async def _notify(self, channel: str, data: Any) -> None:
        instrument = self._book_channels.get(channel)
        if instrument is not None:
            book = self.books[instrument]
            if not book.apply(data):
                if channel not in self._resyncing:
                    self._resyncing.add(channel)
                    asyncio.get_running_loop().create_task(self._resync(channel))
                return
        for cb in self._callbacks.get(channel, ()):
            result = cb(channel, data)
            if asyncio.iscoroutine(result):
                await result

    async def _resync(self, channel: str) -> None:
        """A gap: re-subscribe so the server sends a fresh snapshot that replaces the book."""
        self.resyncs += 1
        try:
            method = self._subscribe_method([channel])
            await self.request(method.replace("subscribe", "unsubscribe"),
                               {"channels": [channel]})
            await self.request(method, {"channels": [channel]})
        except (TimeoutError, ApiError, ConnectionError) as exc:
            log.warning("resync of %s failed: %s", channel, exc)
        finally:
            self._resyncing.discard(channel)

    def _send(self, message: dict[str, Any]) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        asyncio.get_running_loop().create_task(self._send_now(_encoder.encode(message)))

    async def _send_now(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            assert self.ws is not None
            await self.ws.send(data, text=True)

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        """Send one request; return its result or raise :class:`ApiError`."""
        if self.ws is None or not self.connected.is_set():
            raise ConnectionError("not connected")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        data = _encoder.encode({"jsonrpc": "2.0", "id": rid, "method": method,
                                "params": params or {}})
        try:
            await self.ws.send(data, text=True)
        except ConnectionClosed as exc:
            self._pending.pop(rid, None)
            raise ConnectionError("connection lost") from exc
        try:
            return await asyncio.wait_for(fut, timeout or self.request_timeout)
        finally:
            self._pending.pop(rid, None)

    async def typed(self, kind: type[T], method: str, params: dict[str, Any] | None = None
                    ) -> T:
        return msgspec.convert(_clean(await self.request(method, params)), kind)

    # -- auth and subscriptions ----------------------------------------------------------------
    async def auth(self) -> dict[str, Any]:
        if self.client_id is None or self._secret is None:
            raise ValueError("client_id and client_secret are needed to authenticate")
        timestamp = int(time.time() * 1000)
        nonce = secrets.token_hex(8)
        result = await self.request("public/auth", {
            "grant_type": "client_signature", "client_id": self.client_id,
            "timestamp": timestamp, "nonce": nonce, "data": "",
            "signature": sign(self._secret, timestamp, nonce),
        })
        self.authenticated = True
        return result

    def _subscribe_method(self, channels: Iterable[str]) -> str:
        private = any(c.startswith("user.") for c in channels)
        return "private/subscribe" if private else "public/subscribe"

    async def subscribe(self, channels: list[str], callback: Callback | None = None
                        ) -> list[str]:
        for channel in channels:
            self._channels[channel] = None
            if callback is not None:
                self._callbacks.setdefault(channel, []).append(callback)
        return await self.request(self._subscribe_method(channels), {"channels": channels})

    async def unsubscribe(self, channels: list[str]) -> list[str]:
        for channel in channels:
            self._channels.pop(channel, None)
            self._callbacks.pop(channel, None)
            instrument = self._book_channels.pop(channel, None)
            if instrument is not None:
                self.books.pop(instrument, None)
        method = self._subscribe_method(channels).replace("subscribe", "unsubscribe")
        return await self.request(method, {"channels": channels})

    async def subscribe_book(self, instrument: str, interval: str = "raw",
                             callback: Callback | None = None, verify: bool = True
                             ) -> LocalBook:
        """Subscribe to ``book.{instrument}.{interval}`` and keep a :class:`LocalBook`;
        with ``verify`` the book also checks the server's checksum after every message."""
        channel = f"book.{instrument}.{interval}"
        book = self.books.get(instrument)
        if book is None:
            tick = lot = None
            if verify:
                spec = await self.typed(Instrument, "public/get_instrument",
                                        {"instrument_name": instrument})
                tick, lot = spec.tick_size, spec.contract_size
            book = LocalBook(instrument, tick, lot)
        self.books[instrument] = book
        self._book_channels[channel] = instrument
        await self.subscribe([channel], callback)
        return book

    async def wait_book(self, instrument: str, timeout: float = 5.0) -> LocalBook:
        """Wait until the local book holds a snapshot."""
        book = self.books[instrument]
        deadline = time.monotonic() + timeout
        while not book.valid:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no snapshot for {instrument}")
            await asyncio.sleep(0.005)
        return book

    # -- typed API -----------------------------------------------------------------------------
    async def get_time(self) -> int:
        return await self.request("public/get_time")

    async def get_instruments(self, currency: str = "any", kind: str | None = None
                              ) -> list[Instrument]:
        params: dict[str, Any] = {"currency": currency}
        if kind:
            params["kind"] = kind
        return await self.typed(list[Instrument], "public/get_instruments", params)

    async def get_order_book(self, instrument: str, depth: int = 20) -> OrderBook:
        return await self.typed(OrderBook, "public/get_order_book",
                                {"instrument_name": instrument, "depth": depth})

    async def buy(self, instrument: str, amount: Decimal | float | str,
                  price: Decimal | float | str | None = None, **extra: Any) -> OrderResult:
        return await self._order("private/buy", instrument, amount, price, extra)

    async def sell(self, instrument: str, amount: Decimal | float | str,
                   price: Decimal | float | str | None = None, **extra: Any) -> OrderResult:
        return await self._order("private/sell", instrument, amount, price, extra)

    async def _order(self, method: str, instrument: str, amount: Any, price: Any,
                     extra: dict[str, Any]) -> OrderResult:
        params: dict[str, Any] = {"instrument_name": instrument, "amount": amount}
        if price is not None:
            params["price"] = price
        else:
            params.setdefault("type", "market")
        params.update(extra)
        return await self.typed(OrderResult, method, params)

    async def edit(self, order_id: str, amount: Any, price: Any | None = None) -> OrderResult:
        params: dict[str, Any] = {"order_id": order_id, "amount": amount}
        if price is not None:
            params["price"] = price
        return await self.typed(OrderResult, "private/edit", params)

    async def cancel(self, order_id: str) -> Order:
        return await self.typed(Order, "private/cancel", {"order_id": order_id})

    async def cancel_all(self, instrument: str | None = None) -> int:
        if instrument is None:
            return await self.request("private/cancel_all")
        return await self.request("private/cancel_all_by_instrument",
                                  {"instrument_name": instrument})

    async def get_open_orders(self, instrument: str | None = None) -> list[Order]:
        if instrument is None:
            return await self.typed(list[Order], "private/get_open_orders")
        return await self.typed(list[Order], "private/get_open_orders_by_instrument",
                                {"instrument_name": instrument})

    async def get_order_state(self, order_id: str) -> Order:
        return await self.typed(Order, "private/get_order_state", {"order_id": order_id})

    async def get_account_summary(self, currency: str = "USD") -> AccountSummary:
        return await self.typed(AccountSummary, "private/get_account_summary",
                                {"currency": currency})

    async def get_positions(self, currency: str = "any") -> list[Position]:
        return await self.typed(list[Position], "private/get_positions",
                                {"currency": currency, "kind": "any"})

    async def enable_cancel_on_disconnect(self, scope: str = "connection") -> str:
        return await self.request("private/enable_cancel_on_disconnect", {"scope": scope})


def _clean(value: Any) -> Any:
    """Deribit writes ``"price": "market_price"`` for market orders; type it as None."""
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: (None if k == "price" and v == "market_price" else _clean(v))
                for k, v in value.items()}
    return value
