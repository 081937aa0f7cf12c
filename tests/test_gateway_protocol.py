"""Bad input gets a clear error and loses nothing: malformed JSON, wrong types, unknown
methods, NaN/negative/off-tick values and oversized frames, over a real socket."""

from __future__ import annotations

from test_gateway_support import SPOT, Env, env_fixture  # noqa: F401


async def _with_resting_order(env: Env):
    c = await env.rpc("alice")
    await c.result("public/subscribe", {"channels": [f"book.{SPOT}.raw"]})
    await c.note(f"book.{SPOT}.raw")  # snapshot
    placed = await c.result("private/sell", {"instrument_name": SPOT, "amount": 5,
                                             "price": 3.0})
    await c.note(f"book.{SPOT}.raw")
    return c, placed["order"]["order_id"]


async def _still_intact(c, order_id: str) -> None:
    state = await c.result("private/get_order_state", {"order_id": order_id})
    assert state["order_state"] == "open"
    placed = await c.result("private/sell", {"instrument_name": SPOT, "amount": 1,
                                             "price": 3.5})
    note = await c.note(f"book.{SPOT}.raw")  # the subscription survived
    assert note["params"]["data"]["asks"] == [["new", 3.5, 1]]
    await c.result("private/cancel", {"order_id": placed["order"]["order_id"]})


async def test_malformed_json_is_parse_error(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    for junk in ("{not json", "", "[1,2", '{"id": 1, "method": NaN}', "\x00\x01",
                 b"\xff\xfe{", b'{"id": 1e999999}'):
        await c.send_raw(junk)
        answer = await c.orphan()
        assert answer["error"]["code"] == -32700
        assert answer["id"] is None
        assert answer["error"]["data"]["reason"]
    await _still_intact(c, order_id)


async def test_invalid_requests(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    cases = ['[{"id":1,"method":"public/test"}]', '"hello"', "42", '{"id":7}',
             '{"id":8,"method":5}', '{"id":[1],"method":"public/test"}']
    for raw in cases:
        await c.send_raw(raw)
        answer = await c.orphan()
        assert answer["error"]["code"] == -32600, raw
        assert answer["error"]["data"]["reason"]
    await _still_intact(c, order_id)


async def test_unknown_method(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    for name in ("public/nope", "private/buyy", "buy", "public/buy"):
        err = await c.error(name, {})
        assert err["code"] == -32601
        assert err["message"] == "Method not found"
    await _still_intact(c, order_id)


async def test_wrong_params(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    bad = [
        ({"instrument_name": SPOT, "amount": "lots", "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": -1, "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": 0, "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": "NaN", "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": "Infinity", "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": True, "price": 1}, "amount"),
        ({"instrument_name": SPOT, "amount": 1, "price": -2}, "price"),
        ({"instrument_name": SPOT, "amount": 1, "price": "nan"}, "price"),
        ({"instrument_name": SPOT, "amount": 1}, "price"),
        ({"instrument_name": 12.5, "amount": 1, "price": 1}, "instrument_name"),
        ({"instrument_name": "BTC-PERPETUAL", "amount": 1, "price": 1}, "instrument_name"),
        ({"amount": 1, "price": 1}, "instrument_name"),
        ({"instrument_name": SPOT, "amount": 1, "price": 1, "post_only": "maybe"}, "post_only"),
        ({"instrument_name": SPOT, "amount": 1, "price": 1, "type": "stop_limit"}, "type"),
        ({"instrument_name": SPOT, "amount": 1, "price": 1, "time_in_force": "forever"},
         "time_in_force"),
    ]
    for params, param in bad:
        err = await c.error("private/buy", params)
        assert err["code"] == -32602, params
        assert err["data"]["param"] == param, params
        assert err["data"]["reason"], params
    err = await c.error("private/buy", [1, 2])  # type: ignore[arg-type]
    assert err["code"] == -32602
    err = await c.error("public/get_order_book", {"instrument_name": SPOT, "depth": "x"})
    assert err["code"] == -32602 and err["data"]["param"] == "depth"
    await _still_intact(c, order_id)


async def test_off_tick_and_off_lot(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    err = await c.error("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1.0005})
    assert err["code"] == 10043 and err["message"] == "price_wrong_tick"
    assert "tick size" in err["data"]["reason"]
    err = await c.error("private/buy", {"instrument_name": SPOT, "amount": 1.5, "price": 1})
    assert err["code"] == 10021 and err["data"]["param"] == "amount"
    await _still_intact(c, order_id)


async def test_engine_rejections_carry_reason(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    err = await c.error("private/buy", {"instrument_name": SPOT, "amount": 10**9,
                                        "price": 100})
    assert err["code"] == 10009 and err["message"] == "not_enough_funds"
    assert err["data"]["reason"] == "not_enough_funds"
    err = await c.error("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 3.1,
                                        "post_only": True, "reject_post_only": True})
    assert err["code"] == 11054 and err["data"]["reason"] == "post_only_would_cross"
    await _still_intact(c, order_id)


async def test_oversized_frame_answered_and_connection_kept(env: Env) -> None:
    c, order_id = await _with_resting_order(env)
    big = '{"id":1,"method":"public/test","params":{"pad":"' + "x" * 40_000 + '"}}'
    await c.send_raw(big)
    answer = await c.orphan()
    assert answer["error"]["code"] == -32600
    assert "exceeds" in answer["error"]["data"]["reason"]
    await _still_intact(c, order_id)


async def test_binary_frames_are_accepted(env: Env) -> None:
    c = await env.rpc()
    await c.send_raw(b'{"jsonrpc":"2.0","id":"abc","method":"public/test"}')
    answer = await c.orphan()  # string ids are echoed as given
    assert answer["id"] == "abc" and answer["result"]["version"]
    assert answer["usOut"] >= answer["usIn"]


async def test_private_method_without_auth(env: Env) -> None:
    c = await env.rpc()
    err = await c.error("private/buy", {"instrument_name": SPOT, "amount": 1, "price": 1})
    assert err["code"] == 13009 and err["message"] == "unauthorized"
    err = await c.error("public/subscribe", {"channels": ["user.orders.any.any.raw"]})
    assert err["code"] == 13009
    assert (await c.result("public/test"))["version"]
