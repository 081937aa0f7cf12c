"""Reject codes: Deribit v2 error codes where one exists, so clients map them unchanged.

Every rejection carries two things: the numeric ``code`` a Deribit client already knows how to
handle (ccxt maps 10009 to InsufficientFunds, 11054 to InvalidOrder, ...) and a precise
``reason`` string that says exactly what was wrong, because one Deribit code often covers
several distinct causes (10043 is the only code for every price-precision problem, 11044 covers
every "that order is not open").
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """Numeric codes, named as Deribit names them."""

    ERROR = 10001
    QTY_TOO_LOW = 10002
    ORDER_OVERLAP = 10003  # self-trade prevention cancelled the taker
    ORDER_NOT_FOUND = 10004
    PRICE_TOO_LOW = 10005
    PRICE_TOO_HIGH = 10007
    NOT_ENOUGH_FUNDS = 10009
    ALREADY_CLOSED = 10010
    INVALID_OR_UNSUPPORTED_INSTRUMENT = 10020
    INVALID_AMOUNT = 10021
    INVALID_PRICE = 10023
    INVALID_ARGS_FOR_INSTRUMENT = 10031
    PRICE_WRONG_TICK = 10043
    INVALID_ARGUMENTS = 11029
    OTHER_REJECT = 11030
    PERMISSION_DENIED = 11042
    BAD_ARGUMENT = 11043
    NOT_OPEN_ORDER = 11044
    UNSUPPORTED_ARG_COMBINATION = 11047
    POST_ONLY_REJECT = 11054
    ORDERBOOK_CLOSED = 13019


class Reason:
    """Precise reason strings carried next to the numeric code.

    Plain string constants (not an Enum) so that events encode as short strings and compare
    cheaply on the hot path.
    """

    UNKNOWN_INSTRUMENT = "unknown_instrument"
    INSTRUMENT_EXPIRED = "instrument_expired"
    INVALID_SIDE = "invalid_side"
    INVALID_AMOUNT = "invalid_amount"
    BELOW_MIN_AMOUNT = "below_min_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    PRICE_TOO_HIGH = "price_too_high"
    BALANCE_LIMIT = "balance_limit"
    INVALID_PRICE = "invalid_price"
    PRICE_WRONG_TICK = "price_wrong_tick"
    MISSING_PRICE = "missing_price"
    INVALID_TIME_IN_FORCE = "invalid_time_in_force"
    INVALID_ORDER_TYPE = "invalid_order_type"
    INVALID_STP_MODE = "invalid_stp_mode"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_LABEL = "invalid_label"
    DUPLICATE_LABEL = "duplicate_label"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    POST_ONLY_NOT_LIMIT = "post_only_requires_resting_limit"
    REDUCE_ONLY_SPOT = "reduce_only_not_for_spot"
    REDUCE_ONLY_NO_POSITION = "reduce_only_would_increase_position"
    NOT_ENOUGH_FUNDS = "not_enough_funds"
    NOT_ENOUGH_ASSET = "not_enough_asset"
    NOT_ENOUGH_MARGIN = "not_enough_margin"
    NO_LIQUIDITY = "no_liquidity"
    NOT_OPEN_ORDER = "not_open_order"
    ORDER_NOT_FOUND = "order_not_found"
    NOTHING_TO_AMEND = "nothing_to_amend"
    AMOUNT_NOT_ABOVE_FILLED = "amount_not_above_filled"
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_COMMAND = "unknown_command"
    USD_NOT_MINTABLE = "usd_not_mintable"
    INVALID_ACCOUNT = "invalid_account"
    DUPLICATE_INSTRUMENT = "duplicate_instrument"
    INVALID_INSTRUMENT_SPEC = "invalid_instrument_spec"
    NOT_A_FUTURE = "not_a_future"
    # A field whose value is not of its declared type (exchange/core/validate.py); fields with a
    # reason of their own (amount, price, side, ...) use that one.
    INVALID_FLAG = "invalid_flag"
    INVALID_ORDER_ID = "invalid_order_id"
    INVALID_FIELD_TYPE = "invalid_field_type"

    # Why an order left the book (carried by OrderUpdated events, not rejections).
    CANCELLED_BY_USER = "user_request"
    IOC_REMAINDER = "ioc_remainder"
    FOK_NOT_FILLED = "fok_not_filled"
    MARKET_REMAINDER = "market_remainder"
    SELF_TRADE = "self_trade_prevention"
    GTD_EXPIRED = "gtd_expired"
    LIQUIDATION = "liquidation"
    REDUCE_ONLY_TRIMMED = "reduce_only_trimmed"
