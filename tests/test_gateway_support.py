"""Shared fixtures for the gateway and client tests: a server on 127.0.0.1 with an
ephemeral port, and a minimal raw JSON-RPC websocket client whose every wait is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from exchange.gateway import Gateway, GatewayConfig
from exchange.gateway.config import AccountConfig, RateLimitConfig
from exchange.gateway.server import GatewayServer, start_server

WAIT = 5.0  # seconds any single network wait may take
SPOT = "GPUH_USD"

ACCOUNTS = [
    AccountConfig(id=1, name="alice", client_id="alice", client_secret="alice-secret-123",
                  deposits={"USD": "100000", "GPUH": "1000"}),
    AccountConfig(id=2, name="bob", client_id="bob", client_secret="bob-secret-456",
                  deposits={"USD": "100000", "GPUH": "1000"}),
    AccountConfig(id=3, name="carol", client_id="carol", client_secret="carol-secret-789"),
]
SECRETS = {a.client_id: a.client_secret for a in ACCOUNTS}


def test_config(**overrides: Any) -> GatewayConfig:
    fields: dict[str, Any] = {
        "port": 0,
        "accounts": ACCOUNTS,
        "min_heartbeat_interval_s": 0.05,
        "flush_interval_s": 0.02,
        "rate_limit": RateLimitConfig(capacity=1_000_000, refill_per_second=1_000_000),
    }
    fields.update(overrides)
    return GatewayConfig(**fields)


test_config.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


class Rpc:
    """A bare JSON-RPC client: calls return the whole answer, notifications are queued."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.answers: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.orphans: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = msgspec.json.decode(raw)
                rid = msg.get("id")
                if "method" in msg and rid is None:
                    await self.notes.put(msg)
                elif rid in self.answers:
                    self.answers.pop(rid).set_result(msg)
                else:
                    await self.orphans.put(msg)
        except ConnectionClosed:
            pass

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def orphan(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.orphans.get(), WAIT)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.answers[rid] = fut
        body = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        await self.ws.send(msgspec.json.encode(body).decode())
        return await asyncio.wait_for(fut, WAIT)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.call(method, params)
        assert "error" in answer, answer
        return answer["error"]

    async def note(self, channel: str | None = None, timeout: float = WAIT) -> dict[str, Any]:
        """Next notification (on ``channel`` if given; others are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.notes.get()
                if channel is None or msg.get("params", {}).get("channel") == channel:
                    return msg

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while not self.notes.empty():
            out.append(self.notes.get_nowait())
        return out

    async def login(self, client_id: str) -> dict[str, Any]:
        return await self.result("public/auth", {
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": SECRETS[client_id]})

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


def signature(secret: str, ts: int, nonce: str, data: str = "") -> str:
    return hmac.new(secret.encode(), f"{ts}\n{nonce}\n{data}".encode(),
                    hashlib.sha256).hexdigest()


class Env:
    def __init__(self, gateway: Gateway, server: GatewayServer) -> None:
        self.gateway = gateway
        self.server = server
        self.port = server.port
        self.url = f"ws://127.0.0.1:{server.port}/ws/api/v2"
        self.http = f"http://127.0.0.1:{server.port}"
        self.clients: list[Rpc] = []

    async def rpc(self, login: str | None = None, **kwargs: Any) -> Rpc:
        kwargs.setdefault("close_timeout", 1)
        ws = await asyncio.wait_for(connect(self.url, **kwargs), WAIT)
        client = Rpc(ws)
        self.clients.append(client)
        if login:
            await client.login(login)
        return client


async def make_env(**overrides: Any) -> Env:
    gateway = Gateway(test_config(**overrides))
    server = await start_server(gateway, "127.0.0.1", 0)
    return Env(gateway, server)


async def close_env(env: Env) -> None:
    for client in env.clients:
        await client.close()
    await asyncio.wait_for(env.server.close(), WAIT)


@pytest.fixture(name="env")
async def env_fixture() -> AsyncIterator[Env]:
    e = await make_env()
    try:
        yield e
    finally:
        await close_env(e)


def test_support_config_is_valid() -> None:
    cfg = test_config()
    assert cfg.port == 0 and len(cfg.accounts) == 3
