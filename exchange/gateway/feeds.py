"""Subscription channels and the fan-out of engine events to them.

Every channel message is encoded once and the same bytes are queued to every subscriber.
``raw`` channels are published after each command (all of one command's changes in one
message); ``100ms``/``agg2`` channels accumulate and go out on :meth:`FeedHub.flush`, which the
server calls on a timer. Book changes carry ``change_id`` (the engine's per-instrument
counter) and ``prev_change_id`` (the ``change_id`` of the previous message on that channel), so
a subscriber detects any gap; a message is sent whenever the counter moved, even if the net
change is empty, so the chain is never broken by a silent no-op.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from exchange.core import USD
from exchange.core.messages import (
    BUY,
    SELL,
    BalanceChanged,
    BookDelta,
    MarkUpdated,
    OrderAccepted,
    OrderUpdated,
    PositionChanged,
    Settled,
    Trade,
)

from . import formats
from .errors import UNAUTHORIZED, RpcError, invalid_params
from .venue import Venue

INTERVALS = frozenset({"raw", "100ms", "agg2"})
DEPTHS = frozenset({"1", "10", "20"})
GROUPS = ("1", "2", "5", "10", "25", "100", "250")
KINDS = frozenset({"future", "spot", "any"})

encoder = msgspec.json.Encoder(decimal_format="number")


class Subscriber(Protocol):
    account: int | None

    def push(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name."""

    name: str
    kind: str  # book, book_grouped, trades, ticker, user.orders, user.trades, user.portfolio
    instrument: str | None = None  # None for kind/currency filters
    interval: str = "raw"
    depth: int | None = None
    group: int = 1  # grouped book: price step in ticks (1 = "none")
    filter_kind: str = "any"
    currency: str = "any"

    @property
    def private(self) -> bool:
        return self.kind.startswith("user.")


def parse_channel(name: str, venue: Venue) -> Channel:
    """Channel name -> Channel; raises -32602 naming what is wrong."""
    if not isinstance(name, str) or len(name) > 200:
        raise invalid_params("channels", "channel names must be strings")
    parts = name.split(".")
    head = parts[0]

    def known(instrument: str) -> str:
        if venue.spec(instrument) is None:
            raise invalid_params("channels", f"{name}: unknown instrument {instrument}")
        return instrument

    def interval(value: str) -> str:
        if value not in INTERVALS:
            raise invalid_params("channels", f"{name}: interval must be raw, 100ms or agg2")
        return value

    def currency(value: str) -> str:
        if value == "any":
            return value
        upper = value.upper()
        if upper not in venue.engine.registry.assets:
            raise invalid_params("channels", f"{name}: unknown currency {value}")
        return upper

    if head == "book" and len(parts) == 3:
        return Channel(name, "book", known(parts[1]), interval(parts[2]))
    if head == "book" and len(parts) == 5:
        # Groups count ticks (a group value cannot hold a decimal point: "." separates the
        # parts of a channel name), so "10" on GPUH_USD means $0.01 steps.
        if parts[2] == "none":
            group = 1
        elif parts[2] in GROUPS:
            group = int(parts[2])
        else:
            raise invalid_params(
                "channels", f"{name}: group must be none or one of {', '.join(GROUPS)} (ticks)"
            )
        if parts[3] not in DEPTHS:
            raise invalid_params("channels", f"{name}: depth must be 1, 10 or 20")
        return Channel(name, "book_grouped", known(parts[1]), interval(parts[4]),
                       depth=int(parts[3]), group=group)
    if head in ("trades", "ticker") and len(parts) == 3:
        return Channel(name, head, known(parts[1]), interval(parts[2]))
    if head == "trades" and len(parts) == 4:
        if parts[1] not in KINDS:
            raise invalid_params("channels", f"{name}: kind must be future, spot or any")
        return Channel(name, "trades", None, interval(parts[3]), filter_kind=parts[1],
                       currency=currency(parts[2]))
    if head == "user" and len(parts) >= 3:
        sub = parts[1]
        if sub in ("orders", "trades", "changes") and len(parts) == 4:
            return Channel(name, f"user.{sub}", known(parts[2]), interval(parts[3]))
        if sub in ("orders", "trades", "changes") and len(parts) == 5:
            if parts[2] not in KINDS:
                raise invalid_params("channels", f"{name}: kind must be future, spot or any")
            return Channel(name, f"user.{sub}", None, interval(parts[4]),
                           filter_kind=parts[2], currency=currency(parts[3]))
        if sub == "portfolio" and len(parts) == 3:
            return Channel(name, "user.portfolio", None, "raw", currency=currency(parts[2]))
    raise invalid_params("channels", f"unknown channel {name}")


CHECKSUM_DEPTH = 10


def book_checksum(bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]) -> int:
    """CRC32 of the top levels in integer ticks and lots: ``"p:a,p:a|p:a,..."``, bids best
    first, then asks best first. An extension field: Deribit clients ignore it; the SDK
    checks it after every message, which catches a divergence that no gap revealed."""
    text = (",".join(f"{p}:{a}" for p, a in bids) + "|"
            + ",".join(f"{p}:{a}" for p, a in asks))
    return zlib.crc32(text.encode())


def notification(channel: str, data: Any) -> bytes:
    return encoder.encode({"jsonrpc": "2.0", "method": "subscription",
                           "params": {"channel": channel, "data": data}})


@dataclass(slots=True)
class _Pending:
    """Book changes accumulated for one instrument since the last flush."""

    levels: dict[tuple[int, int], tuple[bool, int]] = field(default_factory=dict)


class FeedHub:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.subs: dict[str, dict[Subscriber, None]] = {}  # public channel -> subscribers
        self.channels: dict[str, Channel] = {}
        self.user_subs: dict[int, dict[tuple[Subscriber, str], Channel]] = {}
        # mirror of each watched book (which levels exist, to tell "new" from "change"),
        # kept only while some book channel of that instrument has a subscriber
        self.levels: dict[str, dict[int, dict[int, int]]] = {}
        self.book_watchers: dict[str, int] = {}
        self.flushed_change: dict[str, int] = {}  # change_id at the last 100ms flush
        self.pending_book: dict[str, _Pending] = {}
        self.pending_trades: dict[str, list[Any]] = {}
        self.dirty: set[str] = set()  # instruments touched since the last flush
        self.awaiting_snapshot: dict[str, list[Subscriber]] = {}
        self.last_grouped: dict[str, bytes] = {}
        self.pending_user: dict[tuple[Subscriber, str], list[Any]] = {}
        self.filtered_trades: dict[str, None] = {}  # trades.{kind}.{currency}.* channels
        self.pending_filtered: dict[str, list[Any]] = {}

    # -- subscriptions -------------------------------------------------------------------------
    def subscribe(self, sub: Subscriber, channel: Channel) -> None:
        if channel.private:
            if sub.account is None:
                raise RpcError(UNAUTHORIZED, f"{channel.name} needs an authenticated connection")
            self.user_subs.setdefault(sub.account, {})[(sub, channel.name)] = channel
            return
        subs = self.subs.setdefault(channel.name, {})
        if sub in subs:
            return
        subs[sub] = None
        self.channels[channel.name] = channel
        if channel.kind == "book":
            self._watch(channel.instrument or "", +1)
        if channel.kind == "trades" and channel.instrument is None:
            self.filtered_trades[channel.name] = None
        if channel.interval == "raw" or channel.kind == "book_grouped":
            if channel.kind == "book" or channel.kind == "ticker":
                sub.push(notification(channel.name, self._initial(channel)))
            if channel.kind == "book_grouped":
                self.awaiting_snapshot.setdefault(channel.name, []).append(sub)
        else:
            if channel.kind in ("book", "ticker"):
                self.awaiting_snapshot.setdefault(channel.name, []).append(sub)

    def _watch(self, name: str, delta: int) -> None:
        """Start or stop mirroring a book as its first subscriber comes or last one goes."""
        count = self.book_watchers.get(name, 0) + delta
        if count > 0:
            if name not in self.levels:
                book = self.venue.engine.books[name]
                self.levels[name] = {side: dict(book.depth(side)) for side in (BUY, SELL)}
                self.pending_book[name] = _Pending()
                self.flushed_change[name] = self.venue.engine.change_ids[name]
            self.book_watchers[name] = count
        else:
            self.book_watchers.pop(name, None)
            self.levels.pop(name, None)
            self.pending_book.pop(name, None)

    def _initial(self, channel: Channel) -> dict[str, Any]:
        spec = self.venue.spec(channel.instrument or "")
        assert spec is not None
        if channel.kind == "ticker":
            return formats.ticker(self.venue, spec)
        return self._snapshot(spec.name)

    def _snapshot(self, name: str) -> dict[str, Any]:
        spec = self.venue.engine.registry.by_name[name]
        book = self.venue.engine.books[name]
        price, amount = spec.ticks_to_price, spec.lots_to_amount
        return {
            "type": "snapshot",
            "timestamp": self.venue.now_ms(),
            "instrument_name": name,
            "change_id": self.venue.engine.change_ids[name],
            "bids": [["new", price(p), amount(a)] for p, a in book.depth(BUY)],
            "asks": [["new", price(p), amount(a)] for p, a in book.depth(SELL)],
            "checksum": self._checksum(name),
        }

    def _checksum(self, name: str) -> int:
        book = self.venue.engine.books[name]
        return book_checksum(book.depth(BUY, CHECKSUM_DEPTH), book.depth(SELL, CHECKSUM_DEPTH))

    def unsubscribe(self, sub: Subscriber, name: str) -> bool:
        subs = self.subs.get(name)
        if subs is not None and sub in subs:
            del subs[sub]
            waiting = self.awaiting_snapshot.get(name)
            if waiting and sub in waiting:
                waiting.remove(sub)
            channel = self.channels[name]
            if channel.kind == "book":
                self._watch(channel.instrument or "", -1)
            if not subs:
                del self.subs[name]
                self.channels.pop(name, None)
                self.last_grouped.pop(name, None)
                self.filtered_trades.pop(name, None)
                self.pending_filtered.pop(name, None)
            return True
        if sub.account is not None:
            table = self.user_subs.get(sub.account, {})
            if (sub, name) in table:
                del table[(sub, name)]
                self.pending_user.pop((sub, name), None)
                if not table:
                    del self.user_subs[sub.account]
                return True
        return False

    def channels_of(self, sub: Subscriber) -> list[str]:
        names = [n for n, subs in self.subs.items() if sub in subs]
        if sub.account is not None:
            names += [n for (s, n) in self.user_subs.get(sub.account, {}) if s is sub]
        return names

    def drop(self, sub: Subscriber) -> None:
        """Forget a subscriber entirely (its connection closed)."""
        for name in self.channels_of(sub):
            self.unsubscribe(sub, name)

    def drop_user(self, sub: Subscriber, account: int) -> None:
        """Forget a subscriber's private channels of ``account`` (it re-authenticated as
        another account); its public channels stay."""
        table = self.user_subs.get(account, {})
        for key in [k for k in table if k[0] is sub]:
            del table[key]
            self.pending_user.pop(key, None)
        if not table:
            self.user_subs.pop(account, None)

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, events: Iterable[Any]) -> None:
        """Fan out the events of one command."""
        if not self.subs and not self.user_subs:
            return
        venue = self.venue
        batch: dict[str, _Pending] = {}
        first_change: dict[str, int] = {}
        trades: dict[str, list[Any]] = {}
        touched: dict[str, None] = {}
        orders: dict[int, int] = {}  # order id -> account, in order of first change
        user_trades: list[tuple[int, Any]] = []
        portfolio: dict[int, set[str]] = {}
        positions: dict[int, set[str]] = {}
        levels = self.levels
        for e in events:
            kind = type(e)
            if kind is BookDelta:
                name = e.instrument
                touched[name] = None
                mirror = levels.get(name)
                if mirror is None:
                    continue
                if name not in first_change:
                    first_change[name] = e.change_id
                side_levels = mirror[e.side]
                key = (e.side, e.price)
                for store in (batch.setdefault(name, _Pending()), self.pending_book[name]):
                    if key not in store.levels:
                        store.levels[key] = (e.price in side_levels, e.amount)
                    else:
                        store.levels[key] = (store.levels[key][0], e.amount)
                if e.amount:
                    side_levels[e.price] = e.amount
                else:
                    side_levels.pop(e.price, None)
            elif kind is Trade:
                touched[e.instrument] = None
                trades.setdefault(e.instrument, []).append(e)
                if e.maker_account in self.user_subs:
                    user_trades.append((e.maker_account, e))
                if e.taker_account in self.user_subs and e.taker_account != e.maker_account:
                    user_trades.append((e.taker_account, e))
            elif kind is OrderUpdated or kind is OrderAccepted:
                if e.account in self.user_subs:
                    orders.setdefault(e.order_id, e.account)
            elif kind is BalanceChanged:
                if e.account in self.user_subs:
                    portfolio.setdefault(e.account, set()).add(e.asset)
            elif kind is PositionChanged:
                if e.account in self.user_subs:
                    portfolio.setdefault(e.account, set()).add(USD)
                    positions.setdefault(e.account, set()).add(e.instrument)
            elif kind is MarkUpdated or kind is Settled:
                touched[e.instrument] = None
                # a new mark moves the unrealized P&L of everyone holding the future
                for holder in venue.engine.holders.get(e.instrument, ()):
                    if holder in self.user_subs:
                        portfolio.setdefault(holder, set()).add(USD)
        self.dirty.update(touched)
        for name, pending in batch.items():
            channel = f"book.{name}.raw"
            if channel in self.subs:
                change_id = venue.engine.change_ids[name]
                data = self._changes(name, pending, first_change[name] - 1, change_id)
                self._send(channel, notification(channel, data))
        for name, items in trades.items():
            rendered = None
            raw = f"trades.{name}.raw"
            slow = [f"trades.{name}.100ms", f"trades.{name}.agg2"]
            if raw in self.subs or any(c in self.subs for c in slow):
                rendered = self._render_trades(name, len(items))
            if rendered is None:
                continue
            if raw in self.subs:
                self._send(raw, notification(raw, rendered))
            if any(c in self.subs for c in slow):
                self.pending_trades.setdefault(name, []).extend(rendered)
        if trades and self.filtered_trades:
            self._publish_filtered_trades(trades)
        for name in touched:
            channel = f"ticker.{name}.raw"
            if channel in self.subs:
                spec = venue.engine.registry.by_name[name]
                self._send(channel, notification(channel, formats.ticker(venue, spec)))
        if orders or user_trades or portfolio:
            self._publish_user(orders, user_trades, portfolio, positions)

    def _publish_filtered_trades(self, trades: dict[str, list[Any]]) -> None:
        """``trades.{kind}.{currency}.{interval}``: every matching instrument's trades."""
        registry = self.venue.engine.registry.by_name
        for channel in list(self.filtered_trades):
            ch = self.channels[channel]
            rendered: list[Any] = []
            for name, items in trades.items():
                if _matches(ch, registry[name]):
                    rendered += self._render_trades(name, len(items))
            if not rendered:
                continue
            if ch.interval == "raw":
                self._send(channel, notification(channel, rendered))
            else:
                self.pending_filtered.setdefault(channel, []).extend(rendered)

    def _render_trades(self, name: str, count: int) -> list[Any]:
        spec = self.venue.engine.registry.by_name[name]
        history = self.venue.public_trades.get(name, ())
        recent = list(history)[-count:] if history else []
        return [formats.public_trade(t, spec, self.venue) for t in recent]

    def _changes(self, name: str, pending: _Pending, prev: int, change_id: int
                 ) -> dict[str, Any]:
        spec = self.venue.engine.registry.by_name[name]
        bids: list[list[Any]] = []
        asks: list[list[Any]] = []
        for (side, price_ticks), (existed, amount) in sorted(pending.levels.items()):
            if amount == 0:
                if not existed:
                    continue
                action = "delete"
            else:
                action = "change" if existed else "new"
            row = [action, spec.ticks_to_price(price_ticks), spec.lots_to_amount(amount)]
            (bids if side == BUY else asks).append(row)
        bids.sort(key=lambda r: r[1], reverse=True)
        return {
            "type": "change",
            "timestamp": self.venue.now_ms(),
            "instrument_name": name,
            "prev_change_id": prev,
            "change_id": change_id,
            "bids": bids,
            "asks": asks,
            "checksum": self._checksum(name),
        }

    def _send(self, channel: str, data: bytes) -> None:
        for sub in list(self.subs.get(channel, ())):
            sub.push(data)

    def _publish_user(self, orders: dict[int, int], user_trades: list[tuple[int, Any]],
                      portfolio: dict[int, set[str]], positions: dict[int, set[str]]) -> None:
        venue = self.venue
        registry = venue.engine.registry.by_name
        # user.changes: one message per account and instrument with its orders, trades and
        # positions that this command changed
        changes: dict[tuple[int, str], dict[str, Any]] = {}
        wants_changes = {account for account, table in self.user_subs.items()
                         if any(ch.kind == "user.changes" for ch in table.values())}

        def change_set(account: int, instrument: str) -> dict[str, Any]:
            entry = changes.get((account, instrument))
            if entry is None:
                entry = changes[(account, instrument)] = {
                    "instrument_name": instrument, "orders": [], "trades": [],
                    "positions": []}
            return entry

        for order_id, account in orders.items():
            rec = venue.order(order_id)
            if rec is None:
                continue
            spec = registry[rec.instrument]
            data = None
            for (sub, _name), ch in list(self.user_subs.get(account, {}).items()):
                if ch.kind != "user.orders" or not _matches(ch, spec):
                    continue
                if data is None:
                    data = formats.order(rec, spec)
                self._user_send(sub, ch, data)
            if account in wants_changes:
                change_set(account, spec.name)["orders"].append(
                    data if data is not None else formats.order(rec, spec))
        for account, trade in user_trades:
            mine = venue.user_trades.get(account)
            if not mine:
                continue
            ut = next((u for u in reversed(mine) if u.trade is trade), None)
            if ut is None:
                continue
            spec = registry[trade.instrument]
            data = None
            for (sub, name), ch in list(self.user_subs.get(account, {}).items()):
                if ch.kind != "user.trades" or not _matches(ch, spec):
                    continue
                if data is None:
                    data = formats.user_trade(ut, spec, venue)
                if ch.interval == "raw":
                    sub.push(notification(name, [data]))
                else:
                    self.pending_user.setdefault((sub, name), []).append(data)
            if account in wants_changes:
                change_set(account, spec.name)["trades"].append(
                    data if data is not None else formats.user_trade(ut, spec, venue))
        for account, instruments in positions.items():
            if account in wants_changes:
                for name in instruments:
                    change_set(account, name)["positions"].append(
                        formats.position(venue, registry[name], account))
        for (account, name), payload in changes.items():
            spec = registry[name]
            encoded: dict[str, bytes] = {}
            for (sub, channel), ch in list(self.user_subs.get(account, {}).items()):
                if ch.kind == "user.changes" and _matches(ch, spec):
                    message = encoded.get(channel)
                    if message is None:
                        message = encoded[channel] = notification(channel, payload)
                    sub.push(message)
        for account, currencies in portfolio.items():
            for (sub, name), ch in list(self.user_subs.get(account, {}).items()):
                if ch.kind != "user.portfolio":
                    continue
                for currency in sorted(currencies):
                    if ch.currency in (currency, "any"):
                        sub.push(notification(
                            name, formats.account_summary(venue, account, currency)))

    def _user_send(self, sub: Subscriber, ch: Channel, data: Any) -> None:
        if ch.interval == "raw":
            sub.push(notification(ch.name, data))
        else:
            self.pending_user.setdefault((sub, ch.name), []).append(data)

    # -- periodic ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Publish everything the 100ms/agg2 channels accumulated."""
        venue = self.venue
        registry = venue.engine.registry.by_name
        pending_book = self.pending_book
        self.pending_book = {name: _Pending() for name in pending_book}
        dirty, self.dirty = self.dirty, set()
        for name in registry:
            change_id = venue.engine.change_ids[name]
            prev = self.flushed_change.get(name)
            self.flushed_change[name] = change_id
            for interval in ("100ms", "agg2"):
                channel = f"book.{name}.{interval}"
                if channel not in self.subs:
                    continue
                waiting = self.awaiting_snapshot.pop(channel, [])
                if prev is not None and change_id != prev:
                    data = self._changes(name, pending_book.get(name, _Pending()), prev,
                                         change_id)
                    message = notification(channel, data)
                    for sub in list(self.subs[channel]):
                        if sub not in waiting:
                            sub.push(message)
                if waiting:
                    snap = notification(channel, self._snapshot(name))
                    for sub in waiting:
                        sub.push(snap)
        for name, items in self.pending_trades.items():
            for interval in ("100ms", "agg2"):
                channel = f"trades.{name}.{interval}"
                if channel in self.subs and items:
                    self._send(channel, notification(channel, items))
        self.pending_trades = {}
        pending_filtered, self.pending_filtered = self.pending_filtered, {}
        for channel, items in pending_filtered.items():
            if channel in self.subs and items:
                self._send(channel, notification(channel, items))
        for channel, waiting in list(self.awaiting_snapshot.items()):
            ch = self.channels.get(channel)
            if ch is not None and ch.kind == "ticker" and waiting:
                spec = registry[ch.instrument or ""]
                msg = notification(channel, formats.ticker(venue, spec))
                for sub in waiting:
                    sub.push(msg)
                del self.awaiting_snapshot[channel]
        for channel, ch in list(self.channels.items()):
            if ch.kind == "ticker" and ch.interval != "raw" and ch.instrument in dirty:
                spec = registry[ch.instrument or ""]
                self._send(channel, notification(channel, formats.ticker(venue, spec)))
            elif ch.kind == "book_grouped":
                waiting = self.awaiting_snapshot.pop(channel, [])
                if ch.instrument in dirty or waiting:
                    self._grouped(ch, waiting)
        pending_user, self.pending_user = self.pending_user, {}
        for (sub, name), items in pending_user.items():
            if items:
                sub.push(notification(name, items))

    def _grouped(self, ch: Channel, waiting: list[Subscriber]) -> None:
        name = ch.instrument or ""
        spec = self.venue.engine.registry.by_name[name]
        book = self.venue.engine.books[name]
        price, amount = spec.ticks_to_price, spec.lots_to_amount
        if ch.group == 1:
            bid_levels = book.depth(BUY, ch.depth)
            ask_levels = book.depth(SELL, ch.depth)
        else:
            bid_levels = _group_levels(book.depth(BUY), ch.group, BUY, ch.depth or 0)
            ask_levels = _group_levels(book.depth(SELL), ch.group, SELL, ch.depth or 0)
        bids = [[price(p), amount(a)] for p, a in bid_levels]
        asks = [[price(p), amount(a)] for p, a in ask_levels]
        body = encoder.encode([bids, asks])
        if body == self.last_grouped.get(ch.name) and not waiting:
            return
        changed = body != self.last_grouped.get(ch.name)
        self.last_grouped[ch.name] = body
        message = notification(ch.name, {
            "timestamp": self.venue.now_ms(),
            "instrument_name": name,
            "change_id": self.venue.engine.change_ids[name],
            "bids": bids,
            "asks": asks,
        })
        targets: Iterable[Subscriber] = self.subs.get(ch.name, ()) if changed else waiting
        for sub in list(targets):
            sub.push(message)


def _group_levels(levels: list[tuple[int, int]], group: int, side: int,
                  depth: int) -> list[tuple[int, int]]:
    """Aggregate best-first levels into ``group``-tick buckets, best first: bids round down
    and asks round up, as Deribit groups them, so a bucket never looks better than the
    orders in it."""
    buckets: dict[int, int] = {}
    for price, amount in levels:
        key = price // group * group if side == BUY else -(-price // group) * group
        if key not in buckets and len(buckets) == depth:
            break
        buckets[key] = buckets.get(key, 0) + amount
    return list(buckets.items())


def _matches(ch: Channel, spec: Any) -> bool:
    if ch.instrument is not None:
        return ch.instrument == spec.name
    if ch.filter_kind not in ("any", spec.kind):
        return False
    return ch.currency in ("any", spec.base, spec.quote)

