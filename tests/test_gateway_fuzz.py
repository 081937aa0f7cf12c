"""Random and hostile input never produces an internal error, always gets exactly one answer
with its id, leaves the connection usable and never breaks the engine's invariants.

Random requests (hypothesis), hand-made hostile frames (deeply nested, non-finite and
beyond-64-bit numbers, unknown and missing fields, binary junk, oversized frames) both
sans-I/O and over a live socket, and valid-but-hostile command sequences: on a journaled
gateway (answers held until the commit, recovery reproduces the live state) and pipelined from
several clients over real sockets."""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gateway_support import (  # noqa: F401
    SECRETS,
    SPOT,
    WAIT,
    Env,
    Rpc,
    env_fixture,
    test_config,
)

from exchange.gateway import Gateway, Session
from exchange.gateway.protocol import METHODS

PARAM_NAMES = ["instrument_name", "amount", "price", "type", "time_in_force", "label",
               "post_only", "reduce_only", "order_id", "currency", "kind", "channels",
               "depth", "count", "sorting", "grant_type", "client_id", "client_secret",
               "interval", "scope", "start_seq", "contracts", "reject_post_only"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from([SPOT, "1", "2.5", "-1", "1e400", "NaN", "limit", "market",
                     "good_til_cancelled", "fill_or_kill", "USD", "GPUH", "any", "future",
                     "client_credentials", "alice", f"book.{SPOT}.raw", "0.0001"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(
    st.text(max_size=5), scalars, max_size=2))
requests = st.fixed_dictionaries({
    "method": st.one_of(st.sampled_from(sorted(METHODS)), st.text(max_size=20)),
    "params": st.one_of(st.dictionaries(st.sampled_from(PARAM_NAMES), values, max_size=6),
                        values),
})


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(requests, min_size=1, max_size=8))
def test_random_requests(batch: list[dict]) -> None:
    gateway = Gateway(test_config())
    answers: list[dict] = []
    session = Session(gateway, lambda data: answers.append(json.loads(data)))
    session.receive(json.dumps({"id": 0, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": "alice",
        "client_secret": SECRETS["alice"]}}))
    session.receive(json.dumps({"id": 0, "method": "private/buy", "params": {
        "instrument_name": SPOT, "amount": 2, "price": 1.5}}))
    for i, request in enumerate(batch, start=1):
        answers.clear()
        session.receive(json.dumps({"jsonrpc": "2.0", "id": i, **request}))
        replies = [a for a in answers if "id" in a]
        assert len(replies) == 1, (request, answers)
        reply = replies[0]
        assert reply["id"] == i
        if "error" in reply:
            assert reply["error"]["code"] != -32603, (request, reply)
            assert reply["error"]["data"]["reason"]
            assert SECRETS["alice"] not in json.dumps(reply)
        gateway.venue.engine.check_invariants()
    session.close()
    gateway.venue.engine.check_invariants()


# -- hostile frames ------------------------------------------------------------------------------
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_FRAMES: list[tuple[str | bytes, int | None]] = [
    # (frame, expected error code; None: any non-internal answer)
    ('{"id":1,"method":"public/test","params":{"x":' + _nested(5000) + "}}", -32700),
    ('{"id":1,"method":"public/test","params":' + '{"a":' * 3000 + "1" + "}" * 3001, -32700),
    ('{"id":' + _nested(2000) + ',"method":"public/test"}', -32700),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1e400,'
     '"price":1}}', -32700),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1,'
     '"price":-1e400}}', -32700),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":'
     + "9" * 400 + ',"price":1}}', None),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1,'
     '"price":1e-300}}', None),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1,'
     '"price":1.7976931348623157e308}}', None),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":-0.0,'
     '"price":1}}', -32602),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1,'
     '"price":1,"label":"' + "\u00e9\u0000\u202e" * 20 + '"}}', None),
    ('{"id":1,"method":"private/buy","params":{"instrument_name":"GPUH_USD","amount":1,'
     '"price":"1","unknown_field":{"deep":[1,2,{"x":null}]},"another":true}}', None),
    ('{"id":1,"method":"private/buy","params":{}}', -32602),
    ('{"id":1,"method":"private/edit","params":{"order_id":"1"}}', None),
    ('{"id":1,"method":"private/cancel","params":{"order_id":' + "9" * 100 + "}}", None),
    ('{"id":1,"method":"private/cancel","params":{"order_id":"-1"}}', None),
    ('{"id":1,"method":"public/subscribe","params":{"channels":"book.GPUH_USD.raw"}}', None),
    ('{"id":1,"method":"public/subscribe","params":{"channels":[[["book.GPUH_USD.raw"]]]}}',
     -32602),
    ('{"id":1,"method":"public/test","params":{' + ",".join(f'"k{i}":{i}' for i in range(2000))
     + "}}", None),
    ('{"id":1,"method":"public/get_time","params":{"x":"\\ud800"}}', -32700),
    ('{"id":1,"id":2,"method":"public/test","method":"public/nope"}', -32601),
    ('{"jsonrpc":"1.0","id":1,"method":"public/test"}', None),
    ('{"id":123456789012345678901234567890,"method":"public/test"}', None),
    ('{"id":1.5,"method":"public/test"}', -32600),
    ('{"id":1,"method":"' + "x" * 20000 + '"}', -32601),
    (b'\x00' * 100, -32700),
    (b'{"id":1,"method":"public/test"}\xff', -32700),
    (b'\xef\xbb\xbf{"id":1,"method":"public/test"}', None),
    ("{" * 32000, -32700),
    ('{"id":1,"method":"public/test","params":{"x":"' + "y" * 33000 + '"}}', -32600),
]


def _logged_in() -> tuple[Gateway, Session, list[dict]]:
    gateway = Gateway(test_config())
    answers: list[dict] = []
    session = Session(gateway, lambda data: answers.append(json.loads(data)))
    session.receive(json.dumps({"id": 0, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": "alice",
        "client_secret": SECRETS["alice"]}}))
    return gateway, session, answers


def test_hostile_frames_each_get_one_right_answer() -> None:
    """Deeply nested, non-finite, beyond-64-bit, unknown and missing fields, binary junk:
    exactly one answer each, the expected error code, and the session stays usable."""
    gateway, session, answers = _logged_in()
    for frame, code in HOSTILE_FRAMES:
        answers.clear()
        session.receive(frame)
        replies = [a for a in answers if "id" in a]
        assert len(replies) == 1, (frame[:80], answers)
        reply = replies[0]
        if "error" in reply:
            assert reply["error"]["code"] != -32603, (frame[:80], reply)
        if code is not None:
            assert reply.get("error", {}).get("code") == code, (frame[:80], reply)
        answers.clear()
        session.receive('{"id":"ok","method":"public/test"}')
        assert answers[-1]["id"] == "ok" and "result" in answers[-1]
        gateway.venue.engine.check_invariants()


# -- valid but hostile command sequences, journaled ----------------------------------------------
prices = st.one_of(st.integers(1, 5000).map(lambda t: t / 1000),
                   st.sampled_from([0.001, 1e-9, 10**6, 10**13, "1", "0"]))
amounts = st.one_of(st.integers(1, 50), st.sampled_from([0, -1, 10**12, 10**13, 0.5]))
order_ids = st.one_of(st.integers(-2, 60).map(str), st.sampled_from(["", "x", "1e3"]))
hostile_commands = st.one_of(
    st.builds(lambda side, amount, price, extra: (side, {
        "instrument_name": SPOT, "amount": amount, "price": price, **extra}),
        st.sampled_from(["private/buy", "private/sell"]), amounts, prices,
        st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["limit", "market"]),
            "time_in_force": st.sampled_from(["good_til_cancelled", "fill_or_kill",
                                              "immediate_or_cancel", "good_til_day"]),
            "post_only": st.booleans(), "reject_post_only": st.booleans(),
            "reduce_only": st.booleans(),
            "label": st.sampled_from(["a", "b", "x" * 64, "x" * 65]),
            "instrument_name": st.sampled_from([SPOT, "GPUH-25DEC26", "KWH_USD", "nope"])})),
    st.builds(lambda oid, amount, price: ("private/edit", {
        "order_id": oid, "amount": amount, "price": price}), order_ids, amounts, prices),
    st.builds(lambda oid: ("private/cancel", {"order_id": oid}), order_ids),
    st.sampled_from([("private/cancel_all", {}),
                     ("private/cancel_by_label", {"label": "a"}),
                     ("private/cancel_all_by_currency", {"currency": "GPUH"}),
                     ("private/cancel_all_by_instrument", {"instrument_name": SPOT}),
                     ("private/get_open_orders", {}),
                     ("private/get_positions", {"currency": "any"}),
                     ("private/subscribe", {"channels": ["user.orders.any.any.raw",
                                                         f"book.{SPOT}.raw"]}),
                     ("private/unsubscribe_all", {})]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), hostile_commands), min_size=1, max_size=30))
def test_hostile_sequences_on_a_journaled_gateway(steps: list) -> None:
    """Two accounts send random valid-but-hostile commands to a gateway whose engine is
    journaled. Nothing a command caused is delivered before ``release`` commits it; every
    request gets one answer, never an internal error; invariants hold after each step; and
    recovering the journal reproduces the live state exactly."""
    from exchange.gateway.durable import open_journal
    from exchange.journal import recover

    with tempfile.TemporaryDirectory() as tmp:
        config = test_config()
        journal = open_journal(Path(tmp) / "j", config, policy="batch", snapshot_every=16)
        gateway = Gateway(config, journal=journal)
        peers = []
        for client_id in ("alice", "bob"):
            answers: list[dict] = []
            session = Session(gateway, lambda data, a=answers: a.append(json.loads(data)))
            session.receive(json.dumps({"id": 0, "method": "public/auth", "params": {
                "grant_type": "client_credentials", "client_id": client_id,
                "client_secret": SECRETS[client_id]}}))
            gateway.release()
            peers.append((session, answers))
        for i, (who, (method, params)) in enumerate(steps, start=1):
            session, answers = peers[who]
            for _, out in peers:
                out.clear()
            session.receive(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                        "params": params}))
            if gateway.venue.uncommitted():
                assert answers == [] and peers[1 - who][1] == []  # held until durable
            gateway.release()
            assert not gateway.venue.uncommitted()
            replies = [a for a in answers if a.get("id") == i]
            assert len(replies) == 1, (method, params, answers)
            assert replies[0].get("error", {}).get("code") != -32603, replies[0]
            gateway.venue.engine.check_invariants()
        live = gateway.venue.engine.state_hash()
        journal.close()
        recovered, _ = recover(Path(tmp) / "j")
        assert recovered.state_hash() == live


# -- over a live socket --------------------------------------------------------------------------
async def test_live_socket_survives_hostile_frames(env: Env) -> None:
    """The hostile frames over a real connection: one answer each and the connection stays
    usable; a frame beyond the transport's hard limit closes only that connection (1009)."""
    bystander = await env.rpc("bob")
    c = await env.rpc("alice")
    for frame, code in HOSTILE_FRAMES:
        await c.send_raw(frame)
        answer = await c.orphan()  # the Rpc did not send it, so its answer is an orphan
        assert answer.get("error", {}).get("code") != -32603, (frame[:80], answer)
        if code is not None:
            assert answer["error"]["code"] == code, (frame[:80], answer)
        assert (await c.result("public/test"))["version"]
    huge = '{"id":1,"method":"public/test","params":{"x":"' + "y" * (2 << 20) + '"}}'
    await c.send_raw(huge)
    await asyncio.wait_for(c.reader, WAIT)
    assert c.ws.close_code == 1009
    assert (await bystander.result("public/test"))["version"]
    again = await env.rpc("alice")
    assert await again.result("private/get_open_orders") is not None
    env.gateway.venue.engine.check_invariants()


async def test_live_random_hostile_sessions(env: Env) -> None:
    """Three clients (two accounts) send a seeded stream of valid-but-hostile commands over
    real sockets, pipelined; every request is answered, none with an internal error, and the
    engine's invariants hold after every batch."""
    rng = random.Random(6)
    clients = [await env.rpc(name) for name in ("alice", "bob", "alice")]
    methods = ["private/buy", "private/sell", "private/edit", "private/cancel",
               "private/cancel_all", "private/cancel_by_label", "private/get_open_orders",
               "private/subscribe", "private/unsubscribe_all", "public/get_order_book"]
    sent = 0
    for _ in range(20):
        calls = []
        for c in clients:
            for _ in range(rng.randint(1, 10)):
                method = rng.choice(methods)
                params = {
                    "instrument_name": rng.choice([SPOT, SPOT, "GPUH-25DEC26", "nope", 7]),
                    "amount": rng.choice([1, 2, 5, 0, -3, 10**12, 10**40, 0.5, "1", None]),
                    "price": rng.choice([1, 1.001, 0.999, 2.5, 0, -1, 10**30, "1.0", 1e300]),
                    "order_id": str(rng.randint(-1, 200)),
                    "label": rng.choice(["a", "b", None, "z" * 100]),
                    "type": rng.choice(["limit", "market", "stop", None]),
                    "time_in_force": rng.choice(["good_til_cancelled", "fill_or_kill",
                                                 "immediate_or_cancel", None]),
                    "post_only": rng.choice([True, False, None, "yes"]),
                    "reduce_only": rng.choice([True, False, None]),
                    "channels": rng.choice([["user.orders.any.any.raw"],
                                            [f"book.{SPOT}.raw", f"trades.{SPOT}.raw"],
                                            ["nope"], "x"]),
                    "depth": rng.choice([1, 5, 10**9, -1, None]),
                }
                params = {k: v for k, v in params.items() if v is not None
                          and rng.random() < 0.8}
                calls.append(c.call(method, params))
                sent += 1
        for answer in await asyncio.gather(*calls):
            assert answer.get("error", {}).get("code") != -32603, answer
        env.gateway.venue.engine.check_invariants()
    assert sent >= 100
    for c in clients:
        assert (await c.result("public/test"))["version"]


def test_huge_exponents_are_rejected_as_too_large_without_building_huge_ints() -> None:
    """A price or amount like "1e99999" is a finite decimal: converted naively to ticks it
    becomes an integer of ~100k digits (a quarter of a second of CPU per request). It is
    clamped to a bound past every engine limit instead, so the engine rejects it as too large
    and the conversion never holds more than a few dozen digits."""
    from decimal import Decimal

    from exchange.core.instruments import UNITS_DIGITS, default_instruments

    spec = next(s for s in default_instruments() if s.name == SPOT)
    for text in ("1e99999", "1e999", "9" * 60):
        assert spec.price_to_ticks(Decimal(text)) == 10 ** UNITS_DIGITS
        assert spec.amount_to_lots(Decimal(text)) == 10 ** UNITS_DIGITS
    assert spec.price_to_ticks(Decimal("-1e99999")) == -(10 ** UNITS_DIGITS)
    assert spec.price_to_ticks(Decimal("2.345")) == 2345  # ordinary values stay exact
    _, session, answers = _logged_in()
    for params, code in (({"amount": 1, "price": "1e99999"}, 10007),
                         ({"amount": "1e99999", "price": "1"}, 10021)):
        answers.clear()
        session.receive(json.dumps({"id": 7, "method": "private/buy", "params": {
            "instrument_name": SPOT, **params}}))
        assert len(answers) == 1 and answers[0]["error"]["code"] == code, answers
