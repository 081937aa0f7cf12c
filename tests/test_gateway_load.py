"""Load: 200+ concurrent connections with mixed traffic against ``cmx serve --journal``.

The server runs in its own process (so its memory is its own, read from /proc/PID/status),
journaling with group commit. For a bounded time:

* 100 trader connections (50 accounts, two connections each) place, cross and cancel orders,
  each waiting for its answer;
* 80 market-data connections hold aggregated (100ms) book, ticker and trade subscriptions;
* 20 connections poll public queries (order book, ticker, time);
* 3 slow consumers subscribe to every raw channel and stop reading: each must be disconnected
  with the slow-consumer reason while nobody else is.

Then: every request was answered, none with an internal error, the server is alive and
answers a fresh client, its memory stayed under a generous ceiling (MEMORY_CEILING_KB: the
bounded per-connection queues and histories keep it far below; the figure is reported), and
after a clean shutdown ``cmx replay --check`` finds the journal's state intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from exchange.gateway.config import AccountConfig, GatewayConfig, RateLimitConfig

SPOT = "GPUH_USD"
ACCOUNTS = 50
TRADERS = 100
WATCHERS = 80
POLLERS = 20
SLOW = 3
DURATION_S = 4.0
MEMORY_CEILING_KB = 256_000
ROOT = Path(__file__).resolve().parent.parent


def _memory_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return out


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.answers = 0
        self.errors: dict[int, int] = {}
        self.notifications = 0


async def _call(ws: ClientConnection, rid: int, method: str, params: dict[str, Any],
                stats: Stats) -> dict[str, Any]:
    stats.requests += 1
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                              "params": params}))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg.get("id") == rid:
            stats.answers += 1
            if "error" in msg:
                code = msg["error"]["code"]
                stats.errors[code] = stats.errors.get(code, 0) + 1
            return msg
        stats.notifications += 1


async def _trader(ws: ClientConnection, n: int, stop: float, stats: Stats) -> None:
    rng = random.Random(n)
    await _call(ws, 0, "public/auth", {"grant_type": "client_credentials",
                                       "client_id": f"t{n % ACCOUNTS}",
                                       "client_secret": f"s{n % ACCOUNTS}"}, stats)
    rid, mine = 0, []
    while time.monotonic() < stop:
        rid += 1
        if mine and rng.random() < 0.3:
            await _call(ws, rid, "private/cancel", {"order_id": mine.pop()}, stats)
            continue
        side = rng.choice(("private/buy", "private/sell"))
        answer = await _call(ws, rid, side, {
            "instrument_name": SPOT, "amount": rng.randint(1, 3),
            "price": f"{1 + rng.randint(-5, 5) / 1000:.3f}"}, stats)
        if "result" in answer and answer["result"]["order"]["order_state"] == "open":
            mine.append(answer["result"]["order"]["order_id"])
    await _call(ws, rid + 1, "private/cancel_all", {}, stats)


async def _watcher(ws: ClientConnection, n: int, stop: float, stats: Stats) -> None:
    channels = [f"book.{SPOT}.100ms", f"ticker.{SPOT}.100ms", f"trades.{SPOT}.100ms"]
    await _call(ws, 1, "public/subscribe", {"channels": channels[: 1 + n % 3]}, stats)
    while time.monotonic() < stop:
        try:
            await asyncio.wait_for(ws.recv(), max(0.01, stop - time.monotonic()))
            stats.notifications += 1
        except TimeoutError:
            break


async def _poller(ws: ClientConnection, n: int, stop: float, stats: Stats) -> None:
    rid = 0
    queries = [("public/get_order_book", {"instrument_name": SPOT, "depth": 10}),
               ("public/ticker", {"instrument_name": SPOT}), ("public/get_time", {})]
    while time.monotonic() < stop:
        rid += 1
        await _call(ws, rid, *queries[(n + rid) % 3], stats)
        await asyncio.sleep(0.01)


async def test_two_hundred_connections_mixed_traffic(tmp_path: Path) -> None:
    accounts = [AccountConfig(id=i + 1, client_id=f"t{i}", client_secret=f"s{i}",
                              deposits={"USD": "10000000", "GPUH": "100000"})
                for i in range(ACCOUNTS)]
    config = GatewayConfig(port=0, accounts=accounts, outbound_queue=500,
                           rate_limit=RateLimitConfig(capacity=10**9, refill_per_second=10**9))
    config_path = tmp_path / "gw.json"
    config_path.write_bytes(msgspec.json.encode(config))
    journal = tmp_path / "journal"
    err = tmp_path / "serve.err"
    with open(err, "wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "serve", "--config", str(config_path),
             "--journal", str(journal), "--host", "127.0.0.1", "--port", "0",
             "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=err_file, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sockets: list[ClientConnection] = []
    try:
        async with asyncio.timeout(30):
            port = await _wait_for_port(proc.pid)
        url = f"ws://127.0.0.1:{port}/ws/api/v2"
        base = _memory_kb(proc.pid)
        stats = Stats()
        async with asyncio.timeout(60):
            for _ in range(TRADERS + WATCHERS + POLLERS):
                sockets.append(await connect(url, close_timeout=1, max_queue=None))
            slow = []
            for _ in range(SLOW):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                ws = await connect(url, sock=sock, max_queue=1, close_timeout=1)
                await _call(ws, 1, "public/subscribe", {"channels": [
                    f"book.{SPOT}.raw", f"trades.{SPOT}.raw", f"ticker.{SPOT}.raw"]}, Stats())
                slow.append(ws)  # and never read again
            connected = _memory_kb(proc.pid)
            stop = time.monotonic() + DURATION_S
            traders = sockets[:TRADERS]
            watchers = sockets[TRADERS:TRADERS + WATCHERS]
            pollers = sockets[TRADERS + WATCHERS:]
            await asyncio.gather(
                *(_trader(ws, n, stop, stats) for n, ws in enumerate(traders)),
                *(_watcher(ws, n, stop, stats) for n, ws in enumerate(watchers)),
                *(_poller(ws, n, stop, stats) for n, ws in enumerate(pollers)))
            after = _memory_kb(proc.pid)
            kicked = await _slow_consumers_closed(slow)
            # the server is alive and answers a fresh client
            async with connect(url) as fresh:
                answer = await _call(fresh, 1, "public/get_order_book",
                                     {"instrument_name": SPOT}, Stats())
                assert "result" in answer
        log = err.read_text()
        assert log.count("outbound queue full") == SLOW, log[-2000:]
        assert kicked == SLOW
        assert stats.answers == stats.requests
        assert -32603 not in stats.errors, stats.errors
        assert stats.requests > 2000  # the run carried real traffic
        assert after["VmHWM"] < MEMORY_CEILING_KB, after
        print(f"load: {len(sockets) + SLOW} connections, {stats.requests} requests, "
              f"{stats.notifications} notifications, errors {stats.errors}, "
              f"{SLOW} slow consumers closed; server RSS kB start {base['VmRSS']}, "
              f"connected {connected['VmRSS']}, after {after['VmRSS']}, peak {after['VmHWM']}")
    finally:
        for ws in sockets:
            ws.transport.abort()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    assert proc.returncode == 0
    check = subprocess.run([sys.executable, "-m", "exchange.cli", "replay", str(journal),
                            "--check"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert check.returncode == 0 and "invariants: ok" in check.stdout, check.stderr


async def _wait_for_port(pid: int) -> int:
    """The listening port, from the process's sockets (logs are at WARNING)."""
    inodes: set[str] = set()
    while True:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            found = re.fullmatch(r"socket:\[(\d+)\]", target)
            if found:
                inodes.add(found.group(1))
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                return int(fields[1].split(":")[1], 16)
        await asyncio.sleep(0.05)


async def _slow_consumers_closed(slow: list[ClientConnection]) -> int:
    """Resume reading: each slow consumer's stream must end (closed by the server)."""
    closed = 0
    for ws in slow:
        try:
            async with asyncio.timeout(15):
                while True:
                    await ws.recv()
        except ConnectionClosed as exc:
            closed += 1
            assert exc.rcvd is None or exc.rcvd.code == 1008, exc
    return closed
