"""The Deribit v2 methods: parameters in, result shapes out.

Each handler receives the session, its typed parameters and the authenticated account (None
for anonymous public calls), and returns the ``result`` or raises :class:`RpcError`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from exchange.core import USD, Code, InstrumentSpec, OffTickError
from exchange.core.messages import (
    BUY,
    CANCELLED,
    FOK,
    GTC,
    GTD,
    IOC,
    SELL,
    AmendOrder,
    CancelAll,
    CancelOrder,
    OrderAccepted,
    OrderUpdated,
    PlaceOrder,
    Rejected,
    Trade,
)

from . import formats
from .errors import UNAUTHORIZED, RpcError, invalid_params
from .feeds import parse_channel
from .params import Params
from .protocol import Session, method

VERSION = "2.1.1"
TIF = {"good_til_cancelled": GTC, "good_til_day": GTD, "fill_or_kill": FOK,
       "immediate_or_cancel": IOC}
TIF_NAMES = frozenset(TIF)
ORDER_TYPES = frozenset({"limit", "market"})
CURRENCY_NAMES = {USD: "US Dollar", "GPUH": "GPU hour", "KWH": "Kilowatt hour",
                  "CCT": "Compute credit token"}
GRANTS = ("client_credentials", "client_signature", "refresh_token")
SCOPE = ("connection mainaccount account:read_write trade:read_write wallet:read_write "
         "block_trade:read_write")


# -- helpers ---------------------------------------------------------------------------------
def _spec(s: Session, p: Params, name: str = "instrument_name") -> InstrumentSpec:
    instrument = p.req_str(name)
    spec = s.gateway.venue.spec(instrument)
    if spec is None:
        raise invalid_params(name, f"unknown instrument {instrument[:80]}")
    return spec


def _lots(spec: InstrumentSpec, value: Decimal, param: str = "amount") -> int:
    try:
        return spec.amount_to_lots(value)
    except OffTickError:
        raise RpcError(Code.INVALID_AMOUNT,
                       f"{param} {value} is not a multiple of the lot size {spec.lot_size}",
                       param) from None


def _ticks(spec: InstrumentSpec, value: Decimal) -> int:
    try:
        return spec.price_to_ticks(value)
    except OffTickError:
        raise RpcError(Code.PRICE_WRONG_TICK,
                       f"price {value} is not a multiple of the tick size {spec.tick_size}",
                       "price") from None


def _check(events: list) -> Any:
    first = events[0]
    if type(first) is Rejected:
        raise RpcError(first.code, first.reason)
    return first


def _order_id(p: Params) -> int:
    """Order ids are strings of digits; anything else is an id we never issued."""
    raw = p.raw.get("order_id")
    if raw is None:
        raise invalid_params("order_id", "order_id is required")
    if isinstance(raw, bool):
        return -1
    try:
        return int(str(raw).strip())
    except ValueError:
        return -1


def _currency_ok(s: Session, currency: str | None) -> str:
    if currency is None or currency == "any":
        return "any"
    if currency not in s.gateway.venue.engine.registry.assets:
        raise invalid_params("currency", f"unknown currency {currency[:20]}")
    return currency


def _matches_currency(spec: InstrumentSpec, currency: str) -> bool:
    return currency == "any" or currency in (spec.base, spec.quote)


def _next_0800_utc(now_ms: int) -> int:
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    cut = now.replace(hour=8, minute=0, second=0, microsecond=0)
    if cut <= now:
        cut += timedelta(days=1)
    return int(cut.timestamp()) * 1_000_000_000


def _order_result(s: Session, events: list, order_id: int, account: int) -> dict[str, Any]:
    venue = s.gateway.venue
    rec = venue.order(order_id)
    assert rec is not None
    spec = venue.engine.registry.by_name[rec.instrument]
    mine = set()
    for e in events:
        if type(e) is Trade and (e.taker_order_id == order_id or e.maker_order_id == order_id):
            mine.add(e.trade_id)
    trades = []
    if mine:
        for ut in venue.user_trades.get(account, ()):
            if ut.trade.trade_id in mine and ut.order_id == order_id:
                trades.append(formats.user_trade(ut, spec, venue))
    return {"order": formats.order(rec, spec), "trades": trades}


def _cancelled(events: list, account: int) -> int:
    return sum(1 for e in events if type(e) is OrderUpdated and e.status == CANCELLED
               and e.account == account)


# -- public ----------------------------------------------------------------------------------
@method("public/get_time")
def get_time(s: Session, p: Params, account: int | None) -> int:
    return s.gateway.now_ms()


@method("public/test")
def answer_test(s: Session, p: Params, account: int | None) -> dict[str, str]:
    """Also the answer to a heartbeat test_request."""
    s.awaiting_test = False
    if p.str("expected_result") == "exception":
        raise RpcError(Code.ERROR, "exception requested by expected_result")
    return {"version": VERSION}


@method("public/hello")
def hello(s: Session, p: Params, account: int | None) -> dict[str, str]:
    return {"version": VERSION}


@method("public/status")
def status(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    return {"locked": "false", "locked_indices": []}


@method("public/get_currencies")
def get_currencies(s: Session, p: Params, account: int | None) -> list[dict[str, Any]]:
    out = []
    for asset in sorted(s.gateway.venue.engine.registry.assets):
        out.append({
            "currency": asset,
            "currency_long": CURRENCY_NAMES.get(asset, asset),
            "coin_type": "FIAT" if asset == USD else "OTHER",
            "fee_precision": 6,
            "min_confirmations": 0,
            "min_withdrawal_fee": 0,
            "withdrawal_fee": 0,
            "withdrawal_priorities": [],
        })
    return out


@method("public/get_instruments")
def get_instruments(s: Session, p: Params, account: int | None) -> list[dict[str, Any]]:
    currency = _currency_ok(s, p.str("currency"))
    kind = p.str("kind")
    expired = p.bool("expired", False)
    engine = s.gateway.venue.engine
    out = []
    for i, spec in enumerate(engine.registry, start=1):
        if not _matches_currency(spec, currency) or (kind and kind not in ("any", spec.kind)):
            continue
        is_expired = spec.name in engine.settled
        if is_expired != expired:
            continue
        out.append(formats.instrument(spec, i, not is_expired))
    return out


@method("public/get_instrument")
def get_instrument(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    spec = _spec(s, p)
    engine = s.gateway.venue.engine
    index = list(engine.registry.by_name).index(spec.name) + 1
    return formats.instrument(spec, index, spec.name not in engine.settled)


@method("public/get_order_book")
def get_order_book(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    spec = _spec(s, p)
    depth = p.int("depth", 20, minimum=1, maximum=10_000)
    return formats.order_book(s.gateway.venue, spec, depth)


@method("public/ticker")
def ticker(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    return formats.ticker(s.gateway.venue, _spec(s, p))


def _page(items: list, p: Params, seq: Any, ts: Any) -> dict[str, Any]:
    start_seq = p.int("start_seq")
    end_seq = p.int("end_seq")
    start_ts = p.int("start_timestamp")
    end_ts = p.int("end_timestamp")
    count = p.int("count", 10, minimum=1, maximum=1000)
    assert count is not None
    sorting = p.str("sorting", "desc", choices=("asc", "desc", "default"))
    chosen = [
        x for x in items
        if (start_seq is None or seq(x) >= start_seq) and (end_seq is None or seq(x) <= end_seq)
        and (start_ts is None or ts(x) >= start_ts) and (end_ts is None or ts(x) <= end_ts)
    ]
    if sorting == "asc":
        page = chosen[:count]
    else:
        page = chosen[-count:][::-1]
    return {"page": page, "has_more": len(chosen) > count}


@method("public/get_last_trades_by_instrument")
def get_last_trades(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    spec = _spec(s, p)
    venue = s.gateway.venue
    trades = list(venue.public_trades.get(spec.name, ()))
    result = _page(trades, p, lambda t: t.trade_seq, lambda t: t.trade.ts // 1_000_000)
    return {"trades": [formats.public_trade(t, spec, venue) for t in result["page"]],
            "has_more": result["has_more"]}


@method("public/auth")
def auth(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    gateway = s.gateway
    grant_type = p.req_str("grant_type", choices=GRANTS)
    now = gateway.now_ms()
    if grant_type == "client_credentials":
        grant = gateway.auth.client_credentials(p.req_str("client_id"),
                                                p.req_str("client_secret"), now)
    elif grant_type == "client_signature":
        timestamp = p.int("timestamp")
        if timestamp is None:
            raise invalid_params("timestamp", "timestamp is required")
        grant = gateway.auth.client_signature(
            p.req_str("client_id"), timestamp, p.req_str("signature"), p.str("nonce", "") or "",
            p.str("data", "") or "", now)
    else:
        grant = gateway.auth.refresh(p.req_str("refresh_token"), now)
    access, refresh = gateway.auth.issue(grant)
    if s.transport == "ws":
        s.bind(grant)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": gateway.config.token_ttl_s,
        "scope": SCOPE,
        "token_type": "bearer",
        "enabled_features": [],
    }


@method("public/set_heartbeat", ws_only=True)
def set_heartbeat(s: Session, p: Params, account: int | None) -> str:
    minimum = s.gateway.config.min_heartbeat_interval_s
    interval = p.number("interval", minimum=minimum)
    if interval is None:
        raise invalid_params("interval", "interval is required")
    s.heartbeat_interval = interval
    s.awaiting_test = False
    if s.on_heartbeat_change:
        s.on_heartbeat_change()
    return "ok"


@method("public/disable_heartbeat", ws_only=True)
def disable_heartbeat(s: Session, p: Params, account: int | None) -> str:
    s.heartbeat_interval = None
    s.awaiting_test = False
    if s.on_heartbeat_change:
        s.on_heartbeat_change()
    return "ok"


@method("public/subscribe", "private/subscribe", ws_only=True)
def subscribe(s: Session, p: Params, account: int | None) -> list[str]:
    venue = s.gateway.venue
    channels = [parse_channel(name, venue) for name in p.str_list("channels")]
    if any(ch.private for ch in channels) and s.account is None:
        raise RpcError(UNAUTHORIZED, "user channels need an authenticated connection", "channels")
    for ch in channels:
        s.gateway.hub.subscribe(s, ch)
    return [ch.name for ch in channels]


@method("public/unsubscribe", "private/unsubscribe", ws_only=True)
def unsubscribe(s: Session, p: Params, account: int | None) -> list[str]:
    return [name for name in p.str_list("channels") if s.gateway.hub.unsubscribe(s, name)]


@method("public/unsubscribe_all", "private/unsubscribe_all", ws_only=True)
def unsubscribe_all(s: Session, p: Params, account: int | None) -> str:
    s.gateway.hub.drop(s)
    return "ok"


# -- private: orders -------------------------------------------------------------------------
def _place(s: Session, p: Params, account: int, side: int) -> dict[str, Any]:
    spec = _spec(s, p)
    amount = p.decimal("amount")
    if amount is None:
        amount = p.decimal("contracts")
    if amount is None:
        raise invalid_params("amount", "amount is required")
    lots = _lots(spec, amount)
    order_type = p.str("type", "limit")
    if order_type not in ORDER_TYPES:
        raise invalid_params("type", f"order type {order_type[:20]} is not supported; "
                             "use limit or market")
    price = p.decimal("price")
    ticks = None
    if order_type == "limit":
        if price is None:
            raise invalid_params("price", "price is required for limit orders")
        ticks = _ticks(spec, price)
    tif_name = p.str("time_in_force", "good_til_cancelled", choices=TIF_NAMES)
    assert tif_name is not None
    tif = TIF[tif_name]
    # the engine's clock: a live scenario's engine runs on its virtual time
    expire = _next_0800_utc(s.gateway.venue.now_ms()) if tif == GTD else None
    label = p.str("label")
    command = PlaceOrder(
        account=account, instrument=spec.name, side=side, amount=lots, price=ticks,
        type=order_type, tif=tif, post_only=p.bool("post_only"),
        reject_post_only=p.bool("reject_post_only"), reduce_only=p.bool("reduce_only"),
        label=label or None, expire_ts=expire,
    )
    events = s.gateway.execute(command)
    first = _check(events)
    assert type(first) is OrderAccepted
    return _order_result(s, events, first.order_id, account)


@method("private/buy", matching=True)
def buy(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    return _place(s, p, account, BUY)


@method("private/sell", matching=True)
def sell(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    return _place(s, p, account, SELL)


@method("private/edit", matching=True)
def edit(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    order_id = _order_id(p)
    amount = p.decimal("amount")
    price = p.decimal("price")
    rec = s.gateway.venue.order(order_id)
    if rec is None or rec.account != account or rec.state != "open":
        # Let the engine answer: a foreign order reads exactly like a closed or unknown one.
        _check(s.gateway.execute(AmendOrder(account=account, order_id=order_id, amount=1)))
        raise AssertionError("engine accepted an amend of a foreign order")
    spec = s.gateway.venue.engine.registry.by_name[rec.instrument]
    command = AmendOrder(
        account=account, order_id=order_id,
        amount=_lots(spec, amount) if amount is not None else None,
        price=_ticks(spec, price) if price is not None else None,
    )
    events = s.gateway.execute(command)
    _check(events)
    return _order_result(s, events, order_id, account)


@method("private/cancel", matching=True)
def cancel(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    order_id = _order_id(p)
    events = s.gateway.execute(CancelOrder(account=account, order_id=order_id))
    _check(events)
    rec = s.gateway.venue.order(order_id)
    assert rec is not None
    return formats.order(rec, s.gateway.venue.engine.registry.by_name[rec.instrument])


@method("private/cancel_all", matching=True)
def cancel_all(s: Session, p: Params, account: int | None) -> int:
    assert account is not None
    events = s.gateway.execute(CancelAll(account=account))
    _check(events)
    return _cancelled(events, account)


@method("private/cancel_all_by_instrument", matching=True)
def cancel_all_by_instrument(s: Session, p: Params, account: int | None) -> int:
    assert account is not None
    spec = _spec(s, p)
    events = s.gateway.execute(CancelAll(account=account, instrument=spec.name))
    _check(events)
    return _cancelled(events, account)


@method("private/cancel_all_by_currency", matching=True)
def cancel_all_by_currency(s: Session, p: Params, account: int | None) -> int:
    assert account is not None
    currency = _currency_ok(s, p.req_str("currency"))
    kind = p.str("kind", "any")
    count = 0
    for spec in list(s.gateway.venue.engine.registry):
        if _matches_currency(spec, currency) and kind in ("any", spec.kind):
            events = s.gateway.execute(CancelAll(account=account, instrument=spec.name))
            count += _cancelled(events, account)
    return count


@method("private/cancel_by_label", matching=True)
def cancel_by_label(s: Session, p: Params, account: int | None) -> int:
    assert account is not None
    label = p.req_str("label")
    _currency_ok(s, p.str("currency"))
    events = s.gateway.execute(CancelAll(account=account, label=label))
    _check(events)
    return _cancelled(events, account)


def _type_ok(rec_type: str, wanted: str | None) -> bool:
    return wanted in (None, "all") or wanted == rec_type


@method("private/get_open_orders_by_instrument")
def get_open_orders_by_instrument(s: Session, p: Params, account: int | None
                                  ) -> list[dict[str, Any]]:
    assert account is not None
    spec = _spec(s, p)
    wanted = p.str("type")
    return [formats.order(r, spec) for r in s.gateway.venue.open_orders(account)
            if r.instrument == spec.name and _type_ok(r.order_type, wanted)]


@method("private/get_open_orders")
def get_open_orders(s: Session, p: Params, account: int | None) -> list[dict[str, Any]]:
    assert account is not None
    kind = p.str("kind", "any")
    wanted = p.str("type")
    registry = s.gateway.venue.engine.registry.by_name
    out = []
    for rec in s.gateway.venue.open_orders(account):
        spec = registry[rec.instrument]
        if kind in ("any", spec.kind) and _type_ok(rec.order_type, wanted):
            out.append(formats.order(rec, spec))
    return out


@method("private/get_open_orders_by_currency")
def get_open_orders_by_currency(s: Session, p: Params, account: int | None
                                ) -> list[dict[str, Any]]:
    assert account is not None
    currency = _currency_ok(s, p.req_str("currency"))
    registry = s.gateway.venue.engine.registry.by_name
    return [formats.order(r, registry[r.instrument]) for r in s.gateway.venue.open_orders(account)
            if _matches_currency(registry[r.instrument], currency)]


@method("private/get_order_state")
def get_order_state(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    order_id = _order_id(p)
    rec = s.gateway.venue.order(order_id)
    if rec is None or rec.account != account:
        raise RpcError(Code.ORDER_NOT_FOUND, "order_not_found", "order_id")
    return formats.order(rec, s.gateway.venue.engine.registry.by_name[rec.instrument])


@method("private/get_user_trades_by_instrument")
def get_user_trades_by_instrument(s: Session, p: Params, account: int | None
                                  ) -> dict[str, Any]:
    assert account is not None
    spec = _spec(s, p)
    venue = s.gateway.venue
    mine = [u for u in venue.user_trades.get(account, ()) if u.trade.instrument == spec.name]
    result = _page(mine, p, lambda u: u.trade_seq, lambda u: u.trade.ts // 1_000_000)
    return {"trades": [formats.user_trade(u, spec, venue) for u in result["page"]],
            "has_more": result["has_more"]}


# -- private: account ------------------------------------------------------------------------
def _summary(s: Session, account: int, currency: str, extended: bool) -> dict[str, Any]:
    out = formats.account_summary(s.gateway.venue, account, currency)
    cfg = s.gateway.accounts.get(account)
    if extended:
        name = (cfg.name if cfg and cfg.name else None) or f"account{account}"
        out.update({"id": account, "username": name, "system_name": name, "type": "main",
                    "email": "", "interuser_transfers_enabled": False,
                    "security_keys_enabled": False, "mmp_enabled": False,
                    "self_trading_reject_mode": "cancel_taker"})
    return out


@method("private/get_account_summary")
def get_account_summary(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    currency = p.req_str("currency")
    if currency not in s.gateway.venue.engine.registry.assets:
        raise invalid_params("currency", f"unknown currency {currency[:20]}")
    return _summary(s, account, currency, p.bool("extended"))


@method("private/get_account_summaries")
def get_account_summaries(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    cfg = s.gateway.accounts.get(account)
    name = (cfg.name if cfg and cfg.name else None) or f"account{account}"
    summaries = [_summary(s, account, c, False)
                 for c in sorted(s.gateway.venue.engine.registry.assets)]
    return {"id": account, "username": name, "system_name": name, "type": "main",
            "summaries": summaries}


@method("private/get_positions")
def get_positions(s: Session, p: Params, account: int | None) -> list[dict[str, Any]]:
    assert account is not None
    currency = _currency_ok(s, p.str("currency"))
    kind = p.str("kind", "future")
    venue = s.gateway.venue
    acct = venue.engine.accounts.get(account)
    if acct is None:
        return []
    out = []
    for name in acct.positions:
        spec = venue.engine.registry.by_name[name]
        if _matches_currency(spec, currency) and kind in ("any", spec.kind):
            out.append(formats.position(venue, spec, account))
    return out


@method("private/get_position")
def get_position(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    spec = _spec(s, p)
    if spec.kind != "future":
        raise invalid_params("instrument_name", f"{spec.name} is not a future")
    venue = s.gateway.venue
    if account not in venue.engine.accounts:
        raise invalid_params("instrument_name", "no position")
    return formats.position(venue, spec, account)


# -- private: connection ---------------------------------------------------------------------
def _scope(p: Params) -> str:
    scope = p.str("scope", "connection", choices=("connection", "account"))
    assert scope is not None
    return scope


@method("private/enable_cancel_on_disconnect", ws_only=True)
def enable_cod(s: Session, p: Params, account: int | None) -> str:
    assert account is not None
    if _scope(p) == "account":
        s.gateway.cod_accounts.add(account)
    else:
        s.cod = True
    return "ok"


@method("private/disable_cancel_on_disconnect", ws_only=True)
def disable_cod(s: Session, p: Params, account: int | None) -> str:
    assert account is not None
    if _scope(p) == "account":
        s.gateway.cod_accounts.discard(account)
    else:
        s.cod = False
    return "ok"


@method("private/get_cancel_on_disconnect", ws_only=True)
def get_cod(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    scope = _scope(p)
    enabled = account in s.gateway.cod_accounts if scope == "account" else s.cod
    return {"scope": scope, "enabled": enabled}


@method("private/logout", ws_only=True)
def logout(s: Session, p: Params, account: int | None) -> str:
    assert account is not None
    if p.bool("invalidate_token", True):
        s.gateway.auth.revoke_account_tokens(account)
    s.close_after = (1000, "logout")
    return "ok"

