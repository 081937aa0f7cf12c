"""Typed results of the Deribit v2 API, as the SDK returns them.

Decoded with ``msgspec.convert`` from the JSON results; unknown fields are ignored so the SDK
keeps working when the server adds fields. Prices and amounts are ``Decimal`` (the SDK decodes
JSON numbers exactly).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Order(msgspec.Struct, kw_only=True):
    order_id: str
    instrument_name: str
    direction: str
    order_type: str
    order_state: str
    price: Decimal | None  # None for market orders (Deribit sends "market_price")
    amount: Decimal
    filled_amount: Decimal
    average_price: Decimal = Decimal(0)
    label: str = ""
    time_in_force: str = "good_til_cancelled"
    post_only: bool = False
    reduce_only: bool = False
    creation_timestamp: int = 0
    last_update_timestamp: int = 0
    cancel_reason: str | None = None


class UserTrade(msgspec.Struct, kw_only=True):
    trade_id: str
    trade_seq: int
    instrument_name: str
    order_id: str
    direction: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    liquidity: str
    timestamp: int


class OrderResult(msgspec.Struct, kw_only=True):
    order: Order
    trades: list[UserTrade] = []


class PublicTrade(msgspec.Struct, kw_only=True):
    trade_id: str
    trade_seq: int
    instrument_name: str
    direction: str
    price: Decimal
    amount: Decimal
    timestamp: int


class AccountSummary(msgspec.Struct, kw_only=True):
    currency: str
    balance: Decimal
    equity: Decimal
    available_funds: Decimal
    initial_margin: Decimal = Decimal(0)
    maintenance_margin: Decimal = Decimal(0)


class Position(msgspec.Struct, kw_only=True):
    instrument_name: str
    size: Decimal
    direction: str
    average_price: Decimal
    floating_profit_loss: Decimal
    realized_profit_loss: Decimal
    mark_price: Decimal | None = None


class OrderBook(msgspec.Struct, kw_only=True):
    instrument_name: str
    change_id: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    timestamp: int
    best_bid_price: Decimal | None = None
    best_ask_price: Decimal | None = None
    last_price: Decimal | None = None
    mark_price: Decimal | None = None


class Instrument(msgspec.Struct, kw_only=True):
    instrument_name: str
    kind: str
    base_currency: str
    quote_currency: str
    tick_size: Decimal
    min_trade_amount: Decimal
    contract_size: Decimal
    expiration_timestamp: int
    is_active: bool = True
