"""Deribit v2 result shapes, built from the core's integers.

Prices and amounts leave as ``Decimal`` (encoded as exact JSON numbers), order and trade ids
as strings, timestamps in milliseconds: exactly what Deribit clients parse.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.core import USD, InstrumentSpec
from exchange.core.instruments import FUTURE, USD_SCALE
from exchange.core.messages import BUY, FOK, GTD, IOC, MARKET, Trade

from .venue import OrderRecord, PublicTrade, Stats, UserTrade, Venue

SPOT_EXPIRY_MS = 32503708800000  # what Deribit reports for instruments that never expire
TIF_NAMES = {"gtc": "good_til_cancelled", GTD: "good_til_day", FOK: "fill_or_kill",
             IOC: "immediate_or_cancel"}
ZERO = Decimal(0)


def usd(micros: int) -> Decimal:
    return Decimal(micros) / USD_SCALE


def direction(side: int) -> str:
    return "buy" if side == BUY else "sell"


def instrument(spec: InstrumentSpec, instrument_id: int, active: bool) -> dict[str, Any]:
    is_future = spec.kind == FUTURE
    tick = Decimal(spec.tick_size)
    lot = Decimal(spec.lot_size)
    out: dict[str, Any] = {
        "instrument_name": spec.name,
        "instrument_id": instrument_id,
        "kind": spec.kind,
        "base_currency": spec.base,
        "quote_currency": spec.quote,
        "counter_currency": spec.quote,
        "settlement_currency": spec.quote if is_future else None,
        "price_index": (spec.index or spec.name).lower(),
        "tick_size": tick,
        "tick_size_steps": [],
        "min_trade_amount": lot * spec.min_amount,
        "contract_size": lot,
        "maker_commission": Decimal(spec.maker_fee_ppm) / 1_000_000,
        "taker_commission": Decimal(spec.taker_fee_ppm) / 1_000_000,
        "block_trade_commission": ZERO,
        "block_trade_min_trade_amount": lot * spec.min_amount,
        "block_trade_tick_size": tick,
        "is_active": active,
        "rfq": False,
        "creation_timestamp": 0,
        "expiration_timestamp": spec.expiry_ts // 1_000_000 if spec.expiry_ts else SPOT_EXPIRY_MS,
    }
    if is_future:
        out["settlement_period"] = "month"
        out["future_type"] = "linear"
        out["instrument_type"] = "linear"
        out["max_leverage"] = 10_000 // spec.initial_margin_bps
        out["max_liquidation_commission"] = ZERO
    return out


_UNITS: dict[InstrumentSpec, tuple[Decimal, Decimal]] = {}


def units(spec: InstrumentSpec) -> tuple[Decimal, Decimal]:
    """(tick, lot) as Decimals, parsed once per instrument spec: this runs for every order."""
    pair = _UNITS.get(spec)
    if pair is None:
        pair = _UNITS[spec] = (Decimal(spec.tick_size), Decimal(spec.lot_size))
    return pair


def order(rec: OrderRecord, spec: InstrumentSpec) -> dict[str, Any]:
    tick, lot = units(spec)
    avg = ZERO if not rec.filled else Decimal(rec.filled_notional) / rec.filled * tick
    amount = lot * rec.amount
    out: dict[str, Any] = {
        "order_id": str(rec.order_id),
        "instrument_name": rec.instrument,
        "direction": direction(rec.side),
        "order_type": rec.order_type,
        "order_state": rec.state,
        "time_in_force": TIF_NAMES.get(rec.tif, rec.tif),
        "price": "market_price" if rec.order_type == MARKET else tick * rec.price,
        "amount": amount,
        "filled_amount": lot * rec.filled,
        "average_price": avg,
        "commission": usd(rec.commission),
        "label": rec.label or "",
        "post_only": rec.post_only,
        "reduce_only": rec.reduce_only,
        "creation_timestamp": rec.created_ms,
        "last_update_timestamp": rec.updated_ms,
        "replaced": rec.replaced,
        "is_liquidation": rec.liquidation,
        "api": True,
        "web": False,
        "mmp": False,
        "risk_reducing": False,
        "max_show": amount,
    }
    if rec.cancel_reason is not None:
        out["cancel_reason"] = rec.cancel_reason
    return out


def _mark(venue: Venue, name: str) -> Decimal | None:
    mark = venue.engine.mark_price(name)
    spec = venue.engine.registry.by_name[name]
    return None if mark is None else spec.ticks_to_price(mark)


def public_trade(pt: PublicTrade, spec: InstrumentSpec, venue: Venue) -> dict[str, Any]:
    t: Trade = pt.trade
    out: dict[str, Any] = {
        "trade_seq": pt.trade_seq,
        "trade_id": str(t.trade_id),
        "timestamp": t.ts // 1_000_000,
        "tick_direction": pt.tick_direction,
        "price": spec.ticks_to_price(t.price),
        "mark_price": _mark(venue, t.instrument),
        "index_price": _index(venue, spec),
        "instrument_name": t.instrument,
        "direction": direction(t.aggressor),
        "amount": spec.lots_to_amount(t.amount),
    }
    if t.liquidation:
        out["liquidation"] = "T"
    return out


def user_trade(ut: UserTrade, spec: InstrumentSpec, venue: Venue) -> dict[str, Any]:
    t = ut.trade
    rec = venue.order(ut.order_id)
    return {
        "trade_seq": ut.trade_seq,
        "trade_id": str(t.trade_id),
        "timestamp": t.ts // 1_000_000,
        "tick_direction": ut.tick_direction,
        "state": rec.state if rec is not None else "filled",
        "reduce_only": rec.reduce_only if rec is not None else False,
        "post_only": rec.post_only if rec is not None else False,
        "order_type": rec.order_type if rec is not None else "limit",
        "label": (rec.label or "") if rec is not None else "",
        "price": spec.ticks_to_price(t.price),
        "order_id": str(ut.order_id),
        "matching_id": None,
        "mark_price": _mark(venue, t.instrument),
        "index_price": _index(venue, spec),
        "liquidity": "M" if ut.maker else "T",
        "instrument_name": t.instrument,
        "fee_currency": USD,
        "fee": usd(ut.fee),
        "direction": direction(ut.side),
        "amount": spec.lots_to_amount(t.amount),
        "api": True,
        "self_trade": t.maker_account == t.taker_account,
    }


def _index(venue: Venue, spec: InstrumentSpec) -> Decimal | None:
    name = spec.index or spec.name
    index_spec = venue.engine.registry.by_name.get(name, spec)
    mark = venue.engine.mark_price(name)
    return None if mark is None else index_spec.ticks_to_price(mark)


def _levels(spec: InstrumentSpec, levels: list[tuple[int, int]]) -> list[list[Decimal]]:
    return [[spec.ticks_to_price(p), spec.lots_to_amount(a)] for p, a in levels]


def ticker(venue: Venue, spec: InstrumentSpec) -> dict[str, Any]:
    name = spec.name
    engine = venue.engine
    book = engine.books[name]
    bid = book.depth(BUY, 1)
    ask = book.depth(-BUY, 1)
    stats = venue.stats.get(name) or Stats()
    stats.expire(venue.clock())
    price = spec.ticks_to_price
    last = stats.last
    open_interest = 0
    if spec.kind == FUTURE:
        open_interest = sum(
            engine.accounts[a].positions[name].size
            for a in engine.holders.get(name, ())
            if engine.accounts[a].positions[name].size > 0
        )
    mark = _mark(venue, name)
    band = Decimal(spec.price_band_bps) / 10_000
    return {
        "timestamp": venue.now_ms(),
        "instrument_name": name,
        "state": "closed" if name in engine.settled else "open",
        "best_bid_price": price(bid[0][0]) if bid else None,
        "best_bid_amount": spec.lots_to_amount(bid[0][1]) if bid else ZERO,
        "best_ask_price": price(ask[0][0]) if ask else None,
        "best_ask_amount": spec.lots_to_amount(ask[0][1]) if ask else ZERO,
        "last_price": price(last) if last is not None else None,
        "mark_price": mark,
        "index_price": _index(venue, spec),
        "settlement_price": (price(engine.settled[name]) if name in engine.settled else None),
        "estimated_delivery_price": _index(venue, spec),
        "open_interest": spec.lots_to_amount(open_interest),
        "min_price": (mark * (1 - band)) if mark is not None else None,
        "max_price": (mark * (1 + band)) if mark is not None else None,
        "stats": {
            "volume": spec.lots_to_amount(stats.volume),
            "volume_usd": ZERO,
            "high": price(stats.high) if stats.high is not None else None,
            "low": price(stats.low) if stats.low is not None else None,
            "price_change": (
                (Decimal(stats.last - stats.first) * 100 / stats.first).quantize(Decimal("0.0001"))
                if stats.first else None
            ),
        },
    }


def order_book(venue: Venue, spec: InstrumentSpec, depth: int | None) -> dict[str, Any]:
    out = ticker(venue, spec)
    book = venue.engine.books[spec.name]
    out["bids"] = _levels(spec, book.depth(BUY, depth))
    out["asks"] = _levels(spec, book.depth(-BUY, depth))
    out["change_id"] = venue.engine.change_ids[spec.name]
    return out


def account_summary(venue: Venue, account: int, currency: str) -> dict[str, Any]:
    engine = venue.engine
    acct = engine.accounts.get(account)
    if currency == USD:
        if acct is None:
            cash = reserved = equity = initial = maint = available = upl = rpl = 0
        else:
            cash, reserved = acct.cash, acct.reserved
            equity = engine.equity(acct)
            initial, maint = engine.margin_requirements(acct)
            available = engine.available_margin(acct)
            upl = equity - cash
            rpl = sum(p.realized for p in acct.positions.values())
        free_cash = min(cash - reserved, available)
        return {
            "currency": USD,
            "balance": usd(cash),
            "equity": usd(equity),
            "margin_balance": usd(equity),
            "available_funds": usd(available),
            "available_withdrawal_funds": usd(max(0, free_cash)),
            "initial_margin": usd(initial + reserved),
            "maintenance_margin": usd(maint),
            "projected_initial_margin": usd(initial + reserved),
            "projected_maintenance_margin": usd(maint),
            "spot_reserve": usd(reserved),
            "futures_pl": usd(upl + rpl),
            "futures_session_upl": usd(upl),
            "futures_session_rpl": usd(rpl),
            "session_upl": usd(upl),
            "session_rpl": usd(rpl),
            "total_pl": usd(upl + rpl),
            "delta_total": ZERO,
            "options_pl": ZERO,
            "options_value": ZERO,
            "options_delta": ZERO,
            "options_gamma": ZERO,
            "options_vega": ZERO,
            "options_theta": ZERO,
            "options_session_upl": ZERO,
            "options_session_rpl": ZERO,
            "fee_balance": ZERO,
            "portfolio_margining_enabled": False,
            "cross_collateral_enabled": False,
            "margin_model": "segregated_sm",
        }
    balance = acct.assets.get(currency, 0) if acct else 0
    held = acct.asset_reserved.get(currency, 0) if acct else 0
    spec = next((s for s in engine.registry if s.kind == "spot" and s.base == currency), None)
    conv = spec.lots_to_amount if spec is not None else Decimal
    return {
        "currency": currency,
        "balance": conv(balance),
        "equity": conv(balance),
        "margin_balance": conv(balance),
        "available_funds": conv(balance - held),
        "available_withdrawal_funds": conv(balance - held),
        "initial_margin": ZERO,
        "maintenance_margin": ZERO,
        "projected_initial_margin": ZERO,
        "projected_maintenance_margin": ZERO,
        "spot_reserve": conv(held),
        "futures_pl": ZERO,
        "session_upl": ZERO,
        "session_rpl": ZERO,
        "total_pl": ZERO,
        "delta_total": ZERO,
        "fee_balance": ZERO,
        "portfolio_margining_enabled": False,
        "cross_collateral_enabled": False,
        "margin_model": "segregated_sm",
    }


def position(venue: Venue, spec: InstrumentSpec, account: int) -> dict[str, Any]:
    engine = venue.engine
    pos = engine.accounts[account].positions.get(spec.name)
    size = pos.size if pos else 0
    cost = pos.cost if pos else 0
    realized = pos.realized if pos else 0
    mark_ticks = engine.mark_price(spec.name)
    tick = Decimal(spec.tick_size)
    upl = (size * mark_ticks - cost) * spec.tick_value if (size and mark_ticks) else 0
    notional = abs(size * mark_ticks) * spec.tick_value if (size and mark_ticks) else 0
    return {
        "instrument_name": spec.name,
        "kind": spec.kind,
        "size": spec.lots_to_amount(size),
        "size_currency": spec.lots_to_amount(size),
        "direction": "zero" if size == 0 else direction(1 if size > 0 else -1),
        "average_price": (Decimal(cost) / size * tick) if size else ZERO,
        "mark_price": spec.ticks_to_price(mark_ticks) if mark_ticks else None,
        "index_price": _index(venue, spec),
        "settlement_price": (spec.ticks_to_price(engine.settled[spec.name])
                             if spec.name in engine.settled else None),
        "floating_profit_loss": usd(upl),
        "realized_profit_loss": usd(realized),
        "total_profit_loss": usd(upl + realized),
        "initial_margin": usd(-(-notional * spec.initial_margin_bps // 10_000)),
        "maintenance_margin": usd(-(-notional * spec.maintenance_margin_bps // 10_000)),
        "open_orders_margin": ZERO,
        "leverage": 10_000 // spec.initial_margin_bps,
        "delta": spec.lots_to_amount(size),
    }
