"""The same methods over HTTP GET /api/v2/{method}, with query strings coerced and the
Deribit Authorization schemes for private calls."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from test_gateway_support import SECRETS, SPOT, Env, env_fixture  # noqa: F401


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def get(env: Env, path: str, params: dict | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict]:
    query = ("?" + urlencode(params)) if params else ""
    return await asyncio.to_thread(_get, env.http + path + query, headers)


def hmac_header(client_id: str, uri: str, nonce: str = "abc", ts: int | None = None) -> str:
    ts = ts or int(time.time() * 1000)
    to_sign = f"{ts}\n{nonce}\nGET\n{uri}\n\n"
    sig = hmac.new(SECRETS[client_id].encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"deri-hmac-sha256 id={client_id},ts={ts},sig={sig},nonce={nonce}"


async def test_public_over_http(env: Env) -> None:
    status, body = await get(env, "/api/v2/public/get_time")
    assert status == 200 and isinstance(body["result"], int) and "usIn" in body
    status, body = await get(env, "/api/v2/public/get_order_book",
                             {"instrument_name": SPOT, "depth": "5"})
    assert status == 200 and body["result"]["instrument_name"] == SPOT
    status, body = await get(env, "/api/v2/public/get_instruments",
                             {"currency": "GPUH", "kind": "spot", "expired": "false"})
    assert [i["instrument_name"] for i in body["result"]] == [SPOT]


async def test_http_errors(env: Env) -> None:
    status, body = await get(env, "/api/v2/public/nope")
    assert status == 400 and body["error"]["code"] == -32601
    status, body = await get(env, "/api/v2/public/get_order_book",
                             {"instrument_name": SPOT, "depth": "many"})
    assert body["error"]["code"] == -32602
    status, body = await get(env, "/api/v2/private/get_open_orders")
    assert body["error"]["code"] == 13009
    status, body = await get(env, "/api/v2/public/subscribe", {"channels": "x"})
    assert body["error"]["code"] == -32600
    status, body = await get(env, "/elsewhere")
    assert status == 404


async def test_private_with_hmac_header(env: Env) -> None:
    params = {"instrument_name": SPOT, "amount": "2", "price": "1.5", "post_only": "true"}
    uri = "/api/v2/private/buy?" + urlencode(params)
    header = {"Authorization": hmac_header("alice", uri)}
    status, body = await get(env, "/api/v2/private/buy", params, header)
    assert status == 200, body
    order = body["result"]["order"]
    assert order["price"] == 1.5 and order["amount"] == 2 and order["post_only"] is True
    assert env.gateway.venue.order(int(order["order_id"])).account == 1
    # the very same signed request again is a replay
    status, body = await get(env, "/api/v2/private/buy", params, header)
    assert status == 400 and body["error"]["code"] == 13004
    # a signature over another URI does not authorize this one
    other = hmac_header("alice", "/api/v2/private/get_open_orders", nonce="zz")
    status, body = await get(env, "/api/v2/private/buy", params, {"Authorization": other})
    assert body["error"]["code"] == 13004
    status, body = await get(env, "/api/v2/private/get_open_orders", None,
                             {"Authorization": "deri-hmac-sha256 id=alice"})
    assert body["error"]["code"] == 13004
    assert "alice-secret" not in json.dumps(body)


async def test_private_with_bearer_and_basic(env: Env) -> None:
    status, body = await get(env, "/api/v2/public/auth", {
        "grant_type": "client_credentials", "client_id": "bob",
        "client_secret": SECRETS["bob"]})
    token = body["result"]["access_token"]
    status, body = await get(env, "/api/v2/private/get_account_summary", {"currency": "USD"},
                             {"Authorization": f"Bearer {token}"})
    assert status == 200 and body["result"]["balance"] == 100000
    basic = base64.b64encode(f"bob:{SECRETS['bob']}".encode()).decode()
    status, body = await get(env, "/api/v2/private/get_open_orders", None,
                             {"Authorization": f"Basic {basic}"})
    assert status == 200 and body["result"] == []
    status, body = await get(env, "/api/v2/private/get_open_orders", None,
                             {"Authorization": "Bearer forged"})
    assert body["error"]["code"] == 13009
