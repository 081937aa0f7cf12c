"""JSON-RPC request handling, sans-I/O.

A :class:`Gateway` owns the venue, the feeds, the authenticator and the rate-limit buckets; a
:class:`Session` is one client connection (or one HTTP request). ``Session.receive`` takes the
raw text of one message, answers it through the session's ``push`` callable and only then
publishes the command's events, so a client always sees its answer before the notifications
the answer caused. Nothing here touches a socket or a clock it was not given.

Every failure becomes an error answer with the request's id: a malformed, oversized or
ill-typed message never closes the connection or touches its subscriptions, orders or funds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from exchange.core import USD, Deposit
from exchange.core.instruments import usd_to_micros
from exchange.core.messages import CANCELLED, CancelAll, Command, OrderUpdated, Rejected, SetMark

from .auth import Authenticator, Grant
from .config import GatewayConfig, default_config, validate
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    RpcError,
)
from .feeds import FeedHub, encoder
from .params import Params
from .ratelimit import CreditBucket
from .venue import Venue

log = logging.getLogger("exchange.gateway")

_decoder = msgspec.json.Decoder()

Handler = Callable[["Session", Params, "int | None"], Any]


class Method(msgspec.Struct, frozen=True):
    handler: Handler
    private: bool
    matching: bool
    ws_only: bool


METHODS: dict[str, Method] = {}


def method(*names: str, private: bool = False, matching: bool = False,
           ws_only: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler under its Deribit method names."""

    def register(fn: Handler) -> Handler:
        for name in names:
            METHODS[name] = Method(fn, private or name.startswith("private/"), matching,
                                   ws_only)
        return fn

    return register


class Gateway:
    def __init__(self, config: GatewayConfig | None = None, *,
                 clock: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config = config or default_config()
        validate(config)
        self.clock = clock
        self.monotonic = monotonic
        self.venue = Venue(config.instruments, clock=clock,
                           trades_history=config.trades_history,
                           closed_orders_history=config.closed_orders_history,
                           user_trades_history=config.user_trades_history)
        self.hub = FeedHub(self.venue)
        self.auth = Authenticator(config.accounts, config.auth_window_ms, config.token_ttl_s)
        self.accounts = {a.id: a for a in config.accounts}
        self.buckets: dict[object, CreditBucket] = {}
        self.cod_accounts: set[int] = set()
        self.sessions: dict[Session, None] = {}
        self._unpublished: list[Any] = []
        self._fund()

    def _fund(self) -> None:
        registry = self.venue.engine.registry
        for acct in self.config.accounts:
            for asset, amount in acct.deposits.items():
                if asset == USD:
                    units = usd_to_micros(amount)
                else:
                    spec = next((s for s in registry if s.kind == "spot" and s.base == asset),
                                None)
                    if spec is None:
                        raise ValueError(f"account {acct.id}: unknown asset {asset}")
                    units = spec.amount_to_lots(amount)
                first = self.execute(Deposit(account=acct.id, asset=asset, amount=units))[0]
                if type(first) is Rejected:
                    raise ValueError(f"account {acct.id}: deposit of {asset} rejected")
        for name, price in self.config.marks.items():
            spec = self.venue.spec(name)
            if spec is None:
                raise ValueError(f"mark for unknown instrument {name}")
            self.execute(SetMark(instrument=name, price=spec.price_to_ticks(price)))
        self.publish()

    # -- engine access -------------------------------------------------------------------------
    def execute(self, command: Command) -> list:
        """Apply a command; its events are published at the next :meth:`publish`."""
        events = self.venue.apply(command)
        self._unpublished.extend(events)
        return events

    def publish(self) -> None:
        if self._unpublished:
            events, self._unpublished = self._unpublished, []
            self.hub.publish(events)

    def now_ms(self) -> int:
        return self.clock() // 1_000_000

    def take_credits(self, key: object, cost: int) -> bool:
        bucket = self.buckets.get(key)
        now = self.monotonic()
        if bucket is None:
            rl = self.config.rate_limit
            bucket = self.buckets[key] = CreditBucket(rl.capacity, rl.refill_per_second, now)
        return bucket.take(cost, now)

    def cancel_on_disconnect(self, account: int) -> int:
        """Cancel every open order of ``account``; returns how many."""
        self.venue.cancel_reason_override = "cancel_on_disconnect"
        try:
            events = self.execute(CancelAll(account=account))
        finally:
            self.venue.cancel_reason_override = None
        self.publish()
        return sum(1 for e in events if type(e) is OrderUpdated and e.status == CANCELLED)

    # -- HTTP ----------------------------------------------------------------------------------
    def http(self, target: str, headers: Mapping[str, str], peer: object = None
             ) -> tuple[int, bytes]:
        """Answer ``GET /api/v2/{method}?params``: (status, JSON body)."""
        parts = urlsplit(target)
        method_name = parts.path[len("/api/v2/"):]
        params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        out: list[bytes] = []
        session = Session(self, out.append, transport="http", peer=peer)
        try:
            auth = headers.get("Authorization") or headers.get("authorization")
            if auth:
                session.bind(self._http_grant(auth, target))
        except RpcError as exc:
            body = session.error_response(None, exc, self.clock() // 1000)
            return 400, body
        request = {"jsonrpc": "2.0", "id": None, "method": method_name, "params": params}
        ok = session.handle(request)
        self.publish()
        return (200 if ok else 400), out[-1]

    def _http_grant(self, header: str, target: str) -> Grant:
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        now = self.now_ms()
        if scheme == "bearer":
            return self.auth.bearer(value.strip(), now)
        if scheme == "deri-hmac-sha256":
            return self.auth.http_signature(value, "GET", target, "", now)
        if scheme == "basic":
            return self.auth.basic(value.strip(), now)
        raise RpcError(UNAUTHORIZED, "unsupported Authorization scheme")


class Session:
    """One connection's state: who it is, what it subscribed to, its heartbeat."""

    def __init__(self, gateway: Gateway, push: Callable[[bytes], None], *,
                 transport: str = "ws", peer: object = None,
                 close: Callable[[int, str], None] | None = None) -> None:
        self.gateway = gateway
        self._push = push
        self.transport = transport
        self.peer = peer
        self.request_close = close or (lambda code, reason: None)
        self.account: int | None = None
        self.client_id: str | None = None
        self.cod = False
        self.heartbeat_interval: float | None = None
        self.awaiting_test = False
        self.on_heartbeat_change: Callable[[], None] | None = None
        self.closed = False
        self.close_after: tuple[int, str] | None = None  # set by logout: close once answered
        if transport == "ws":
            gateway.sessions[self] = None

    def __hash__(self) -> int:
        return id(self)

    def push(self, data: bytes) -> None:
        if not self.closed:
            self._push(data)

    def bind(self, grant: Grant) -> None:
        if self.account is not None and self.account != grant.account:
            self.gateway.hub.drop_user(self, self.account)
        self.account = grant.account
        self.client_id = grant.client_id

    # -- messages ------------------------------------------------------------------------------
    def receive(self, data: str | bytes) -> None:
        """Answer one websocket message, then publish what it caused."""
        gateway = self.gateway
        us_in = gateway.clock() // 1000
        size = len(data)
        if isinstance(data, str) and size * 4 > gateway.config.max_frame_bytes:
            size = len(data.encode())  # the limit is in bytes; only count them when it matters
        if size > gateway.config.max_frame_bytes:
            self.push(self.error_response(None, RpcError(
                INVALID_REQUEST,
                f"message of {size} bytes exceeds the limit of "
                f"{gateway.config.max_frame_bytes}"), us_in))
            return
        try:
            request = _decoder.decode(data)
        except msgspec.DecodeError as exc:
            self.push(self.error_response(None, RpcError(PARSE_ERROR, str(exc)), us_in))
            return
        self.handle(request, us_in)
        gateway.publish()
        if self.close_after is not None:
            self.request_close(*self.close_after)

    def handle(self, request: Any, us_in: int | None = None) -> bool:
        """Answer one decoded request through ``push``; True if it succeeded."""
        gateway = self.gateway
        if us_in is None:
            us_in = gateway.clock() // 1000
        rid: Any = None
        try:
            if not isinstance(request, dict):
                raise RpcError(INVALID_REQUEST, "a request must be a JSON object")
            rid = request.get("id")
            if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int | str)):
                rid = None
                raise RpcError(INVALID_REQUEST, "id must be an integer or a string")
            name = request.get("method")
            if not isinstance(name, str):
                raise RpcError(INVALID_REQUEST, "method must be a string")
            raw = request.get("params")
            if raw is None:
                raw = {}
            if not isinstance(raw, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            entry = METHODS.get(name)
            if entry is None:
                raise RpcError(METHOD_NOT_FOUND, f"unknown method {name[:80]}")
            if entry.ws_only and self.transport != "ws":
                raise RpcError(INVALID_REQUEST, f"{name} is only available over websocket")
            account = self.account
            token = raw.get("access_token")
            if isinstance(token, str) and account is None:
                account = gateway.auth.bearer(token, gateway.now_ms()).account
            if entry.private and account is None:
                raise RpcError(UNAUTHORIZED, f"{name} needs authentication")
            rl = gateway.config.rate_limit
            cost = rl.matching_cost if entry.matching else rl.other_cost
            key = ("account", account) if account is not None else ("peer", self.peer or self)
            if not gateway.take_credits(key, cost):
                raise RpcError(TOO_MANY_REQUESTS, "credit bucket exhausted; slow down")
            result = entry.handler(self, Params(raw), account)
        except RpcError as exc:
            self.push(self.error_response(rid, exc, us_in))
            return False
        except Exception:
            log.exception("internal error in %s", request.get("method")
                          if isinstance(request, dict) else "?")
            self.push(self.error_response(rid, RpcError(INTERNAL_ERROR, "internal error"),
                                          us_in))
            return False
        us_out = gateway.clock() // 1000
        self.push(encoder.encode({"jsonrpc": "2.0", "id": rid, "result": result,
                                  "usIn": us_in, "usOut": us_out, "usDiff": us_out - us_in,
                                  "testnet": False}))
        return True

    def error_response(self, rid: Any, exc: RpcError, us_in: int) -> bytes:
        us_out = self.gateway.clock() // 1000
        return encoder.encode({"jsonrpc": "2.0", "id": rid, "error": exc.to_json(),
                               "usIn": us_in, "usOut": us_out, "usDiff": us_out - us_in,
                               "testnet": False})

    # -- heartbeat and lifecycle ---------------------------------------------------------------
    def heartbeat_tick(self) -> bool:
        """Called every ``heartbeat_interval``: False means the client did not answer the
        previous test_request and the connection should be closed."""
        if self.awaiting_test:
            return False
        self.awaiting_test = True
        self.push(b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}')
        return True

    def close(self) -> None:
        """The connection is gone: cancel on disconnect, forget subscriptions."""
        if self.closed:
            return
        self.closed = True
        gateway = self.gateway
        gateway.sessions.pop(self, None)
        gateway.buckets.pop(("peer", self), None)
        gateway.hub.drop(self)
        account = self.account
        if account is not None and (self.cod or account in gateway.cod_accounts):
            gateway.cancel_on_disconnect(account)


# The handlers register themselves in METHODS on import; they import this module, so they
# come last.
from . import history, methods  # noqa: E402,F401
