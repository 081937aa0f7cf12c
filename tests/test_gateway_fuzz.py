"""Random requests never produce an internal error, always get exactly one answer with
their id, and never break the engine's invariants."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gateway_support import SECRETS, test_config

from exchange.gateway import Gateway, Session
from exchange.gateway.protocol import METHODS

SPOT = "GPUH_USD"
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
