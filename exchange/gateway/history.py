"""Summaries and history methods: book summaries, index prices, past trades and orders.

Not on the minimal list but what Deribit clients call for ``fetch_tickers``,
``fetch_my_trades`` without a symbol, ``fetch_closed_orders`` and friends.
"""

from __future__ import annotations

from typing import Any

from exchange.core import Code

from . import formats
from .errors import RpcError, invalid_params
from .methods import _currency_ok, _matches_currency, _order_id, _page, _spec
from .params import Params
from .protocol import Session, method


def _summary(s: Session, name: str) -> dict[str, Any]:
    venue = s.gateway.venue
    spec = venue.engine.registry.by_name[name]
    t = formats.ticker(venue, spec)
    bid, ask = t["best_bid_price"], t["best_ask_price"]
    return {
        "instrument_name": name,
        "base_currency": spec.base,
        "quote_currency": spec.quote,
        "bid_price": bid,
        "ask_price": ask,
        "mid_price": (bid + ask) / 2 if bid is not None and ask is not None else None,
        "last": t["last_price"],
        "mark_price": t["mark_price"],
        "estimated_delivery_price": t["estimated_delivery_price"],
        "high": t["stats"]["high"],
        "low": t["stats"]["low"],
        "price_change": t["stats"]["price_change"],
        "volume": t["stats"]["volume"],
        "open_interest": t["open_interest"],
        "creation_timestamp": t["timestamp"],
    }


@method("public/get_book_summary_by_instrument")
def book_summary_by_instrument(s: Session, p: Params, account: int | None
                               ) -> list[dict[str, Any]]:
    return [_summary(s, _spec(s, p).name)]


@method("public/get_book_summary_by_currency")
def book_summary_by_currency(s: Session, p: Params, account: int | None
                             ) -> list[dict[str, Any]]:
    currency = _currency_ok(s, p.req_str("currency"))
    kind = p.str("kind", "any")
    return [_summary(s, spec.name) for spec in s.gateway.venue.engine.registry
            if _matches_currency(spec, currency) and kind in ("any", spec.kind)]


@method("public/get_index_price")
def index_price(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    """Index names are the spot instrument names in lower case (``gpuh_usd``)."""
    name = p.req_str("index_name")
    venue = s.gateway.venue
    spec = venue.spec(name.upper())
    if spec is None or spec.kind != "spot":
        raise invalid_params("index_name", f"unknown index {name[:40]}")
    mark = venue.engine.mark_price(spec.name)
    price = spec.ticks_to_price(mark) if mark is not None else None
    return {"index_price": price, "estimated_delivery_price": price}


@method("public/get_last_trades_by_instrument_and_time")
def last_trades_and_time(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    spec = _spec(s, p)
    venue = s.gateway.venue
    trades = list(venue.public_trades.get(spec.name, ()))
    result = _page(trades, p, lambda t: t.trade_seq, lambda t: t.trade.ts // 1_000_000)
    return {"trades": [formats.public_trade(t, spec, venue) for t in result["page"]],
            "has_more": result["has_more"]}


def _user_trades(s: Session, p: Params, account: int, keep: Any) -> dict[str, Any]:
    venue = s.gateway.venue
    registry = venue.engine.registry.by_name
    mine = [u for u in venue.user_trades.get(account, ()) if keep(u)]
    result = _page(mine, p, lambda u: u.trade_seq, lambda u: u.trade.ts // 1_000_000)
    return {"trades": [formats.user_trade(u, registry[u.trade.instrument], venue)
                       for u in result["page"]],
            "has_more": result["has_more"]}


@method("private/get_user_trades_by_instrument_and_time")
def user_trades_instrument_time(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    name = _spec(s, p).name
    return _user_trades(s, p, account, lambda u: u.trade.instrument == name)


@method("private/get_user_trades_by_currency", "private/get_user_trades_by_currency_and_time")
def user_trades_currency(s: Session, p: Params, account: int | None) -> dict[str, Any]:
    assert account is not None
    currency = _currency_ok(s, p.req_str("currency"))
    kind = p.str("kind", "any")
    registry = s.gateway.venue.engine.registry.by_name

    def keep(u: Any) -> bool:
        spec = registry[u.trade.instrument]
        return _matches_currency(spec, currency) and kind in ("any", spec.kind)

    return _user_trades(s, p, account, keep)


@method("private/get_user_trades_by_order")
def user_trades_by_order(s: Session, p: Params, account: int | None) -> list[dict[str, Any]]:
    assert account is not None
    order_id = _order_id(p)
    rec = s.gateway.venue.order(order_id)
    if rec is None or rec.account != account:
        raise RpcError(Code.ORDER_NOT_FOUND, "order_not_found", "order_id")
    venue = s.gateway.venue
    spec = venue.engine.registry.by_name[rec.instrument]
    trades = [u for u in venue.user_trades.get(account, ()) if u.order_id == order_id]
    if p.str("sorting", "asc", choices=("asc", "desc", "default")) == "desc":
        trades.reverse()
    return [formats.user_trade(u, spec, venue) for u in trades]


def _history(s: Session, p: Params, account: int, keep: Any) -> list[dict[str, Any]]:
    """Closed orders, newest first, as Deribit's order history lists them."""
    count = p.int("count", 20, minimum=1, maximum=10_000)
    offset = p.int("offset", 0, minimum=0)
    assert count is not None and offset is not None
    venue = s.gateway.venue
    registry = venue.engine.registry.by_name
    chosen = [r for r in reversed(venue.closed_records.values())
              if r.account == account and keep(r)]
    return [formats.order(r, registry[r.instrument]) for r in chosen[offset:offset + count]]


@method("private/get_order_history_by_instrument")
def order_history_by_instrument(s: Session, p: Params, account: int | None
                                ) -> list[dict[str, Any]]:
    assert account is not None
    name = _spec(s, p).name
    return _history(s, p, account, lambda r: r.instrument == name)


@method("private/get_order_history_by_currency")
def order_history_by_currency(s: Session, p: Params, account: int | None
                              ) -> list[dict[str, Any]]:
    assert account is not None
    currency = _currency_ok(s, p.req_str("currency"))
    kind = p.str("kind", "any")
    registry = s.gateway.venue.engine.registry.by_name

    def keep(r: Any) -> bool:
        spec = registry[r.instrument]
        return _matches_currency(spec, currency) and kind in ("any", spec.kind)

    return _history(s, p, account, keep)
