"""``cmx bench gateway``: the websocket gateway against a bare ``websockets`` echo pair.

Both servers run in their own process, the measuring client in this one, so the figures are
round trips through real sockets on 127.0.0.1 and the echo pair is the floor any websocket
server in Python on this machine can reach. Measured in one run:

* order-to-acknowledgement round trip (``private/buy``, sequential), p50/p99, vs echo RTT;
* pipelined orders/s on one connection (send N while reading the answers; best of three),
  vs pipelined echo;
* 100 concurrent authenticated clients placing orders: sustained orders/s and error count;
* book-update fan-out: time from an order being sent to 100 ``book.{instrument}.raw``
  subscribers receiving the resulting change, p50/p99;
* server memory (RSS now and peak) after all of it;
* the same gateway journaling every command (``cmx serve --journal``) under each fsync
  policy, in the same run: order-to-ack RTT, pipelined orders/s and 100-client orders/s
  (best of three interleaved rounds each, and the ratio round by round), each against a
  gateway without a journal measured the same way, interleaved with them. The journal lives
  in ``--journal-dir`` (default: the system temporary directory; its file system is
  reported, since a tmpfs makes fsync free).

Targets (from the design): RTT p50 <= 1.5x echo, pipelined >= 0.6x echo, zero errors; with the
journal, group commit (``batch``) keeps at least 80% of the no-journal throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from exchange.cli_args import positive_float, positive_int

INSTRUMENT = "GPUH_USD"
CLIENTS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rtt-samples", type=positive_int, default=5000,
                        help="sequential round trips per server (default 5000)")
    parser.add_argument("--pipelined", type=positive_int, default=20000,
                        help="messages in the pipelined burst (default 20000)")
    parser.add_argument("--orders-per-client", type=positive_int, default=200,
                        help="orders each of the 100 concurrent clients places (default 200)")
    parser.add_argument("--fanout-updates", type=positive_int, default=300,
                        help="book updates timed at the 100 subscribers (default 300)")
    parser.add_argument("--journal-dir", default=None,
                        help="where the journaled runs write (default: the system temporary "
                             "directory)")
    parser.add_argument("--policies", default="always,batch,none",
                        help="fsync policies to measure, comma separated (default all; "
                             "'' skips the journal runs)")
    parser.add_argument("--timeout", type=positive_float, default=900,
                        help="give up after this many seconds (default 900)")


# -- servers (child processes) ---------------------------------------------------------------
def _bench_config() -> Any:
    from exchange.gateway.config import AccountConfig, GatewayConfig, RateLimitConfig

    accounts = [AccountConfig(id=i, client_id=f"c{i}", client_secret=f"s{i}",
                              deposits={"USD": "1000000000", "GPUH": "1000000"})
                for i in range(1, CLIENTS + 2)]
    return GatewayConfig(port=0, accounts=accounts, outbound_queue=1_000_000,
                         rate_limit=RateLimitConfig(capacity=10**12, refill_per_second=10**12))


def _gateway_main(conn: Any, policy: str | None = None, directory: str | None = None) -> None:
    async def main() -> None:
        from exchange.gateway import Gateway
        from exchange.gateway.durable import open_journal
        from exchange.gateway.server import start_server

        config = _bench_config()
        journal = None
        if policy is not None:
            assert directory is not None
            journal = open_journal(directory, config, policy=policy)
        server = await start_server(Gateway(config, journal=journal), "127.0.0.1", 0)
        conn.send(server.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await server.close()
        if journal is None:
            conn.send(None)
        else:
            journal.close()
            conn.send({"commands": journal.writer.appended, "fsyncs": journal.writer.fsyncs})

    asyncio.run(main())


def _echo_main(conn: Any) -> None:
    async def main() -> None:
        from websockets.asyncio.server import serve

        async def echo(ws: Any) -> None:
            async for message in ws:
                await ws.send(message)

        async with serve(echo, "127.0.0.1", 0, compression=None, max_size=1 << 22) as server:
            conn.send(server.sockets[0].getsockname()[1])
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        conn.send(None)

    asyncio.run(main())


class _Child:
    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            raise RuntimeError("benchmark server did not start")
        self.port: int = self.conn.recv()

    def memory_kb(self) -> dict[str, int]:
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0])
        return out

    def stop(self) -> Any:
        """Stop the server; returns what it sent back on the way out (journal counters)."""
        self.conn.send("stop")
        result = self.conn.recv() if self.conn.poll(10) else None
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
        return result


# -- measurements ----------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _order(i: int, rid: int) -> str:
    price = f"{1 + (i % 500) / 1000:.3f}"
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "private/buy",
                       "params": {"instrument_name": INSTRUMENT, "amount": 1,
                                  "price": price}})


async def _connect(port: int, path: str = "/ws/api/v2") -> Any:
    from websockets.asyncio.client import connect

    return await connect(f"ws://127.0.0.1:{port}{path}", compression=None, max_size=1 << 22,
                         max_queue=None)


async def _login(ws: Any, n: int) -> None:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": f"c{n}", "client_secret": f"s{n}"}}))
    answer = json.loads(await ws.recv())
    if "result" not in answer:
        raise RuntimeError(f"bench login failed: {answer.get('error')}")


async def _rtt(ws: Any, samples: int, echo: bool) -> list[float]:
    out = []
    for i in range(samples):
        message = _order(i, i + 1)
        t0 = time.perf_counter()
        await ws.send(message)
        answer = await ws.recv()
        out.append(time.perf_counter() - t0)
        if not echo and '"result"' not in answer:
            raise RuntimeError(f"order rejected during the RTT run: {answer[:200]}")
    return out


async def _pipelined(ws: Any, n: int) -> tuple[float, int]:
    messages = [_order(i, i + 1) for i in range(n)]
    t0 = time.perf_counter()

    async def reader() -> int:
        errors = 0
        for _ in range(n):
            if '"error"' in await ws.recv():
                errors += 1
        return errors

    task = asyncio.create_task(reader())
    for m in messages:
        await ws.send(m)
    errors = await task
    return n / (time.perf_counter() - t0), errors


async def _cancel_all(ws: Any) -> None:
    await ws.send('{"jsonrpc":"2.0","id":-1,"method":"private/cancel_all"}')
    await ws.recv()


async def _many_clients(port: int, per_client: int) -> dict[str, Any]:
    sockets = [await _connect(port) for _ in range(CLIENTS)]
    for n, ws in enumerate(sockets, start=2):
        await _login(ws, n)
    errors = 0

    async def client(ws: Any, n: int) -> None:
        nonlocal errors
        for i in range(per_client):
            await ws.send(_order(i + n, i + 1))
            if '"result"' not in await ws.recv():
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client(ws, n) for n, ws in enumerate(sockets)))
    elapsed = time.perf_counter() - t0
    for ws in sockets:
        await _cancel_all(ws)
        await ws.close()
    return {"clients": CLIENTS, "orders": CLIENTS * per_client,
            "orders_per_s": round(CLIENTS * per_client / elapsed), "errors": errors}


async def _fanout(port: int, updates: int) -> dict[str, Any]:
    trader = await _connect(port)
    await _login(trader, 1)
    subs = [await _connect(port) for _ in range(CLIENTS)]
    channel = f"book.{INSTRUMENT}.raw"
    for ws in subs:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                  "params": {"channels": [channel]}}))
    for ws in subs:  # snapshot + answer
        for _ in range(2):
            await ws.recv()
    latencies: list[float] = []
    for i in range(updates):
        t0 = time.perf_counter()
        await trader.send(_order(i, i + 1))

        async def wait_change(ws: Any, t0: float = t0) -> float:
            while True:
                msg = await ws.recv()
                if '"subscription"' in msg:
                    return time.perf_counter() - t0

        latencies += await asyncio.gather(*(wait_change(ws) for ws in subs))
        await trader.recv()
    await _cancel_all(trader)
    for ws in subs + [trader]:
        await ws.close()
    return {"subscribers": CLIENTS, "updates": updates,
            "p50_us": round(_pct(latencies, 0.5) * 1e6),
            "p99_us": round(_pct(latencies, 0.99) * 1e6)}


async def _rtt_figures(port: int, rtt_n: int) -> dict[str, Any]:
    """Sequential order-to-ack round trips on one connection."""
    ws = await _connect(port)
    await _login(ws, 1)
    await _rtt(ws, min(200, rtt_n), False)
    await _cancel_all(ws)
    rtt = await _rtt(ws, rtt_n, False)
    await _cancel_all(ws)
    await ws.close()
    return {"rtt_p50_us": round(statistics.median(rtt) * 1e6),
            "rtt_p99_us": round(_pct(rtt, 0.99) * 1e6)}


async def _pipelined_once(port: int, n: int) -> tuple[float, int]:
    ws = await _connect(port)
    await _login(ws, 1)
    rate, errors = await _pipelined(ws, n)
    await _cancel_all(ws)
    await ws.close()
    return rate, errors


def _filesystem(path: str) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or '?'."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mount = fields[1]
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


async def _journal_runs(args: argparse.Namespace, rtt_n: int, pipe_n: int,
                        per_client: int) -> dict[str, Any]:
    """No journal and each fsync policy, measured alike. All the servers run at once (idle
    but one), and the throughput runs are interleaved across them, best of three, so a burst
    of load from elsewhere on the machine does not decide a ratio. Under ``batch`` the
    journaled servers run their fsyncs in a helper process (see
    ``exchange.journal.groupcommit``); its CPU counts against the machine, like the
    server's."""
    policies = [p for p in args.policies.split(",") if p]
    for policy in policies:
        if policy not in ("always", "batch", "none"):
            raise ValueError(f"unknown fsync policy {policy!r}")
    base = os.path.abspath(args.journal_dir or tempfile.gettempdir())
    out: dict[str, Any] = {"filesystem": _filesystem(base)}
    loop = asyncio.get_running_loop()
    names = ["no_journal", *policies]
    directories: dict[str, str] = {}
    children: dict[str, _Child] = {}
    figures: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            directory = tempfile.mkdtemp(prefix="cmx-bench-journal-", dir=base)
            shutil.rmtree(directory)  # open_journal creates it, funded
            directories[name] = directory
            policy = None if name == "no_journal" else name
            children[name] = await loop.run_in_executor(None, _Child, _gateway_main, policy,
                                                        directory)
        for name in names:
            figures[name] = await _rtt_figures(children[name].port, rtt_n)
        for name in names:
            figures[name].update(pipelined_orders_per_s=0, clients_orders_per_s=0, errors=0,
                                 pipelined_rounds=[], clients_rounds=[])
        for _ in range(3):
            for name in names:
                rate, errors = await _pipelined_once(children[name].port, pipe_n)
                f = figures[name]
                f["pipelined_rounds"].append(round(rate))
                f["pipelined_orders_per_s"] = max(f["pipelined_orders_per_s"], round(rate))
                f["errors"] += errors
        for _ in range(3):
            for name in names:
                many = await _many_clients(children[name].port, per_client)
                f = figures[name]
                f["clients_rounds"].append(many["orders_per_s"])
                f["clients_orders_per_s"] = max(f["clients_orders_per_s"], many["orders_per_s"])
                f["errors"] += many["errors"]
    finally:
        for name, child in children.items():
            counters = await loop.run_in_executor(None, child.stop)
            if name != "no_journal" and name in figures:
                figures[name].update(counters or {})
        for directory in directories.values():
            shutil.rmtree(directory, ignore_errors=True)
    plain = out["no_journal"] = figures["no_journal"]
    for policy in policies:
        f = figures[policy]
        f["pipelined_vs_no_journal"] = round(
            f["pipelined_orders_per_s"] / plain["pipelined_orders_per_s"], 2)
        f["clients_vs_no_journal"] = round(
            f["clients_orders_per_s"] / plain["clients_orders_per_s"], 2)
        f["rtt_p50_vs_no_journal"] = round(f["rtt_p50_us"] / plain["rtt_p50_us"], 2)
        # the same ratios round by round (each round runs every server back to back, so a
        # burst of load from elsewhere tends to hit a round, not a server)
        for kind in ("pipelined", "clients"):
            f[f"{kind}_vs_no_journal_by_round"] = [
                round(mine / theirs, 2) for mine, theirs in
                zip(f[f"{kind}_rounds"], plain[f"{kind}_rounds"], strict=True)]
        if f.get("fsyncs"):
            f["commands_per_fsync"] = round(f["commands"] / f["fsyncs"], 1)
        out[policy] = f
    return out


async def _measure(gw: _Child, echo: _Child, args: argparse.Namespace) -> dict[str, Any]:
    quick = getattr(args, "quick", False)
    rtt_n = 500 if quick else args.rtt_samples
    pipe_n = 2000 if quick else args.pipelined
    per_client = 20 if quick else args.orders_per_client
    fan_n = 30 if quick else args.fanout_updates

    echo_ws = await _connect(echo.port, "/")
    gw_ws = await _connect(gw.port)
    await _login(gw_ws, 1)
    await _rtt(echo_ws, min(200, rtt_n), True)  # warm up both
    await _rtt(gw_ws, min(200, rtt_n), False)
    await _cancel_all(gw_ws)
    echo_rtt = await _rtt(echo_ws, rtt_n, True)
    gw_rtt = await _rtt(gw_ws, rtt_n, False)
    await _cancel_all(gw_ws)
    # best of three, interleaved, so a burst of load from elsewhere on a shared machine
    # does not decide the ratio
    echo_rate = gw_rate = 0.0
    pipe_errors = 0
    for _ in range(3):
        rate, _ = await _pipelined(echo_ws, pipe_n)
        echo_rate = max(echo_rate, rate)
        rate, errors = await _pipelined(gw_ws, pipe_n)
        gw_rate = max(gw_rate, rate)
        pipe_errors += errors
        await _cancel_all(gw_ws)
    await echo_ws.close()
    await gw_ws.close()
    many = await _many_clients(gw.port, per_client)
    fan = await _fanout(gw.port, fan_n)

    def us(v: float) -> int:
        return round(v * 1e6)

    echo_p50, gw_p50 = statistics.median(echo_rtt), statistics.median(gw_rtt)
    report: dict[str, Any] = {
        "benchmark": "gateway",
        "quick": quick,
        "cpus": os.cpu_count(),
        "echo": {"rtt_p50_us": us(echo_p50), "rtt_p99_us": us(_pct(echo_rtt, 0.99)),
                 "pipelined_msgs_per_s": round(echo_rate)},
        "gateway": {"rtt_p50_us": us(gw_p50), "rtt_p99_us": us(_pct(gw_rtt, 0.99)),
                    "pipelined_orders_per_s": round(gw_rate),
                    "pipelined_errors": pipe_errors},
        "ratios": {"rtt_p50_vs_echo": round(gw_p50 / echo_p50, 2),
                   "pipelined_vs_echo": round(gw_rate / echo_rate, 2)},
        "concurrent_clients": many,
        "fanout": fan,
        "server_memory_kb": {"rss": 0, "peak": 0},
    }
    mem = gw.memory_kb()
    report["server_memory_kb"] = {"rss": mem.get("VmRSS", 0), "peak": mem.get("VmHWM", 0)}
    targets = {
        "rtt_p50_at_most_1.5x_echo": report["ratios"]["rtt_p50_vs_echo"] <= 1.5,
        "pipelined_at_least_0.6x_echo": report["ratios"]["pipelined_vs_echo"] >= 0.6,
        "100_clients_zero_errors": many["errors"] == 0 and pipe_errors == 0,
    }
    if args.policies:
        journal = await _journal_runs(args, rtt_n, pipe_n, per_client)
        report["journal"] = journal
        targets["journal_zero_errors"] = all(
            v["errors"] == 0 for k, v in journal.items() if isinstance(v, dict))
        if "batch" in journal:
            batch = journal["batch"]
            targets["group_commit_keeps_80pct_throughput"] = (
                batch["pipelined_vs_no_journal"] >= 0.8
                and batch["clients_vs_no_journal"] >= 0.8)
    report["targets"] = targets
    report["ok"] = all(targets.values())
    return report


def run(args: argparse.Namespace) -> dict[str, Any]:
    gw = _Child(_gateway_main)
    echo = _Child(_echo_main)
    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.timeout):
            return await _measure(gw, echo, args)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        raise TimeoutError(f"no result within --timeout {args.timeout:g} s") from None
    finally:
        gw.stop()
        echo.stop()


def render(report: dict[str, Any]) -> str:
    e, g, r = report["echo"], report["gateway"], report["ratios"]
    m, f, mem = report["concurrent_clients"], report["fanout"], report["server_memory_kb"]
    lines = [
        f"gateway benchmark{' (quick)' if report['quick'] else ''}, {report['cpus']} cpus",
        f"  RTT p50/p99      echo {e['rtt_p50_us']}/{e['rtt_p99_us']} us   "
        f"gateway order->ack {g['rtt_p50_us']}/{g['rtt_p99_us']} us   "
        f"ratio {r['rtt_p50_vs_echo']}x",
        f"  pipelined        echo {e['pipelined_msgs_per_s']} msg/s   "
        f"gateway {g['pipelined_orders_per_s']} orders/s   ratio {r['pipelined_vs_echo']}x",
        f"  {m['clients']} clients      {m['orders_per_s']} orders/s sustained, "
        f"{m['errors']} errors",
        f"  fan-out to {f['subscribers']}  p50 {f['p50_us']} us, p99 {f['p99_us']} us",
        f"  server memory    rss {mem['rss']} kB, peak {mem['peak']} kB",
    ]
    journal = report.get("journal")
    if journal:
        lines.append(f"  journal ({journal['filesystem']}): order->ack RTT p50/p99, pipelined "
                     f"and 100-client orders/s")
        for name in ("no_journal", "always", "batch", "none"):
            j = journal.get(name)
            if j is None:
                continue
            line = (f"    {name:<11} {j['rtt_p50_us']}/{j['rtt_p99_us']} us   "
                    f"{j['pipelined_orders_per_s']} pipelined   "
                    f"{j['clients_orders_per_s']} clients")
            if name != "no_journal":
                line += (f"   x{j['pipelined_vs_no_journal']} / x{j['clients_vs_no_journal']}"
                         f" of no journal")
                if j.get("commands_per_fsync"):
                    line += f", {j['commands_per_fsync']} commands per fsync"
            lines.append(line)
            if name != "no_journal":
                lines.append(f"{'':16}by round: pipelined "
                             f"{' '.join(str(x) for x in j['pipelined_vs_no_journal_by_round'])}"
                             f", clients "
                             f"{' '.join(str(x) for x in j['clients_vs_no_journal_by_round'])}")
    for name, met in report["targets"].items():
        lines.append(f"  target {name}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)
