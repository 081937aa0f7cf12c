"""Every public and private method over a real websocket, with Deribit's result shapes."""

from __future__ import annotations

import pytest
from test_gateway_support import SPOT, Env, env_fixture  # noqa: F401

from exchange.core.instruments import default_instruments

FUTURE = default_instruments()[3].name


async def test_public_basics(env: Env) -> None:
    c = await env.rpc()
    now = await c.result("public/get_time")
    assert isinstance(now, int) and now > 1_600_000_000_000
    assert (await c.result("public/test"))["version"]
    err = await c.error("public/test", {"expected_result": "exception"})
    assert err["code"] == 10001
    assert (await c.result("public/hello", {"client_name": "t", "client_version": "1"}))
    assert (await c.result("public/status"))["locked"] == "false"


async def test_currencies_and_instruments(env: Env) -> None:
    c = await env.rpc()
    currencies = {x["currency"] for x in await c.result("public/get_currencies")}
    assert currencies == {"USD", "GPUH", "KWH", "CCT"}
    every = await c.result("public/get_instruments")
    names = [i["instrument_name"] for i in every]
    assert SPOT in names and FUTURE in names
    spot = next(i for i in every if i["instrument_name"] == SPOT)
    assert spot["kind"] == "spot" and spot["tick_size"] == 0.001
    assert spot["base_currency"] == "GPUH" and spot["counter_currency"] == "USD"
    fut = next(i for i in every if i["instrument_name"] == FUTURE)
    assert fut["kind"] == "future" and fut["settlement_period"] == "month"
    assert fut["settlement_currency"] == "USD" and fut["expiration_timestamp"] > 0
    futures = await c.result("public/get_instruments", {"currency": "GPUH", "kind": "future"})
    assert futures and all(i["kind"] == "future" for i in futures)
    kwh = await c.result("public/get_instruments", {"currency": "KWH"})
    assert [i["instrument_name"] for i in kwh] == ["KWH_USD"]
    assert await c.result("public/get_instruments", {"expired": True}) == []
    err = await c.error("public/get_instruments", {"currency": "DOGE"})
    assert err["code"] == -32602 and err["data"]["param"] == "currency"
    one = await c.result("public/get_instrument", {"instrument_name": SPOT})
    assert one["instrument_name"] == SPOT


async def test_trading_flow(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    ask = await a.result("private/sell", {"instrument_name": SPOT, "amount": 10,
                                          "price": 2.5, "label": "ask-1"})
    order = ask["order"]
    assert order["order_state"] == "open" and order["direction"] == "sell"
    assert order["price"] == 2.5 and order["amount"] == 10 and order["label"] == "ask-1"
    assert isinstance(order["order_id"], str) and ask["trades"] == []
    book = await a.result("public/get_order_book", {"instrument_name": SPOT})
    assert book["asks"] == [[2.5, 10]] and book["bids"] == []
    assert book["best_ask_price"] == 2.5 and book["change_id"] >= 1

    hit = await b.result("private/buy", {"instrument_name": SPOT, "amount": 4, "price": 2.6})
    assert hit["order"]["order_state"] == "filled"
    assert hit["order"]["filled_amount"] == 4 and hit["order"]["average_price"] == 2.5
    assert len(hit["trades"]) == 1
    t = hit["trades"][0]
    assert t["liquidity"] == "T" and t["direction"] == "buy" and t["price"] == 2.5

    state = await a.result("private/get_order_state", {"order_id": order["order_id"]})
    assert state["filled_amount"] == 4 and state["order_state"] == "open"
    mine = await a.result("private/get_user_trades_by_instrument", {"instrument_name": SPOT})
    assert [x["liquidity"] for x in mine["trades"]] == ["M"] and not mine["has_more"]
    last = await b.result("public/get_last_trades_by_instrument", {"instrument_name": SPOT})
    assert last["trades"][0]["amount"] == 4 and last["trades"][0]["direction"] == "buy"
    tick = await b.result("public/ticker", {"instrument_name": SPOT})
    assert tick["last_price"] == 2.5 and tick["best_ask_amount"] == 6
    assert tick["stats"]["volume"] == 4

    edited = await a.result("private/edit", {"order_id": order["order_id"], "amount": 8,
                                             "price": 2.7})
    assert edited["order"]["price"] == 2.7 and edited["order"]["amount"] == 8
    assert edited["order"]["replaced"] is True
    opened = await a.result("private/get_open_orders_by_instrument", {"instrument_name": SPOT})
    assert [o["order_id"] for o in opened] == [order["order_id"]]
    assert [o["order_id"] for o in await a.result("private/get_open_orders")] == \
        [order["order_id"]]
    assert await a.result("private/get_open_orders_by_currency", {"currency": "GPUH"})

    cancelled = await a.result("private/cancel", {"order_id": order["order_id"]})
    assert cancelled["order_state"] == "cancelled"
    assert cancelled["cancel_reason"] == "user_request"
    closed = await a.result("private/get_order_state", {"order_id": order["order_id"]})
    assert closed["order_state"] == "cancelled" and closed["filled_amount"] == 4
    err = await a.error("private/cancel", {"order_id": order["order_id"]})
    assert err["code"] == 11044


async def test_cancel_variants(env: Env) -> None:
    a = await env.rpc("alice")
    for i in range(3):
        await a.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                       "price": 1 + i / 100, "label": f"q{i}"})
    await a.result("private/buy", {"instrument_name": "CCT_USD", "amount": 1, "price": 0.5})
    assert await a.result("private/cancel_by_label", {"label": "q0"}) == 1
    assert await a.result("private/cancel_all_by_instrument", {"instrument_name": SPOT}) == 2
    assert await a.result("private/cancel_all_by_currency", {"currency": "CCT"}) == 1
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    assert await a.result("private/cancel_all") == 1
    assert await a.result("private/get_open_orders") == []


async def test_time_in_force_and_market(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    await a.result("private/sell", {"instrument_name": SPOT, "amount": 2, "price": 3})
    ioc = await b.result("private/buy", {"instrument_name": SPOT, "amount": 5, "price": 3,
                                         "time_in_force": "immediate_or_cancel"})
    assert ioc["order"]["order_state"] == "cancelled" and ioc["order"]["filled_amount"] == 2
    assert ioc["order"]["time_in_force"] == "immediate_or_cancel"
    err = await b.error("private/buy", {"instrument_name": SPOT, "amount": 1, "type": "market"})
    assert err["code"] == 11030 and err["data"]["reason"] == "no_liquidity"
    await a.result("private/sell", {"instrument_name": SPOT, "amount": 2, "price": 3})
    mkt = await b.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                         "type": "market"})
    assert mkt["order"]["order_state"] == "filled" and mkt["order"]["price"] == "market_price"
    gtd = await b.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1,
                                         "time_in_force": "good_til_day"})
    assert gtd["order"]["time_in_force"] == "good_til_day"
    fok = await b.result("private/buy", {"instrument_name": SPOT, "amount": 9, "price": 3,
                                         "time_in_force": "fill_or_kill"})
    assert fok["order"]["order_state"] == "cancelled" and fok["order"]["filled_amount"] == 0


async def test_account_summary_and_positions(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    usd = await a.result("private/get_account_summary", {"currency": "USD"})
    assert usd["currency"] == "USD" and usd["balance"] == 100000 and usd["equity"] == 100000
    gpuh = await a.result("private/get_account_summary", {"currency": "GPUH",
                                                          "extended": True})
    assert gpuh["balance"] == 1000 and gpuh["username"] == "alice"
    err = await a.error("private/get_account_summary", {"currency": "XYZ"})
    assert err["code"] == -32602
    summaries = await a.result("private/get_account_summaries")
    assert {s["currency"] for s in summaries["summaries"]} == {"USD", "GPUH", "KWH", "CCT"}

    await a.result("private/sell", {"instrument_name": FUTURE, "amount": 10, "price": 2})
    await b.result("private/buy", {"instrument_name": FUTURE, "amount": 10, "price": 2})
    positions = await b.result("private/get_positions", {"currency": "GPUH",
                                                         "kind": "future"})
    assert len(positions) == 1
    pos = positions[0]
    assert pos["instrument_name"] == FUTURE and pos["size"] == 10
    assert pos["direction"] == "buy" and pos["average_price"] == 2
    short = await a.result("private/get_position", {"instrument_name": FUTURE})
    assert short["size"] == -10 and short["direction"] == "sell"
    assert await a.result("private/get_positions", {"currency": "KWH"}) == []
    summary = await b.result("private/get_account_summary", {"currency": "USD"})
    assert summary["initial_margin"] > 0


async def test_cancel_on_disconnect_settings(env: Env) -> None:
    a = await env.rpc("alice")
    assert await a.result("private/get_cancel_on_disconnect") == \
        {"scope": "connection", "enabled": False}
    assert await a.result("private/enable_cancel_on_disconnect") == "ok"
    assert (await a.result("private/get_cancel_on_disconnect"))["enabled"] is True
    await a.result("private/enable_cancel_on_disconnect", {"scope": "account"})
    assert (await a.result("private/get_cancel_on_disconnect",
                           {"scope": "account"}))["enabled"] is True
    await a.result("private/disable_cancel_on_disconnect", {"scope": "account"})
    await a.result("private/disable_cancel_on_disconnect")
    assert (await a.result("private/get_cancel_on_disconnect"))["enabled"] is False


@pytest.mark.parametrize("method", ["public/set_heartbeat", "public/disable_heartbeat"])
async def test_heartbeat_methods_answer(env: Env, method: str) -> None:
    c = await env.rpc()
    assert await c.result(method, {"interval": 10}) == "ok"


async def test_subscribe_unsubscribe_results(env: Env) -> None:
    c = await env.rpc("alice")
    channels = [f"book.{SPOT}.raw", f"trades.{SPOT}.100ms", f"ticker.{SPOT}.raw",
                "user.orders.any.any.raw", f"user.trades.{SPOT}.raw", "user.portfolio.doge"]
    err = await c.error("private/subscribe", {"channels": channels})
    assert err["code"] == -32602 and "doge" in err["data"]["reason"]
    assert await c.result("private/get_open_orders") == []  # nothing was subscribed
    channels[-1] = "user.portfolio.usd"  # Deribit spells currencies in lower case here
    assert await c.result("private/subscribe", {"channels": channels}) == channels
    assert await c.result("public/unsubscribe", {"channels": channels[:2]}) == channels[:2]
    assert await c.result("private/unsubscribe", {"channels": ["nope"]}) == []
    assert await c.result("public/unsubscribe_all") == "ok"
    for bad in ([f"book.{SPOT}.1s"], ["book.NOPE.raw"], [f"book.{SPOT}.3.10.100ms"], [5]):
        err = await c.error("public/subscribe", {"channels": bad})
        assert err["code"] == -32602


async def test_logout_closes(env: Env) -> None:
    c = await env.rpc("alice")
    answer = await c.call("private/logout")
    assert answer["result"] == "ok"
    await c.reader  # the server closed the connection
    assert c.ws.close_code == 1000


async def test_summaries_and_history(env: Env) -> None:
    a = await env.rpc("alice")
    b = await env.rpc("bob")
    ask = await a.result("private/sell", {"instrument_name": SPOT, "amount": 3, "price": 2.5})
    await b.result("private/buy", {"instrument_name": SPOT, "amount": 2, "price": 2.5})
    await a.result("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 2.0})
    oid = ask["order"]["order_id"]

    [summary] = await a.result("public/get_book_summary_by_instrument",
                               {"instrument_name": SPOT})
    assert summary["bid_price"] == 2.0 and summary["ask_price"] == 2.5
    assert summary["mid_price"] == 2.25 and summary["last"] == 2.5 and summary["volume"] == 2
    spots = await a.result("public/get_book_summary_by_currency",
                           {"currency": "GPUH", "kind": "spot"})
    assert [x["instrument_name"] for x in spots] == [SPOT]
    index = await a.result("public/get_index_price", {"index_name": "gpuh_usd"})
    assert index["index_price"] == 2.5
    assert (await a.error("public/get_index_price", {"index_name": "btc_usd"}))["code"] == \
        -32602
    timed = await a.result("public/get_last_trades_by_instrument_and_time",
                           {"instrument_name": SPOT, "start_timestamp": 0,
                            "end_timestamp": 2**42, "sorting": "asc"})
    assert [t["amount"] for t in timed["trades"]] == [2]

    by_order = await a.result("private/get_user_trades_by_order", {"order_id": oid})
    assert [t["amount"] for t in by_order] == [2]
    assert (await b.error("private/get_user_trades_by_order", {"order_id": oid}))["code"] == \
        10004
    by_currency = await b.result("private/get_user_trades_by_currency", {"currency": "GPUH"})
    assert [t["direction"] for t in by_currency["trades"]] == ["buy"]
    timed = await b.result("private/get_user_trades_by_instrument_and_time",
                           {"instrument_name": SPOT, "start_timestamp": 0,
                            "end_timestamp": 2**42})
    assert len(timed["trades"]) == 1

    await a.result("private/cancel", {"order_id": oid})
    history = await a.result("private/get_order_history_by_instrument",
                             {"instrument_name": SPOT})
    assert [o["order_id"] for o in history] == [oid]
    assert await b.result("private/get_order_history_by_currency", {"currency": "GPUH"}) != []
    assert oid not in [o["order_id"] for o in
                       await b.result("private/get_order_history_by_currency",
                                      {"currency": "GPUH"})]
