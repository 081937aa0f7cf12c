"""Pipelined group commit: batches written while an fsync is in flight, and what may leave.

The guarantee under test (docs/reliability.md): under ``batch``, no message leaves the gateway
(an acknowledgement, a private or public notification, the answer to a read) before every
command applied before that message was produced is in a part of the journal file that an
fsync has covered. The tests check it against the file itself, not against the writer's own
bookkeeping: an injected fsync looks at what the journal file holds when it is called, and
only after the real fsync returns does it count those commands as durable.

* sans-I/O and deterministic: a batch written *during* an fsync is not released by it, the
  batch before it is; a synchronous commit releases everything once and only once;
* ``JournalWriter``: an fsync failure is sticky (fsyncgate), fsyncs never overlap;
* ``SyncThread``: requests made during an fsync coalesce into the next one, which covers them;
  a failure stops it and is reported;
* over 127.0.0.1 with 60 concurrent clients and a slowed-down fsync: every message that leaves
  is covered by a finished fsync, every order is answered, batches overlap for real;
* a failing fsync under load: the server fails, nothing it had not made durable is ever
  acknowledged, and nothing at all leaves afterwards;
* the fsync helper process: it covers what was requested, a real failing fsync (of a pipe)
  is an error, and a killed helper stops the server without a silent acknowledgement.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_gateway_support import SECRETS, SPOT, WAIT, Env, close_env
from test_gateway_support import test_config as support_config

from exchange.gateway import Gateway, Session
from exchange.gateway.durable import open_journal
from exchange.gateway.server import start_server
from exchange.journal import JournalWriter, read_journal
from exchange.journal.groupcommit import SyncProcess, SyncThread
from exchange.journal.journal import JournalFailedError
from exchange.journal.recovery import JOURNAL_FILE


def _auth(session: Session, client_id: str, rid: int = 1) -> None:
    session.receive(json.dumps({"id": rid, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": SECRETS[client_id]}}))


def _buy(session: Session, rid: int, price: str, label: str) -> None:
    session.receive(json.dumps({"id": rid, "method": "private/buy", "params": {
        "instrument_name": SPOT, "amount": 1, "price": price, "label": label}}))


def _ids(out: list[bytes]) -> list[Any]:
    return [json.loads(m).get("id") for m in out if b'"id"' in m]


def _max_seq_in_file(path: Path) -> int:
    entries, _, _ = read_journal(path)
    return entries[-1].seq if entries else 0


# -- sans-I/O, deterministic --------------------------------------------------------------------
def test_a_batch_written_during_an_fsync_waits_for_its_own(tmp_path: Path) -> None:
    """Batch 1 is written and its fsync starts; while it runs, batch 2 is applied and written
    (double buffering). The fsync returns: batch 1's answer and notifications leave, batch
    2's do not, not even the book update a subscriber would see; the next fsync releases it."""
    journal = open_journal(tmp_path / "j", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    gateway.on_hold = lambda: None  # the test plays the server's part
    alice_out: list[bytes] = []
    watcher_out: list[bytes] = []
    alice = Session(gateway, alice_out.append)
    watcher = Session(gateway, watcher_out.append)
    _auth(alice, "alice")
    watcher.receive(json.dumps({"id": 1, "method": "public/subscribe",
                                "params": {"channels": [f"book.{SPOT}.raw"]}}))
    gateway.release()
    assert _ids(alice_out) == [1] and _ids(watcher_out) == [1]
    sent_before = len(watcher_out)

    _buy(alice, 2, "1", "first")
    first = gateway.start_commit()
    assert first == journal.engine.seq and _ids(alice_out) == [1]  # written, not durable
    inside: dict[str, Any] = {}

    def fsync_while_the_loop_works(fd: int) -> None:
        # called after the writer decided what this fsync covers: the loop, meanwhile,
        # applies and writes the next batch
        _buy(alice, 3, "1.23", "second")
        inside["second"] = gateway.start_commit()
        inside["ids"] = _ids(alice_out)
        os.fsync(fd)

    journal.writer.fsync = fsync_while_the_loop_works
    assert gateway.venue.sync_journal() == first
    assert inside["second"] > first and inside["ids"] == [1]
    assert _max_seq_in_file(tmp_path / "j" / JOURNAL_FILE) == inside["second"]  # written
    gateway.finish_commit()
    assert _ids(alice_out) == [1, 2]
    revealed = b"".join(alice_out + watcher_out)
    assert b"second" not in revealed and b"1.23" not in revealed
    assert len(watcher_out) > sent_before  # batch 1's book update did leave

    journal.writer.fsync = os.fsync
    assert gateway.venue.sync_journal() == inside["second"]
    gateway.finish_commit()
    assert _ids(alice_out) == [1, 2, 3]
    assert b"1.23" in b"".join(watcher_out)
    assert not gateway.waiting and not gateway.held and not gateway.venue.uncommitted()
    journal.close()


def test_a_synchronous_commit_releases_pending_batches_once(tmp_path: Path) -> None:
    """An HTTP answer commits synchronously while a batch's asynchronous fsync is still in
    flight: everything goes out, in order, once; the late fsync then sends nothing twice."""
    journal = open_journal(tmp_path / "j", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    gateway.on_hold = lambda: None
    out: list[bytes] = []
    alice = Session(gateway, out.append)
    _auth(alice, "alice")
    _buy(alice, 2, "1", "a")
    assert gateway.start_commit() is not None
    _buy(alice, 3, "1", "b")
    status, body = gateway.http("/api/v2/public/get_time", {})
    assert status == 200 and b"result" in body
    assert _ids(out) == [1, 2, 3] and not gateway.waiting
    gateway.venue.sync_journal()  # the fsync that was "in flight" returns late
    gateway.finish_commit()
    assert _ids(out) == [1, 2, 3]
    journal.close()


def test_messages_wait_for_every_earlier_command_not_only_their_own(tmp_path: Path) -> None:
    """A read answered while another connection's order waits for its fsync is held too:
    its answer could reveal that order (order book, open orders)."""
    journal = open_journal(tmp_path / "j", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    gateway.on_hold = lambda: None
    alice_out: list[bytes] = []
    bob_out: list[bytes] = []
    alice, bob = Session(gateway, alice_out.append), Session(gateway, bob_out.append)
    _auth(alice, "alice")
    _auth(bob, "bob")
    gateway.release()
    _buy(alice, 2, "1.23", "hidden")
    gateway.start_commit()
    bob.receive(json.dumps({"id": 2, "method": "public/get_order_book",
                            "params": {"instrument_name": SPOT}}))
    gateway.start_commit()  # the server's next turn: nothing new to write, still not durable
    assert _ids(bob_out) == [1]
    gateway.venue.sync_journal()
    gateway.finish_commit()
    assert _ids(bob_out) == [1, 2] and b"1.23" in bob_out[-1]
    journal.close()


# -- JournalWriter ------------------------------------------------------------------------------
def _writer_with_entries(tmp_path: Path, n: int) -> JournalWriter:
    from exchange.core.messages import Tick

    writer = JournalWriter(tmp_path / "journal.cmxj", "batch")
    for seq in range(1, n + 1):
        writer.append(seq, seq, Tick())
    return writer


def test_a_failed_fsync_is_final(tmp_path: Path) -> None:
    """After an fsync failed, a later fsync that succeeds proves nothing (the kernel may have
    dropped the pages it could not write): the writer never reports anything durable again."""
    writer = _writer_with_entries(tmp_path, 3)
    calls: list[int] = []

    def failing_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")

    writer.fsync = failing_once
    assert writer.write_out()
    with pytest.raises(OSError):
        writer.sync()
    assert writer.durable_seq == 0 and writer.undurable
    for attempt in (writer.sync, writer.commit, writer.write_out):
        with pytest.raises(JournalFailedError):
            attempt()
    assert len(calls) == 1 and writer.durable_seq == 0  # no second fsync was even tried
    writer.close()  # closes the file without claiming anything


def test_fsyncs_never_overlap(tmp_path: Path) -> None:
    """Two threads syncing the same writer take turns (an overlapping fsync could return
    success while its twin saw the error)."""
    writer = _writer_with_entries(tmp_path, 2)
    writer.write_out()
    inside = threading.Event()
    release = threading.Event()
    active = [0]
    most = [0]

    def slow(fd: int) -> None:
        active[0] += 1
        most[0] = max(most[0], active[0])
        inside.set()
        release.wait(WAIT)
        active[0] -= 1

    writer.fsync = slow
    first = threading.Thread(target=writer.sync)
    second = threading.Thread(target=writer.sync)
    first.start()
    assert inside.wait(WAIT)
    second.start()
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert most[0] == 1 and writer.fsyncs == 2 and writer.durable_seq == 2
    writer.close()


def test_sync_covers_only_what_was_written_before_it(tmp_path: Path) -> None:
    writer = _writer_with_entries(tmp_path, 2)
    writer.write_out()
    from exchange.core.messages import Tick

    def write_more_meanwhile(fd: int) -> None:
        writer.append(3, 3, Tick())
        writer.write_out()

    writer.fsync = write_more_meanwhile
    assert writer.sync() == 2 and writer.durable_seq == 2 and writer.written_seq == 3
    writer.fsync = os.fsync
    assert writer.sync() == 3
    writer.close()


# -- SyncThread ---------------------------------------------------------------------------------
def test_requests_during_an_fsync_coalesce_into_the_next() -> None:
    started = threading.Semaphore(0)
    go = threading.Semaphore(0)
    written = [1]
    covered: list[int] = []
    notified = threading.Semaphore(0)

    def sync() -> int:
        target = written[0]
        started.release()
        assert go.acquire(timeout=WAIT)
        covered.append(target)
        return target

    syncer = SyncThread(sync, notified.release)
    try:
        syncer.request(1)
        assert started.acquire(timeout=WAIT)  # fsync 1 in flight, covering seq 1
        for seq in (2, 3, 4):  # the loop writes and requests three more batches meanwhile
            written[0] = seq
            syncer.request(seq)
        go.release()
        assert notified.acquire(timeout=WAIT)
        assert started.acquire(timeout=WAIT)  # one more fsync, for all three
        go.release()
        assert notified.acquire(timeout=WAIT)
        assert covered == [1, 4] and syncer.covered == 4 and syncer.syncs == 2
        syncer.request(4)  # nothing new: no fsync
        syncer.request(3)
    finally:
        syncer.close(WAIT)
    assert covered == [1, 4] and not syncer.alive and syncer.error is None


def test_a_failing_sync_stops_the_thread_and_is_reported() -> None:
    notified = threading.Semaphore(0)
    calls = [0]

    def sync() -> int:
        calls[0] += 1
        raise OSError(errno.EIO, "Input/output error")

    syncer = SyncThread(sync, notified.release)
    syncer.request(1)
    assert notified.acquire(timeout=WAIT)
    syncer.close(WAIT)
    assert isinstance(syncer.error, OSError) and not syncer.alive
    syncer.request(2)  # ignored: the thread is gone, and nothing claims durability
    assert calls[0] == 1 and syncer.covered == 0


def test_close_finishes_what_was_requested() -> None:
    done: list[int] = []
    syncer = SyncThread(lambda: done.append(1) or 1, lambda: None)
    syncer.request(1)
    syncer.close(WAIT)
    assert done == [1] and syncer.covered == 1


# -- over real sockets --------------------------------------------------------------------------
class DurabilityOracle:
    """Wraps the journal's fsync: what the file holds when an fsync is called is durable once
    it returns. Records every message the server hands to a socket with the engine's sequence
    number when the message was produced, and flags any that leaves before that sequence
    number is durable."""

    def __init__(self, gateway: Gateway, path: Path, delay: float,
                 fail_at: int | None = None, overlap_first: int = 0) -> None:
        self.gateway = gateway
        self.path = path
        self.delay = delay
        self.fail_at = fail_at
        self.durable = self.initial_durable = gateway.venue.engine.seq
        self.calls = 0
        self.failed = False
        self.produced: dict[int, tuple[bytes, int]] = {}
        self.violations: list[str] = []
        self.sent = 0
        self.sent_after_failure = 0
        self.writes_during_fsync = 0
        self.overlap_first = overlap_first
        self._written_meanwhile = threading.Event()
        self._released = threading.Event()  # a message left after a successful fsync
        self._in_fsync = False
        journal = gateway.venue.journal
        assert journal is not None
        self.writer = journal.writer
        self._real_fsync = self.writer.fsync
        self.writer.fsync = self.fsync
        original_deliver = gateway.deliver

        def deliver(session: Session, item: Any) -> None:
            if type(item) is bytes:
                self.produced[id(item)] = (item, gateway.venue.engine.seq)
            original_deliver(session, item)

        gateway.deliver = deliver  # type: ignore[method-assign]
        original_write_out = self.writer.write_out

        def write_out() -> bool:
            wrote = original_write_out()
            if wrote and self._in_fsync:
                self.writes_during_fsync += 1
                self._written_meanwhile.set()
            return wrote

        self.writer.write_out = write_out  # type: ignore[method-assign]

    def fsync(self, fd: int) -> None:
        self.calls += 1
        covers = _max_seq_in_file(self.path)
        self._written_meanwhile.clear()
        self._in_fsync = True
        try:
            time.sleep(self.delay)  # a slow disk: the loop writes further batches meanwhile
            if self.calls <= self.overlap_first:  # make sure it does, if traffic goes on
                self._written_meanwhile.wait(WAIT)
            if self.fail_at is not None and self.calls >= self.fail_at:
                # fail only once what the earlier fsyncs covered has started to leave, so the
                # test sees both sides of the failure whatever the machine's load
                self._released.wait(WAIT)
                self.failed = True
                raise OSError(errno.EIO, "Input/output error")
            self._real_fsync(fd)
        finally:
            self._in_fsync = False
        self.durable = max(self.durable, covers)

    def check_send(self, item: bytes) -> None:
        self.sent += 1
        if self.durable > self.initial_durable:
            self._released.set()
        # After the server has learned of the failure nothing may leave. (Between the failing
        # fsync and that moment, messages an earlier fsync made durable may still go out;
        # whether they are durable is what ``violations`` checks.)
        if self.gateway.halted:
            self.sent_after_failure += 1
        entry = self.produced.get(id(item))
        if entry is not None and entry[0] is item and entry[1] > self.durable:
            self.violations.append(f"sent a message produced at seq {entry[1]} with only "
                                   f"{self.durable} durable: {item[:120]!r}")


@pytest.fixture(name="oracle_env")
def oracle_env_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    async def make(delay: float, fail_at: int | None = None,
                   overlap_first: int = 0) -> tuple[Env, DurabilityOracle]:
        journal = open_journal(tmp_path / "j", support_config(), policy="batch",
                               snapshot_every=0)
        gateway = Gateway(support_config(), journal=journal)
        oracle = DurabilityOracle(gateway, tmp_path / "j" / JOURNAL_FILE, delay, fail_at,
                                  overlap_first)
        raw_push = Session.raw_push

        def checked(session: Session, data: bytes) -> None:
            if session.gateway is gateway:
                oracle.check_send(data)
            raw_push(session, data)

        monkeypatch.setattr(Session, "raw_push", checked)
        server = await start_server(gateway, "127.0.0.1", 0)
        return Env(gateway, server), oracle

    return make


async def test_many_concurrent_clients_never_see_an_undurable_message(oracle_env: Any) -> None:
    """60 connections (two accounts, crossing orders, a public book subscriber, order
    subscribers) against a slow fsync: 40 clients wait for each answer, 20 keep sending
    without waiting, so batches are written while an fsync runs (the first fsyncs wait until
    one has been). Every message that leaves (answers, book and order notifications) is
    covered by an fsync that had finished."""
    env, oracle = await oracle_env(delay=0.002, overlap_first=3)
    try:
        watcher = await env.rpc()
        await watcher.result("public/subscribe", {"channels": [f"book.{SPOT}.raw"]})
        clients = [await env.rpc("alice" if i % 2 else "bob") for i in range(60)]
        for client in clients[:4]:
            await client.result("private/subscribe",
                                {"channels": ["user.orders.any.any.raw"]})

        def order(n: int, k: int) -> tuple[str, dict[str, Any]]:
            return ("private/buy" if n % 2 else "private/sell",
                    {"instrument_name": SPOT, "amount": 1, "price": "1" if k % 2 else "1.1",
                     "label": f"c{n}-{k}"})

        async def one_at_a_time(n: int, client: Any) -> list[dict[str, Any]]:
            return [await client.call(*order(n, k)) for k in range(8)]

        async def without_waiting(n: int, client: Any) -> list[dict[str, Any]]:
            calls = []
            for k in range(8):
                calls.append(asyncio.create_task(client.call(*order(n, k))))
                await asyncio.sleep(0.002)
            return list(await asyncio.gather(*calls))

        results = await asyncio.gather(
            *(one_at_a_time(n, c) for n, c in enumerate(clients[:40])),
            *(without_waiting(n, c) for n, c in enumerate(clients[40:], start=40)))
        answers = [a for group in results for a in group]
        assert len(answers) == 480 and all("result" in a for a in answers), answers[:3]
        assert oracle.violations == []
        assert oracle.sent > 480  # answers plus notifications were checked
        assert oracle.writes_during_fsync > 0  # batches really were written during fsyncs
        assert 1 < env.gateway.venue.journal.writer.fsyncs < 480  # grouped  # type: ignore
        env.gateway.venue.engine.check_invariants()
    finally:
        await close_env(env)
        env.gateway.venue.journal.close()  # type: ignore[union-attr]


async def test_a_failing_fsync_is_an_error_never_a_silent_ack(oracle_env: Any) -> None:
    """The second fsync fails while 20 clients keep sending orders (the first fsync waits
    until a batch has been written during it): the server reports the failure, the orders
    the first fsync covered are acknowledged, none after them is, and nothing at all leaves
    afterwards, not even the answer to a read."""
    env, oracle = await oracle_env(delay=0.002, fail_at=2, overlap_first=1)
    try:
        clients = [await env.rpc("alice" if i % 2 else "bob") for i in range(20)]

        async def flood(n: int, client: Any) -> None:
            for k in range(30):
                await client.ws.send(json.dumps({
                    "jsonrpc": "2.0", "id": 10_000 + k, "method": "private/buy",
                    "params": {"instrument_name": SPOT, "amount": 1, "price": "1",
                               "label": f"f{n}-{k}"}}))
                await asyncio.sleep(0.001)

        await asyncio.gather(*(flood(n, c) for n, c in enumerate(clients)))
        await asyncio.wait_for(env.server.failed.wait(), WAIT)
        assert env.gateway.halted and oracle.failed
        assert isinstance(env.gateway.venue.journal.writer.failure, OSError)  # type: ignore
        # a read after the failure is received and held, never answered
        held = len(env.gateway.held)
        await clients[0].ws.send('{"jsonrpc":"2.0","id":1,"method":"public/get_time"}')
        async with asyncio.timeout(WAIT):
            while len(env.gateway.held) == held:
                await asyncio.sleep(0.01)
        assert oracle.violations == [] and oracle.sent_after_failure == 0
        # the acknowledgements that did leave may still be on their way through loopback:
        # count them once the clients have read everything (no change for 0.2 s)
        acked, quiet_since = -1, 0.0
        async with asyncio.timeout(WAIT):
            while True:
                now_acked = sum(c.orphans.qsize() for c in clients)
                loop_now = asyncio.get_running_loop().time()
                if now_acked != acked:
                    acked, quiet_since = now_acked, loop_now
                elif loop_now - quiet_since >= 0.2:
                    break
                await asyncio.sleep(0.02)
        assert 0 < acked < 20 * 30  # the first fsync's orders only
        assert env.gateway.venue.journal.writer.durable_seq <= oracle.durable  # type: ignore
    finally:
        await close_env(env)
        env.gateway.venue.journal.close()  # type: ignore[union-attr]


# -- the fsync helper process -------------------------------------------------------------------
def test_the_helper_process_covers_what_was_requested(tmp_path: Path) -> None:
    writer = _writer_with_entries(tmp_path, 5)
    writer.write_out()
    helper = SyncProcess(writer.fileno())
    try:
        writer.delegate(helper.wait)
        assert writer.sync() == 5 and helper.covered == 5 and helper.syncs == 1
        from exchange.core.messages import Tick

        writer.append(6, 6, Tick())
        writer.write_out()
        helper.request(6)  # asynchronous: the answer is read when it is there
        async_answer = select_readable(helper.reply_fd)
        assert async_answer and helper.read_replies() and helper.covered == 6
        assert writer.synced(helper.covered) == 6
    finally:
        helper.close()
        writer.delegate(None)
    assert helper.error is None and not helper.alive
    writer.close()
    entries, _, _ = read_journal(tmp_path / "journal.cmxj")
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]


def select_readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], WAIT)[0])


def test_a_failing_fsync_in_the_helper_is_an_error(tmp_path: Path) -> None:
    """fsync of a pipe fails (EINVAL): a real failing fsync, in the helper process."""
    read_end, write_end = os.pipe()
    try:
        helper = SyncProcess(read_end)
        with pytest.raises(OSError) as raised:
            helper.wait(1)
        assert raised.value.errno == errno.EINVAL and helper.covered == 0
        helper.request(2)  # ignored: nothing is ever claimed after a failure
        assert helper.covered == 0 and isinstance(helper.error, OSError)
        helper.close()
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_a_dead_fsync_helper_stops_the_server(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper process is killed: the server fails (the next commit cannot be made
    durable), the order that commit held is never acknowledged, and nothing leaves after."""
    journal = open_journal(tmp_path / "j", support_config(), policy="batch")
    gateway = Gateway(support_config(), journal=journal)
    sent: list[bytes] = []
    raw_push = Session.raw_push

    def counted(session: Session, data: bytes) -> None:
        sent.append(data)
        raw_push(session, data)

    monkeypatch.setattr(Session, "raw_push", counted)
    server = await start_server(gateway, "127.0.0.1", 0)
    env = Env(gateway, server)
    try:
        alice = await env.rpc("alice")
        await alice.result("private/buy", {"instrument_name": SPOT, "amount": 1,
                                           "price": "1", "label": "before"})
        helper = server._syncer
        assert isinstance(helper, SyncProcess)  # the real fsync runs in the helper
        assert journal.writer.fsyncs >= 1
        os.kill(helper.pid, 9)
        await alice.ws.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "private/buy",
                                        "params": {"instrument_name": SPOT, "amount": 1,
                                                   "price": "1", "label": "after"}}))
        await asyncio.wait_for(server.failed.wait(), WAIT)
        count = len(sent)
        held = len(gateway.held)
        await alice.ws.send('{"jsonrpc":"2.0","id":100,"method":"public/get_time"}')
        async with asyncio.timeout(WAIT):
            while len(gateway.held) == held:
                await asyncio.sleep(0.01)
        assert len(sent) == count and not any(b"after" in m for m in sent)
        assert gateway.halted and journal.writer.failure is not None
    finally:
        await close_env(env)
        journal.close()
