"""The asyncio websocket + HTTP server around the sans-I/O gateway.

One port serves both: websocket upgrades on ``/ws/api/v2`` and plain ``GET /api/v2/{method}``
answered from the ``process_request`` hook. Each connection gets a bounded outbound queue
drained by its own writer task; a client that stops reading fills it and is disconnected with
close code 1008 and a reason, instead of growing server memory. The engine is driven only from
the event loop thread, so it needs no locks.

With a journal, the gateway holds every outgoing message while commands are not yet durable.
Once per event-loop turn (``loop.call_soon`` after the first held message) the server writes
what the turn applied to the OS, closes the turn's messages into a batch and asks the fsync
helper (:mod:`exchange.journal.groupcommit`: a small process, so that no fsync has to take the
GIL back from the busy loop) for an fsync; it does not wait. The helper runs its fsyncs back to
back, each covering every batch written before it started, and the loop sends each batch as
soon as the journal is durable up to it. So the loop never stalls on the disk, the next batch
is written while the previous one is being synced, and no batch waits for more than the rest
of the fsync in flight plus its own (pipelined group commit). A failed fsync or write, or a
helper that dies, stops the server: nothing more is acknowledged, and a restart recovers
from what is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl as ssl_module
from collections import deque
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from exchange.core.messages import Tick
from exchange.journal.groupcommit import SyncProcess, SyncThread

from .protocol import Gateway, Session

log = logging.getLogger("exchange.gateway")

WS_PATH = "/ws/api/v2"
HTTP_PREFIX = "/api/v2/"
TICK_EVERY_S = 1.0  # idle time still expires GTD orders and settles futures
SLOW_CONSUMER = (1008, "slow consumer: outbound queue full")
HEARTBEAT_TIMEOUT = (4000, "heartbeat: no answer to test_request")


class _Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class GatewayServer:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.server: Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.connections = 0
        self._kicks: set[asyncio.Task[None]] = set()
        self._release_scheduled = False
        self.failed = asyncio.Event()  # set when the journal could not commit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._syncer: SyncThread | SyncProcess | None = None
        self._synced_scheduled = False
        gateway.on_hold = self._schedule_release

    def _schedule_release(self) -> None:
        if not self._release_scheduled:
            self._release_scheduled = True
            asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        """End of an event-loop turn that held messages: write what it applied to the OS,
        close its messages into a batch and ask the disk helper to make it durable. The loop
        does not wait: the batch goes out once its fsync has returned (:meth:`_synced`), and
        meanwhile the next turns apply, write and queue the next batches."""
        self._release_scheduled = False
        if self.failed.is_set():
            return
        try:
            target = self.gateway.start_commit()
        except Exception:
            self._fail()
            return
        if target is None:
            return
        if self._syncer is None:
            self._start_syncer()
        syncer = self._syncer
        assert syncer is not None
        syncer.request(target)
        if syncer.error is not None:  # the helper is gone: fail now, not at the next reply
            journal = self.gateway.venue.journal
            assert journal is not None
            journal.writer.failed(syncer.error)
            self._synced()

    def _start_syncer(self) -> None:
        """The fsync helper: a process when the journal uses the real fsync (no GIL to share
        with the event loop, see :class:`SyncProcess`), a thread when a test injected its own
        fsync (a Python callable runs only in this process) or no process can be started."""
        journal = self.gateway.venue.journal
        assert journal is not None
        writer = journal.writer
        loop = self._loop = asyncio.get_running_loop()
        if writer.fsync is os.fsync:
            try:
                helper = SyncProcess(writer.fileno())
            except OSError as exc:
                log.warning("no fsync helper process (%s); fsyncing in a thread", exc)
            else:
                self._syncer = helper
                writer.delegate(helper.wait)
                loop.add_reader(helper.reply_fd, self._helper_replied)
                return
        self._syncer = SyncThread(self.gateway.venue.sync_journal, self._synced_threadsafe)

    def _helper_replied(self) -> None:
        helper = self._syncer
        assert isinstance(helper, SyncProcess)
        if not helper.read_replies():
            return
        journal = self.gateway.venue.journal
        assert journal is not None
        if helper.error is None:
            journal.writer.synced(helper.covered)
        else:
            journal.writer.failed(helper.error)
            assert self._loop is not None
            self._loop.remove_reader(helper.reply_fd)
        self._synced()

    def _synced_threadsafe(self) -> None:
        """Called in the disk thread after each fsync: wake the loop once, however many
        fsyncs finish before it gets to run :meth:`_synced`."""
        if not self._synced_scheduled:
            self._synced_scheduled = True
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._synced)
            except RuntimeError:
                pass  # the loop is closed: shutting down, nothing to send any more

    def _synced(self) -> None:
        self._synced_scheduled = False  # before reading what is durable, see above
        syncer = self._syncer
        if syncer is not None and syncer.error is not None:
            if not self.failed.is_set():
                self.gateway.sync_failed()
                self._fail(syncer.error)
            return
        self.gateway.finish_commit()

    def _fail(self, exc: BaseException | None = None) -> None:
        """Called from an ``except`` block or with the exception the fsync helper reported."""
        log.critical("journal commit failed: no longer acknowledging anything",
                     exc_info=exc if exc is not None else True)
        self.gateway.halted = True
        self.failed.set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self, host: str | None = None, port: int | None = None,
                    ssl: ssl_module.SSLContext | None = None) -> None:
        cfg = self.gateway.config
        self.server = await serve(
            self._connection,
            host if host is not None else cfg.host,
            port if port is not None else cfg.port,
            process_request=self._process_request,
            max_size=cfg.hard_max_frame_bytes,
            ping_interval=cfg.ping_interval_s,
            compression=None,
            close_timeout=2,
            ssl=ssl,
        )
        self._tasks.append(asyncio.create_task(self._periodic()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self._syncer is not None:
            syncer, self._syncer = self._syncer, None
            if isinstance(syncer, SyncProcess):
                asyncio.get_running_loop().remove_reader(syncer.reply_fd)
            await asyncio.get_running_loop().run_in_executor(None, syncer.close)
            journal = self.gateway.venue.journal
            if journal is not None:
                journal.writer.delegate(None)  # the helper is gone: fsync here again
                if isinstance(syncer, SyncProcess):
                    if syncer.error is None:
                        journal.writer.synced(syncer.covered)
                    else:
                        journal.writer.failed(syncer.error)
            if syncer.error is not None and not self.failed.is_set():
                self.gateway.sync_failed()
                self._fail(syncer.error)
        if (self.gateway.held or self.gateway.waiting) and not self.failed.is_set():
            try:
                self.gateway.release()
            except Exception:
                self._fail()

    async def __aenter__(self) -> GatewayServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- HTTP ----------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request
                         ) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None
        if path.startswith(HTTP_PREFIX):
            peer = connection.remote_address[0] if connection.remote_address else None
            status, body = self.gateway.http(request.path, request.headers, peer)
            return _response(status, body)
        return _response(404, b'{"error":"not found: use /ws/api/v2 or /api/v2/{method}"}')

    # -- websocket -----------------------------------------------------------------------------
    async def _connection(self, ws: ServerConnection) -> None:
        cfg = self.gateway.config
        queue: deque[bytes | _Close] = deque()
        ready = asyncio.Event()
        limit = cfg.outbound_queue
        state = {"closing": False}

        def push(data: bytes) -> None:
            if state["closing"]:
                return
            if len(queue) >= limit:
                # The writer is stuck behind a full socket, so close from here.
                state["closing"] = True
                queue.clear()
                log.warning("closing %s: outbound queue full", ws.remote_address)
                task = asyncio.get_running_loop().create_task(_kick(ws, *SLOW_CONSUMER))
                self._kicks.add(task)
                task.add_done_callback(self._kicks.discard)
                return
            queue.append(data)
            ready.set()

        def request_close(code: int, reason: str) -> None:
            if not state["closing"]:
                state["closing"] = True
                queue.append(_Close(code, reason))
                ready.set()

        session = Session(self.gateway, push, peer=ws, close=request_close)
        heartbeat_changed = asyncio.Event()
        session.on_heartbeat_change = heartbeat_changed.set
        self.connections += 1
        log.info("connection from %s", ws.remote_address)
        drained = asyncio.Event()
        high_water = max(1, min(1000, limit // 2))
        writer = asyncio.create_task(self._writer(ws, queue, ready, drained, high_water))
        beat = asyncio.create_task(self._heartbeat(session, heartbeat_changed, request_close))
        try:
            async for message in ws:
                if state["closing"]:
                    break
                session.receive(message)
                # A client that pipelines requests faster than it reads the answers is not
                # read from until its answers went out: back-pressure instead of a queue
                # that grows until the client has to be dropped. Answers still waiting for
                # the journal's fsync count too.
                while (len(queue) + session.held_messages >= high_water
                       and not state["closing"]):
                    drained.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(drained.wait(), 1.0)
        except ConnectionClosed:
            pass
        finally:
            self.connections -= 1
            log.info("connection from %s closed (account %s, code %s)", ws.remote_address,
                     session.account, ws.close_code)
            session.close()
            beat.cancel()
            if not writer.done():
                # let queued answers (and a pending close frame) go out, briefly
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(writer), 0.5 if queue else 0)
                writer.cancel()

    async def _writer(self, ws: ServerConnection, queue: deque[bytes | _Close],
                      ready: asyncio.Event, drained: asyncio.Event, high_water: int) -> None:
        try:
            while True:
                await ready.wait()
                ready.clear()
                while queue:
                    if len(queue) < high_water:
                        drained.set()
                    if len(queue) == 1 or type(queue[0]) is _Close:
                        item = queue.popleft()
                        if type(item) is _Close:
                            await ws.close(item.code, item.reason)
                            return
                        await ws.send(item, text=True)
                        continue
                    await _send_batch(ws, queue)
                drained.set()
        except ConnectionClosed:
            return

    async def _heartbeat(self, session: Session, changed: asyncio.Event,
                         request_close: Any) -> None:
        while True:
            interval = session.heartbeat_interval
            if interval is None:
                await changed.wait()
                changed.clear()
                continue
            try:
                await asyncio.wait_for(changed.wait(), interval)
                changed.clear()
                continue
            except TimeoutError:
                pass
            if not session.heartbeat_tick():
                request_close(*HEARTBEAT_TIMEOUT)
                return

    async def _periodic(self) -> None:
        """Publish the 100ms channels; tick the engine so time-driven work happens."""
        gateway = self.gateway
        interval = gateway.config.flush_interval_s
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + TICK_EVERY_S
        while True:
            await asyncio.sleep(interval)
            try:
                if loop.time() >= next_tick:
                    next_tick = loop.time() + TICK_EVERY_S
                    gateway.execute(Tick())
                    gateway.publish()
                gateway.hub.flush()
            except Exception:
                log.exception("periodic flush failed")


async def _send_batch(ws: ServerConnection, queue: deque[bytes | _Close]) -> None:
    """Frame every queued message and hand them to the socket in one write.

    Pipelined clients get many answers per loop iteration; one write and one drain for all of
    them is most of what makes the gateway keep up with a bare echo server.
    """
    async with ws.send_context():
        protocol = ws.protocol
        while queue and type(queue[0]) is not _Close:
            protocol.send_text(queue.popleft())  # type: ignore[arg-type]
        chunks = protocol.data_to_send()
        if chunks and ws.transport is not None:
            ws.transport.write(b"".join(chunks))


async def _kick(ws: ServerConnection, code: int, reason: str) -> None:
    """Close with a reason; a peer that reads nothing cannot complete the handshake, so
    give up after a second and drop the connection."""
    try:
        await asyncio.wait_for(ws.close(code, reason), 1.0)
    except (TimeoutError, ConnectionClosed):
        pass
    if ws.transport is not None and not ws.transport.is_closing():
        ws.transport.abort()


def _response(status: int, body: bytes) -> Response:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    headers = Headers([("Content-Type", "application/json"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status, reason, headers, body)


async def start_server(gateway: Gateway, host: str | None = None, port: int | None = None,
                       ssl: ssl_module.SSLContext | None = None) -> GatewayServer:
    """Start serving; ``port=0`` picks a free port (see ``server.port``)."""
    server = GatewayServer(gateway)
    await server.start(host, port, ssl)
    return server
