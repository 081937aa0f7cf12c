"""JSON-RPC request handling, sans-I/O.

A :class:`Gateway` owns the venue, the feeds, the authenticator and the rate-limit buckets; a
:class:`Session` is one client connection (or one HTTP request). ``Session.receive`` takes the
raw text of one message, answers it through the session's ``push`` callable and only then
publishes the command's events, so a client always sees its answer before the notifications
the answer caused. Nothing here touches a socket or a clock it was not given.

Every failure becomes an error answer with the request's id: a malformed, oversized or
ill-typed message never closes the connection or touches its subscriptions, orders or funds.

With a journal (injected, see :mod:`.durable`), nothing a command caused leaves before the
command is durable: while the venue holds uncommitted commands, every outgoing message is held
in order, and a commit (one write, one fsync for all of them: group commit) releases them. The
I/O layer decides when: the server closes a batch once per event-loop turn and has its fsync
run off the loop (:meth:`Gateway.start_commit`, then :meth:`Gateway.finish_commit` when an
fsync returns); several batches may be written and waiting at once, and each is sent when
the journal's ``durable_seq`` reaches the sequence number it waits for, in order.
:meth:`Gateway.release` is the synchronous form (HTTP answers, shutdown, tests). This module
only asks the injected journal.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
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

if TYPE_CHECKING:
    from exchange.journal import JournaledEngine

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


class HeldBatch:
    """Messages that wait for the journal, in the order they were produced, and the journal
    sequence number that must be durable before they may leave (every command applied before
    the batch was closed: none of its messages can depend on a later one)."""

    __slots__ = ("messages", "seq", "sent")

    def __init__(self, messages: list[tuple[Session, bytes | tuple[int, str]]],
                 seq: int = 0) -> None:
        self.messages = messages
        self.seq = seq
        self.sent = False


class Gateway:
    def __init__(self, config: GatewayConfig | None = None, *,
                 clock: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], float] = time.monotonic,
                 journal: JournaledEngine | None = None,
                 engine_clock: Callable[[], int] | None = None) -> None:
        # ``engine_clock``: the time commands are applied at (a live scenario's virtual
        # clock); the gateway's own timestamps (auth windows, usIn/usOut) stay on ``clock``
        self.config = config = config or default_config()
        validate(config)
        self.clock = clock
        self.monotonic = monotonic
        self.venue = Venue(config.instruments, clock=engine_clock or clock,
                           trades_history=config.trades_history,
                           closed_orders_history=config.closed_orders_history,
                           user_trades_history=config.user_trades_history,
                           journal=journal)
        self.hub = FeedHub(self.venue)
        self.auth = Authenticator(config.accounts, config.auth_window_ms, config.token_ttl_s)
        self.accounts = {a.id: a for a in config.accounts}
        self.buckets: dict[object, CreditBucket] = {}
        self.cod_accounts: set[int] = set()
        self.sessions: dict[Session, None] = {}
        self._unpublished: list[Any] = []
        self.journaled = journal is not None
        # messages waiting for the journal, not yet closed into a batch: (session, bytes, or a
        # (code, reason) close); closed batches wait in ``waiting`` for their fsync, oldest first
        self.held: list[tuple[Session, bytes | tuple[int, str]]] = []
        self.waiting: deque[HeldBatch] = deque()
        # called when the first message is held, so the I/O layer schedules release()
        self.on_hold: Callable[[], None] | None = None
        self.halted = False  # a commit failed: hold everything, send nothing, ever
        if journal is None:
            self._fund()
        # A journal directory is created already funded (durable.open_journal), so a restart
        # never deposits twice.

    def _fund(self) -> None:
        apply_genesis(self.config, self.execute, self.venue.engine.registry)
        self.publish()

    # -- durability ----------------------------------------------------------------------------
    def deliver(self, session: Session, item: bytes | tuple[int, str]) -> None:
        """Send ``item`` to ``session`` now, or hold it until the journal has made durable
        every command applied so far. Once anything is held, everything after it is held too,
        so every connection sees its messages in order, and no message (an answer, a
        notification, the answer to a read) can reveal the effect of a command that a crash
        could still lose.

        With batches waiting, it first sends those the journal has made durable since the
        loop last looked (a cheap check): when the fsync's report has already been taken in
        (a synchronous commit, an fsync thread), they leave now rather than at the next
        callback."""
        if self.waiting and not self.halted:
            self.finish_commit()
        if self.held or self.waiting or self.halted or self.venue.uncommitted():
            if not self.held and self.on_hold is not None:
                self.on_hold()
            self.held.append((session, item))
            session.held_messages += 1
        elif type(item) is bytes:
            session.raw_push(item)
        else:
            session.request_close(*item)  # type: ignore[misc]

    def start_commit(self) -> int | None:
        """Pipelined group commit, first half: hand every command applied so far to the OS
        and close the messages held so far into a batch that waits for them. Returns the
        journal sequence number an fsync must now cover (the caller has it fsynced off the
        event loop, by a helper process or ``venue.sync_journal()`` in a thread, then calls
        :meth:`finish_commit`), or None if nothing waits for one (under ``none``, or when
        everything is durable already).
        May be called again while earlier batches are still syncing: each batch is released
        once the journal is durable up to its own sequence number, in order."""
        self._commit_with(self.venue.write_journal)
        return self.waiting[-1].seq if self.waiting else None

    def _commit_with(self, write: Callable[[], object]) -> None:
        """Run ``write`` (hand the journal to the OS, or a full commit), close the held
        messages into a batch waiting for the sequence number applied so far, and send what
        is durable already. A failure halts the gateway for good and propagates."""
        if self.halted:
            raise RuntimeError("the journal failed earlier: nothing more is acknowledged")
        try:
            write()
        except BaseException:
            self.halted = True
            raise
        if self.held:
            self.waiting.append(HeldBatch(self.held, self.venue.journal_seq()))
            self.held = []
        self.finish_commit()

    def finish_commit(self) -> None:
        """Second half: send, in order, every waiting batch the journal has made durable
        (called after each fsync returns; which batches that covers is the journal's to say,
        not the caller's)."""
        if self.halted:
            return
        durable = self.venue.durable_seq()
        waiting = self.waiting
        while waiting and waiting[0].seq <= durable:
            self._send(waiting.popleft())

    def sync_failed(self) -> None:
        """An fsync failed: nothing more may be acknowledged, ever."""
        self.halted = True

    def release(self) -> None:
        """Synchronous group commit: make every command applied so far durable (write and
        fsync in this thread) and send everything that waited for it, including batches whose
        asynchronous fsync has not returned yet (this fsync covers them). If the commit fails
        nothing is sent and the error propagates: the owner must stop serving."""
        self._commit_with(self.venue.commit)

    @staticmethod
    def _send(batch: HeldBatch) -> None:
        if batch.sent:
            return
        batch.sent = True
        for session, item in batch.messages:
            session.held_messages -= 1
            if session.closed:
                continue
            if type(item) is bytes:
                session.raw_push(item)
            else:
                session.request_close(*item)  # type: ignore[misc]

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
        if self.journaled:
            self.release()  # the answer below must not leave before its command is durable
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
        # messages for this session waiting for the journal; the server counts them against
        # the connection's back-pressure limit, so a disk stall cannot grow them unbounded
        self.held_messages = 0
        if transport == "ws":
            gateway.sessions[self] = None

    def __hash__(self) -> int:
        return id(self)

    def push(self, data: bytes) -> None:
        if not self.closed:
            if self.gateway.journaled:
                self.gateway.deliver(self, data)
            else:
                self._push(data)

    def raw_push(self, data: bytes) -> None:
        """Send now, bypassing the journal hold (the gateway's release does the holding)."""
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
        except RecursionError:
            # ~1000 nested arrays fit in a small frame; the decoder gives up on them with a
            # RecursionError, not a DecodeError, and that must not end the connection.
            self.push(self.error_response(None, RpcError(
                PARSE_ERROR, "JSON nested too deeply"), us_in))
            return
        self.handle(request, us_in)
        gateway.publish()
        if self.close_after is not None:
            if gateway.journaled:
                gateway.deliver(self, self.close_after)  # after the answer, not before
            else:
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


def genesis_commands(config: GatewayConfig, registry: Any) -> list[Command]:
    """The commands that fund the configured accounts and set the initial marks: applied
    once, when an exchange starts without history (a fresh journal, or no journal)."""
    commands: list[Command] = []
    for acct in config.accounts:
        for asset, amount in acct.deposits.items():
            if asset == USD:
                units = usd_to_micros(amount)
            else:
                spec = next((s for s in registry if s.kind == "spot" and s.base == asset), None)
                if spec is None:
                    raise ValueError(f"account {acct.id}: unknown asset {asset}")
                units = spec.amount_to_lots(amount)
            commands.append(Deposit(account=acct.id, asset=asset, amount=units))
    for name, price in config.marks.items():
        spec = registry.by_name.get(name)
        if spec is None:
            raise ValueError(f"mark for unknown instrument {name}")
        commands.append(SetMark(instrument=name, price=spec.price_to_ticks(price)))
    return commands


def apply_genesis(config: GatewayConfig, apply: Callable[[Command], list], registry: Any
                  ) -> None:
    """Apply :func:`genesis_commands` through ``apply``; a rejected deposit is a config error."""
    for command in genesis_commands(config, registry):
        first = apply(command)[0]
        if type(first) is Rejected and type(command) is Deposit:
            raise ValueError(f"account {command.account}: deposit of {command.asset} rejected")


# The handlers register themselves in METHODS on import; they import this module, so they
# come last.
from . import history, methods  # noqa: E402,F401
