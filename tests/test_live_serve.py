"""``cmx serve --scenario``: agents trade on the live server, an external bot trades with them,
and the process stops cleanly (by signal, and when the scenario's duration has elapsed)."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import signal
import sys
from decimal import Decimal
from pathlib import Path

from clients.ws import Client

SCENARIO = """
[scenario]
name = "live_small"
seed = 5
duration = {duration}

[market]
[[market.instruments]]
name = "ASSET_USD"
kind = "spot"
base = "ASSET"
tick_size = "0.01"

[[agents]]
name = "noise"
class = "noise"
count = 6
instrument = "ASSET_USD"
cash = 100000.0
assets = {{ ASSET = 1000 }}
[agents.params]
rate = 0.5
market_prob = 0.4
size_min = 1
size_max = 5
offset = 10
lifetime = 30.0
initial_price = 100.0

[[agents]]
name = "mm"
class = "market_maker"
count = 1
instrument = "ASSET_USD"
cash = 1000000.0
assets = {{ ASSET = 10000 }}
[agents.params]
interval = 2.0
half_spread = 3
spacing = 2
levels = 3
size = 10
initial_price = 100.0
"""


class Served:
    """A ``cmx serve --scenario`` subprocess; its log is drained so the pipe never fills."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log = ""
        self.out = ""
        self.port: int | None = None
        self.found = asyncio.Event()
        self.tasks = [asyncio.create_task(self._drain_err()),
                      asyncio.create_task(self._drain_out())]

    async def _drain_err(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            text = line.decode()
            self.log += text
            found = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/api/v2", text)
            if found and self.port is None:
                self.port = int(found.group(1))
                self.found.set()

    async def _drain_out(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.out += line.decode()

    async def finish(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)
        return code


async def serve(tmp_path: Path, duration: float, speed: float, *extra: str) -> Served:
    path = tmp_path / "live_small.toml"
    path.write_text(SCENARIO.format(duration=duration))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange.cli", "serve", "--host", "127.0.0.1", "--port", "0",
        "--scenario", str(path), "--speed", str(speed), *extra,
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    served = Served(proc)
    try:
        await asyncio.wait_for(served.found.wait(), 20)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"cmx serve did not start: {served.log}") from None
    return served


async def test_agents_trade_and_an_external_bot_trades_with_them(tmp_path: Path) -> None:
    served = await serve(tmp_path, 3600.0, 20.0)
    proc = served.proc
    try:
        url = f"ws://127.0.0.1:{served.port}/ws/api/v2"
        public: list[dict] = []
        async with Client(url, client_id="bot", client_secret="bot-secret") as bot:
            await bot.subscribe(["trades.ASSET_USD.raw"], lambda ch, data: public.extend(data))
            book = await bot.subscribe_book("ASSET_USD")
            async with asyncio.timeout(15):
                while len(public) < 5 or book.best_ask() is None:
                    await asyncio.sleep(0.05)
            # the agents trade among themselves on the public channel
            assert all(t["instrument_name"] == "ASSET_USD" for t in public)
            # the external bot lifts an agent's ask: a trade against an agent's resting order
            ask = book.best_ask()
            assert ask is not None
            result = await bot.buy("ASSET_USD", Decimal(1), ask[0] + Decimal("0.50"),
                                   time_in_force="immediate_or_cancel")
            assert result.trades, result
            assert result.order.filled_amount == Decimal(1)
            assert all(t.liquidity == "T" for t in result.trades)
            summary = await bot.get_account_summary("ASSET")
            assert summary.balance == Decimal(10001)  # the demo bot started with 10000
            mine = {t.trade_id for t in result.trades}
            async with asyncio.timeout(5):
                while not mine <= {t["trade_id"] for t in public}:
                    await asyncio.sleep(0.02)
        assert proc.returncode is None
        proc.send_signal(signal.SIGINT)
        assert await served.finish(15) == 0
        assert "live scenario stopped early" in served.out
        assert "agent-" not in served.log.split("accounts (client_id):")[1].split("\n")[0]
        assert "Traceback" not in served.log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_exits_when_the_duration_has_elapsed(tmp_path: Path) -> None:
    served = await serve(tmp_path, 40.0, 20.0)  # two seconds of wall time
    try:
        assert await served.finish(20) == 0
        finished = re.search(r"live scenario finished: (\{.*\})", served.out)
        assert finished, served.out + served.log
        summary = ast.literal_eval(finished.group(1))
        assert summary["agents"] == 7 and summary["trades"] > 0
        assert summary["wall_s"] < 10
        assert "Traceback" not in served.log
    finally:
        if served.proc.returncode is None:
            served.proc.kill()
            await served.proc.wait()


async def test_keep_serving_after_the_scenario(tmp_path: Path) -> None:
    served = await serve(tmp_path, 20.0, 20.0, "--keep-serving")  # one second of wall time
    proc = served.proc
    try:
        async with asyncio.timeout(15):
            while "still serving" not in served.log:
                assert proc.returncode is None, served.log
                await asyncio.sleep(0.05)
        assert "live scenario finished" in served.out
        async with Client(f"ws://127.0.0.1:{served.port}/ws/api/v2", client_id="taker",
                          client_secret="taker-secret") as taker:
            assert await taker.get_time() > 0
            # the agents are gone and so are their orders (cancel on disconnect)
            book = await taker.get_order_book("ASSET_USD")
            assert book.bids == [] and book.asks == []
        proc.send_signal(signal.SIGTERM)
        assert await served.finish(15) == 0
        assert "Traceback" not in served.log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_ccxt_trades_with_the_agents(tmp_path: Path) -> None:
    import ccxt.pro as ccxtpro

    served = await serve(tmp_path, 3600.0, 20.0)
    proc = served.proc
    ex = ccxtpro.deribit({"apiKey": "taker", "secret": "taker-secret"})
    ex.urls["api"] = {"rest": f"http://127.0.0.1:{served.port}",
                      "ws": f"ws://127.0.0.1:{served.port}/ws/api/v2"}
    try:
        async with asyncio.timeout(20):
            await ex.load_markets()
            book = await ex.fetch_order_book("ASSET/USD")
            while not book["bids"]:  # the market maker's first quotes
                await asyncio.sleep(0.05)
                book = await ex.fetch_order_book("ASSET/USD")
            bid = book["bids"][0][0]
            order = await ex.create_order("ASSET/USD", "limit", "sell", 1, bid - 0.5,
                                          {"time_in_force": "immediate_or_cancel"})
            assert order["filled"] == 1, order  # sold to an agent's bid
            balance = await ex.fetch_balance()
            assert balance["ASSET"]["total"] == 9999
        await ex.close()
        proc.send_signal(signal.SIGTERM)
        assert await served.finish(15) == 0
        assert "Traceback" not in served.log
    finally:
        await ex.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
