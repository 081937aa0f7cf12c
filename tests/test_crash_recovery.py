"""Crash test: ``cmx serve --journal`` killed with SIGKILL at random moments under load.

Each round starts the server on the same journal, drives it from several pipelining clients
(placing, crossing, cancelling), and kills it while requests are in flight. Then, with the
server dead, the journal is replayed offline from genesis and checked against what the clients
were told:

* every acknowledged order is in the journal with its account and label, every acknowledged
  trade id too, and every acknowledged cancel cancelled its order;
* no order label (unique per request) was accepted twice, acknowledged or not;
* replay from the latest snapshot and from genesis give the same state, and its invariants hold.

The server is then restarted; its recovery report must show that same state, and through the
API the open orders, balances (conserved: the demo accounts plus the fee account hold exactly
the deposits) and book ``change_id`` (continuing, never reset) must match the offline replay.
The server is also killed during start-up (journal creation, recovery). Choices are seeded;
the kill moments depend on timing, so each run tries different cuts. Further tests below run
a journaled gateway in process: what a restart keeps, answers held until the commit, atomic
funded creation, a failed commit, and back-pressure under a slow disk.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from test_gateway_support import SECRETS as SUPPORT_SECRETS
from test_gateway_support import SPOT as SUPPORT_SPOT
from test_gateway_support import Env, close_env
from test_gateway_support import test_config as support_config
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from exchange.cli import build_parser
from exchange.core import USD, Engine
from exchange.core.messages import CANCELLED, OrderAccepted, OrderUpdated, Trade
from exchange.gateway import Gateway, Session
from exchange.gateway.config import RateLimitConfig, default_config
from exchange.gateway.durable import open_journal
from exchange.gateway.server import start_server
from exchange.journal import read_journal, replay
from exchange.journal.recovery import JOURNAL_FILE
from exchange.journal.snapshots import load_latest_snapshot

SPOT = "GPUH_USD"
ROUNDS = {"batch": 6, "none": 3, "always": 3}  # kills per fsync policy
CLIENTS = 4
WAIT = 10.0
SEED = 20261121
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ledger:
    """What the clients sent and what they were told, across all rounds."""

    acked_orders: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> acct, label
    acked_trades: set[int] = field(default_factory=set)
    acked_cancels: set[int] = field(default_factory=set)
    sent: int = 0
    answered: int = 0
    max_change_id: int = 0


def _config_file(tmp_path: Path) -> Path:
    config = msgspec.structs.replace(
        default_config(), port=0,
        rate_limit=RateLimitConfig(capacity=10**9, refill_per_second=10**9))
    path = tmp_path / "gateway.json"
    path.write_bytes(msgspec.json.encode(config))
    return path


class Server:
    """``cmx serve`` in a subprocess; logs go to files so a full pipe can never stall it."""

    def __init__(self, tmp_path: Path, journal: Path, config: Path, n: int,
                 policy: str) -> None:
        self.out = tmp_path / f"serve-{n}.out"
        self.err = tmp_path / f"serve-{n}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exchange.cli", "serve", "--config", str(config),
                 "--journal", str(journal), "--host", "127.0.0.1", "--port", "0",
                 "--fsync", policy, "--snapshot-every", "64", "--log-level", "INFO"],
                stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.port = 0

    async def ready(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/api/v2", self.err.read_text())
            if found:
                self.port = int(found.group(1))
                return self.port
            assert self.proc.poll() is None, f"cmx serve exited: {self.err.read_text()}"
            await asyncio.sleep(0.05)
        raise AssertionError("cmx serve did not start")

    def report(self) -> dict[str, str]:
        out = {}
        for line in self.out.read_text().splitlines():
            key, _, value = line.partition(": ")
            out[key] = value
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Client:
    """A pipelining raw JSON-RPC client that records every answer it gets."""

    def __init__(self, ws: Any, ledger: Ledger, account: int) -> None:
        self.ws = ws
        self.ledger = ledger
        self.account = account
        self.rid = 0
        self.pending: dict[int, tuple[str, Any]] = {}
        self.waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.open: list[int] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg.get("method") == "subscription":
                    data = msg["params"]["data"]
                    if isinstance(data, dict) and "change_id" in data:
                        self.ledger.max_change_id = max(self.ledger.max_change_id,
                                                        data["change_id"])
                    continue
                rid = msg.get("id")
                if rid in self.waiters:
                    self.waiters.pop(rid).set_result(msg)
                if rid in self.pending:
                    self._record(*self.pending.pop(rid), msg)
        except ConnectionClosed:
            pass

    def _record(self, kind: str, what: Any, msg: dict[str, Any]) -> None:
        self.ledger.answered += 1
        result = msg.get("result")
        if result is None:
            return
        if kind == "place":
            order = result["order"]
            oid = int(order["order_id"])
            assert order["label"] == what
            self.ledger.acked_orders[oid] = (self.account, what)
            self.ledger.acked_trades.update(int(t["trade_id"]) for t in result["trades"])
            if order["order_state"] == "open":
                self.open.append(oid)
        elif kind == "cancel":
            self.ledger.acked_cancels.add(int(what))

    async def send(self, method: str, params: dict[str, Any], kind: str = "",
                   what: Any = None) -> int:
        self.rid += 1
        if kind:
            self.pending[self.rid] = (kind, what)
            self.ledger.sent += 1
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": self.rid, "method": method,
                                       "params": params}))
        return self.rid

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[self.rid + 1] = fut
        await self.send(method, params or {})
        answer = await asyncio.wait_for(fut, WAIT)
        assert "result" in answer, answer
        return answer["result"]


async def _client(port: int, account: int, secret: str, ledger: Ledger) -> Client:
    ws = await asyncio.wait_for(connect(f"ws://127.0.0.1:{port}/ws/api/v2",
                                        close_timeout=0.5), WAIT)
    client = Client(ws, ledger, account)
    name = {1: "maker", 2: "taker", 3: "bot"}[account]
    await client.call("public/auth", {"grant_type": "client_credentials", "client_id": name,
                                      "client_secret": secret})
    return client


async def _drive(client: Client, rng: random.Random, tag: str) -> None:
    """Random orders around 1.000 (so they cross) and cancels, up to 16 in flight."""
    n = 0
    try:
        while True:
            while len(client.pending) >= 16:
                if client.reader.done():
                    return  # the server is gone
                await asyncio.sleep(0.001)
            n += 1
            if client.open and rng.random() < 0.3:
                oid = client.open.pop(rng.randrange(len(client.open)))
                await client.send("private/cancel", {"order_id": str(oid)}, "cancel", oid)
            else:
                side = rng.choice(("private/buy", "private/sell"))
                price = f"{1 + rng.randint(-8, 8) / 1000:.3f}"
                label = f"{tag}-{n}"
                await client.send(side, {"instrument_name": SPOT, "price": price,
                                         "amount": rng.randint(1, 5), "label": label},
                                  "place", label)
            if n % 8 == 0:
                await asyncio.sleep(0)
    except ConnectionClosed:
        return


def _replay_from_genesis(journal: Path) -> tuple[Engine, dict[str, Any]]:
    """Re-apply every journaled command to the genesis snapshot, collecting what happened."""
    content, _ = load_latest_snapshot(journal, max_seq=0)
    assert content is not None
    engine = Engine.from_snapshot(content["state"])
    entries, _, _ = read_journal(journal / JOURNAL_FILE)
    accepted: dict[int, tuple[int, str | None]] = {}
    labels: collections.Counter[str] = collections.Counter()
    trades: set[int] = set()
    cancelled: set[int] = set()
    for entry in entries:
        assert entry.seq == engine.seq + 1
        for event in engine.apply(entry.command, entry.ts):
            kind = type(event)
            if kind is OrderAccepted:
                assert event.order_id not in accepted
                accepted[event.order_id] = (event.account, event.label)
                if event.label:
                    labels[event.label] += 1
            elif kind is Trade:
                assert event.trade_id not in trades
                trades.add(event.trade_id)
            elif kind is OrderUpdated and event.status == CANCELLED:
                cancelled.add(event.order_id)
    return engine, {"accepted": accepted, "labels": labels, "trades": trades,
                    "cancelled": cancelled}


def _check_journal(journal: Path, ledger: Ledger) -> Engine:
    engine, seen = _replay_from_genesis(journal)
    engine.check_invariants()
    from_snapshot, _ = replay(journal)
    assert from_snapshot.state_hash() == engine.state_hash()
    for oid, (account, label) in ledger.acked_orders.items():
        assert seen["accepted"].get(oid) == (account, label), f"acked order {oid} lost"
    assert ledger.acked_trades <= seen["trades"], "an acknowledged trade is missing"
    assert ledger.acked_cancels <= seen["cancelled"], "an acknowledged cancel is missing"
    twice = [label for label, count in seen["labels"].items() if count > 1]
    assert not twice, f"orders accepted twice: {twice[:5]}"
    return engine


async def _check_api(port: int, engine: Engine, deposits: dict[str, Decimal],
                     secrets: dict[int, str], ledger: Ledger) -> None:
    totals: dict[str, Decimal] = collections.defaultdict(Decimal)
    spec = engine.registry.by_name[SPOT]
    for account, secret in secrets.items():
        client = await _client(port, account, secret, Ledger())
        client.ledger = Ledger()
        try:
            listed = {int(o["order_id"]) for o in await client.call("private/get_open_orders")}
            assert listed == set(engine.accounts[account].open_orders), account
            for currency in (USD, "GPUH"):
                summary = await client.call("private/get_account_summary",
                                            {"currency": currency})
                totals[currency] += Decimal(str(summary["balance"]))
            if account == 1:
                # A resubscribing client sees the change_id where the journal left it: never
                # reset, and never behind a change some client was already notified of.
                probe = Ledger()
                client.ledger = probe
                await client.send("public/subscribe", {"channels": [f"book.{SPOT}.raw"]})
                async with asyncio.timeout(WAIT):
                    while not probe.max_change_id:
                        await asyncio.sleep(0.01)
                assert probe.max_change_id == engine.change_ids[SPOT]
                assert probe.max_change_id >= ledger.max_change_id
        finally:
            await client.ws.close()
    fees = engine.accounts.get(0)
    fee_usd = Decimal(fees.cash) / 10**6 if fees else Decimal(0)
    fee_gpuh = Decimal(str(spec.lots_to_amount(fees.assets.get("GPUH", 0)))) if fees else 0
    assert totals[USD] + fee_usd == deposits[USD]
    assert totals["GPUH"] + fee_gpuh == deposits["GPUH"]


@pytest.mark.parametrize("policy", sorted(ROUNDS))
async def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path, policy: str
                                                            ) -> None:
    """Every policy survives a crash of the process (``none`` only that: the OS still has
    the written data; machine crashes are not simulated here)."""
    rounds = ROUNDS[policy]
    config_path = _config_file(tmp_path)
    config = default_config()
    secrets = {a.id: a.client_secret for a in config.accounts}
    deposits = {asset: sum((Decimal(a.deposits.get(asset, "0")) for a in config.accounts),
                           Decimal(0)) for asset in (USD, "GPUH")}
    journal = tmp_path / "journal"
    rng = random.Random(f"{SEED}-{policy}")
    ledger = Ledger()
    truncated_rounds = 0
    engine = Engine()  # replaced by the journal's state after every kill
    started = time.monotonic()
    early_kills = 0
    # A kill during start-up: while the journal is being created (first start) or recovered.
    server = Server(tmp_path, journal, config_path, 100, policy)
    await asyncio.sleep(rng.uniform(0.0, 0.6))
    server.kill()
    early_kills += 1
    server = Server(tmp_path, journal, config_path, 0, policy)
    try:
        for round_no in range(rounds):
            port = await server.ready()
            if round_no:
                report = server.report()
                assert report["state hash"] == engine.state_hash()
                assert int(report["final seq"]) == engine.seq
                truncated_rounds += report["torn tail truncated"] != "0 bytes"
                await _check_api(port, engine, deposits, secrets, ledger)
            clients = [await _client(port, 1 + i % 3, secrets[1 + i % 3], ledger)
                       for i in range(CLIENTS)]
            await clients[0].send("public/subscribe", {"channels": [f"book.{SPOT}.raw"]})
            tasks = [asyncio.create_task(_drive(c, random.Random(rng.random()),
                                                f"r{round_no}c{i}"))
                     for i, c in enumerate(clients)]
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            server.kill()  # mid-flight: requests are outstanding on every client
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*tasks)
                for c in clients:
                    await c.reader
            engine = _check_journal(journal, ledger)
            if rng.random() < 0.5:
                server = Server(tmp_path, journal, config_path, 200 + round_no, policy)
                await asyncio.sleep(rng.uniform(0.0, 0.6))
                server.kill()  # during recovery
                early_kills += 1
                assert _check_journal(journal, ledger).state_hash() == engine.state_hash()
            server = Server(tmp_path, journal, config_path, round_no + 1, policy)
        port = await server.ready()
        await _check_api(port, engine, deposits, secrets, ledger)
    finally:
        server.kill()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange.cli", "replay", str(journal), "--check",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and b"invariants: ok" in out
    assert f"state hash: {engine.state_hash()}".encode() in out
    # the run did what it claims: real traffic, most of it acknowledged, some cut off
    assert len(ledger.acked_orders) > 20 * rounds
    assert ledger.answered < ledger.sent
    print(f"crash test ({policy}): {rounds} kills under load, {early_kills} during "
          f"start-up, {ledger.sent} requests sent, {ledger.answered} answered, "
          f"{len(ledger.acked_orders)} acknowledged orders, {len(ledger.acked_trades)} trades, "
          f"{len(ledger.acked_cancels)} cancels checked, {truncated_rounds} torn tails "
          f"truncated, {time.monotonic() - started:.1f} s")


# -- the journaled gateway in process ------------------------------------------------------------
async def _journaled_env(directory: Path, policy: str = "batch") -> Env:
    journal = open_journal(directory, support_config(), policy=policy, snapshot_every=8)
    gateway = Gateway(support_config(), journal=journal)
    server = await start_server(gateway, "127.0.0.1", 0)
    return Env(gateway, server)


async def _positions(client: Any) -> dict[str, tuple[str, Any, Any]]:
    held = await client.result("private/get_positions", {"currency": "any"})
    return {p["instrument_name"]: (p["direction"], p["size"], p["average_price"])
            for p in held if p["size"]}


async def test_restart_keeps_open_orders_positions_and_change_ids(tmp_path: Path) -> None:
    """What a restart keeps: open orders (listable, editable, cancellable), balances and
    positions, and the book's change_id, which continues instead of restarting at 1. Closed
    orders and trade history are the gateway's memory, not the engine's, and start empty."""
    env = await _journaled_env(tmp_path / "j")
    try:
        alice, bob = await env.rpc("alice"), await env.rpc("bob")
        resting = (await alice.result("private/sell", {"instrument_name": SUPPORT_SPOT,
                                                       "amount": 5, "price": 2,
                                                       "label": "keep"}))["order"]
        other = (await alice.result("private/buy", {"instrument_name": SUPPORT_SPOT,
                                                    "amount": 1, "price": 1}))["order"]
        await bob.result("private/buy", {"instrument_name": SUPPORT_SPOT, "amount": 2,
                                         "price": 2})
        future = [s for s in env.gateway.venue.engine.registry if s.kind == "future"][-1].name
        fut_order = (await alice.result("private/sell", {"instrument_name": future,
                                                         "amount": 3, "price": 2}))["order"]
        await bob.result("private/buy", {"instrument_name": future, "amount": 2, "price": 2})
        positions = await _positions(bob)
        assert positions == {future: ("buy", 2, 2.0)}
        await bob.result("public/subscribe", {"channels": [f"book.{SUPPORT_SPOT}.raw"]})
        before_change = (await bob.note(f"book.{SUPPORT_SPOT}.raw"))["params"]["data"]
        summary = await alice.result("private/get_account_summary", {"currency": "GPUH"})
        hash_before = env.gateway.venue.engine.state_hash()
    finally:
        await close_env(env)  # no clean journal close: a crash after the last release
    env = await _journaled_env(tmp_path / "j")
    try:
        assert env.gateway.venue.journal is not None
        report = env.gateway.venue.journal.report
        assert report is not None and report.state_hash == hash_before
        alice, bob = await env.rpc("alice"), await env.rpc("bob")
        listed = {o["order_id"]: o for o in await alice.result("private/get_open_orders")}
        assert set(listed) == {resting["order_id"], other["order_id"], fut_order["order_id"]}
        kept = listed[resting["order_id"]]
        assert kept["label"] == "keep" and kept["filled_amount"] == 2 and kept["amount"] == 5
        assert await alice.result("private/get_account_summary", {"currency": "GPUH"}) \
            == summary  # and the deposits were not applied a second time
        assert await _positions(bob) == positions
        assert await _positions(alice) == {future: ("sell", -2, 2.0)}
        assert len(await alice.result("private/get_open_orders_by_instrument",
                                      {"instrument_name": future})) == 1
        await bob.result("public/subscribe", {"channels": [f"book.{SUPPORT_SPOT}.raw"]})
        snap = (await bob.note(f"book.{SUPPORT_SPOT}.raw"))["params"]["data"]
        assert snap["change_id"] == before_change["change_id"] > 1
        edited = await alice.result("private/edit", {"order_id": resting["order_id"],
                                                     "amount": 4, "price": 2.5})
        assert edited["order"]["amount"] == 4
        note = (await bob.note(f"book.{SUPPORT_SPOT}.raw"))["params"]["data"]
        assert note["prev_change_id"] == snap["change_id"]
        assert note["change_id"] > snap["change_id"]
        cancelled = await alice.result("private/cancel", {"order_id": other["order_id"]})
        assert cancelled["order_state"] == "cancelled"
        placed = await alice.result("private/buy", {"instrument_name": SUPPORT_SPOT,
                                                    "amount": 1, "price": 1})
        assert int(placed["order"]["order_id"]) > int(resting["order_id"])
        env.gateway.venue.engine.check_invariants()
    finally:
        await close_env(env)


def test_answers_are_held_until_the_commit(tmp_path: Path) -> None:
    """Sans-I/O: under ``batch`` a command's answer and notifications wait for release();
    a read with nothing uncommitted is answered at once; under ``always`` nothing waits."""
    journal = open_journal(tmp_path / "b", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    scheduled: list[int] = []
    gateway.on_hold = lambda: scheduled.append(1)
    out: list[bytes] = []
    session = Session(gateway, out.append)
    session.receive('{"id":1,"method":"public/auth","params":{"grant_type":'
                    '"client_credentials","client_id":"alice","client_secret":"'
                    + SUPPORT_SECRETS["alice"] + '"}}')
    assert len(out) == 1  # nothing journaled: answered at once
    session.receive('{"id":2,"method":"private/buy","params":{"instrument_name":"'
                    + SUPPORT_SPOT + '","amount":1,"price":1}}')
    assert out[1:] == [] and scheduled == [1] and gateway.venue.uncommitted()
    size = (tmp_path / "b" / JOURNAL_FILE).stat().st_size
    session.receive('{"id":3,"method":"public/get_time"}')  # queued behind the held answer
    assert out[1:] == [] and scheduled == [1]
    gateway.release()
    assert (tmp_path / "b" / JOURNAL_FILE).stat().st_size > size
    assert [json.loads(m)["id"] for m in out[1:]] == [2, 3]
    journal.close()
    always = open_journal(tmp_path / "a", support_config(), policy="always")
    gateway = Gateway(support_config(), journal=always)
    out.clear()
    session = Session(gateway, out.append)
    session.receive('{"id":1,"method":"public/auth","params":{"grant_type":'
                    '"client_credentials","client_id":"bob","client_secret":"'
                    + SUPPORT_SECRETS["bob"] + '"}}')
    session.receive('{"id":2,"method":"private/buy","params":{"instrument_name":"'
                    + SUPPORT_SPOT + '","amount":1,"price":1}}')
    assert [json.loads(m)["id"] for m in out] == [1, 2] and not gateway.held
    always.close()


def test_journal_creation_is_funded_once_and_atomic(tmp_path: Path) -> None:
    config = support_config()
    target = tmp_path / "j"
    (tmp_path / "j.creating").mkdir()  # left by a crash during an earlier creation
    (tmp_path / "j.creating" / "junk").write_text("x")
    journal = open_journal(target, config)
    assert journal.report is None and not (tmp_path / "j.creating").exists()
    cash = journal.engine.accounts[1].cash
    assert cash > 0
    journal.close()
    again = open_journal(target, config)
    assert again.report is not None and again.engine.accounts[1].cash == cash
    again.close()
    stranger = tmp_path / "not-a-journal"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        open_journal(stranger, config)


def test_serve_journal_flags() -> None:
    args = build_parser().parse_args(["serve", "--journal", "d", "--fsync", "always",
                                      "--snapshot-every", "10"])
    assert (args.journal, args.fsync, args.snapshot_every) == ("d", "always", 10)
    assert build_parser().parse_args(["serve"]).fsync == "batch"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--fsync", "sometimes"])


def test_a_failed_commit_acknowledges_nothing_more(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "f", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    out: list[bytes] = []
    session = Session(gateway, out.append)
    session.receive('{"id":1,"method":"public/auth","params":{"grant_type":'
                    '"client_credentials","client_id":"alice","client_secret":"'
                    + SUPPORT_SECRETS["alice"] + '"}}')

    def broken_disk() -> None:
        raise OSError(5, "Input/output error")

    journal.writer.sync = broken_disk  # type: ignore[method-assign]
    session.receive('{"id":2,"method":"private/buy","params":{"instrument_name":"'
                    + SUPPORT_SPOT + '","amount":1,"price":1}}')
    with pytest.raises(OSError):
        gateway.release()
    assert gateway.halted and len(out) == 1
    session.receive('{"id":3,"method":"public/get_time"}')
    with pytest.raises(RuntimeError):
        gateway.release()
    assert len(out) == 1  # nothing after the failure leaves, not even a read


async def test_a_slow_disk_back_pressures_a_pipelining_client(tmp_path: Path) -> None:
    """While fsyncs are slow, a client pipelining orders is not read from once its answers
    waiting for the journal reach the connection's limit: held messages stay bounded, and
    every order is still answered once it is durable."""
    journal = open_journal(tmp_path / "s", support_config(), policy="batch")
    gateway = Gateway(support_config(outbound_queue=20), journal=journal)
    def slow_fsync(fd: int) -> None:
        time.sleep(0.02)
        os.fsync(fd)

    journal.writer.fsync = slow_fsync
    most = 0
    deliver = gateway.deliver

    def counting(session: Session, item: Any) -> None:
        nonlocal most
        deliver(session, item)
        most = max(most, len(gateway.held))

    gateway.deliver = counting  # type: ignore[method-assign]
    server = await start_server(gateway, "127.0.0.1", 0)
    env = Env(gateway, server)
    try:
        c = await env.rpc("alice")
        answers = await asyncio.gather(*(c.call("private/buy", {
            "instrument_name": SUPPORT_SPOT, "amount": 1, "price": 1}) for _ in range(300)))
        assert all("result" in a for a in answers)
        assert journal.writer.fsyncs < 300  # grouped
        assert most <= 60, most  # high water 10, plus what one read burst brings
    finally:
        await close_env(env)
        journal.close()
