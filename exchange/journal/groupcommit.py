"""Pipelined group commit: the journal's fsyncs run back to back, off the event loop.

The owner (the gateway's event loop) appends commands, hands each batch's frames to the OS
with ``JournalWriter.write_out()`` and then calls ``request(seq)`` with the newest sequence
number it wrote. A helper runs one fsync, which covers everything written before it started,
and reports back; the owner then sends the acknowledgements of every batch whose sequence
number is now durable (``JournalWriter.durable_seq``).

Why it is built this way:

* the event loop never waits for the disk: while one fsync is in flight it keeps reading,
  applying and writing the next batch (double buffering: the loop fills one buffer while the
  disk flushes what was written before);
* the next fsync starts the moment the previous one returns, without a round trip through
  the event loop, and it covers every batch written meanwhile (requests only raise a target,
  so they coalesce); under load each batch waits for at most the rest of the fsync in flight
  plus its own;
* each batch is released as soon as *its* fsync has returned, never later and never sooner;
* one fsync at a time: concurrent fsyncs of one file mostly queue in the kernel anyway, each
  costs CPU the event loop needs on a small machine, and two overlapping fsyncs could split
  one writeback error between them (see ``JournalWriter.sync``).

Two helpers with the same protocol (``request``, ``covered``, ``error``, ``close``):
:class:`SyncProcess` (what the gateway uses: a small process that fsyncs the inherited file
descriptor, so that the fsync never has to take the GIL back from a busy event loop) and
:class:`SyncThread` (a thread in this process; used when the fsync is a Python callable, as
tests inject, or when no process can be started).

A failed fsync is final (see ``JournalFailedError``): the helper stops, ``error`` holds the
exception, the owner is told, and nothing after it is ever reported durable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable


class SyncThread:
    """Runs ``sync`` (normally ``JournalWriter.sync``) in a background thread on request.

    The thread's fsync runs without the GIL, but every return from it has to take the GIL
    back from the event loop; with a busy loop that makes each fsync slower and costlier (see
    :class:`SyncProcess`), which is why the gateway prefers the process.

    ``sync`` must make durable everything written before it was called (the owner requests a
    sequence number only after writing it). ``notify`` is called from the background thread
    after every successful sync and after a failure; it must be thread-safe and quick (the
    gateway's only schedules a callback on its event loop).
    """

    def __init__(self, sync: Callable[[], int], notify: Callable[[], None], *,
                 name: str = "journal-fsync") -> None:
        self._sync = sync
        self._notify = notify
        self._cond = threading.Condition(threading.Lock())
        self._requested = 0  # newest sequence number written and waiting for an fsync
        self._covered = 0  # newest sequence number a finished fsync covered
        self._stopping = False
        self.error: BaseException | None = None
        self.syncs = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, seq: int) -> None:
        """Everything up to ``seq`` has been written: make it durable soon. Cheap when an
        fsync is already in flight (the next one picks the request up)."""
        with self._cond:
            if seq > self._requested:
                self._requested = seq
                self._cond.notify()

    @property
    def covered(self) -> int:
        """The newest sequence number a finished fsync of this thread covered."""
        return self._covered

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while self._requested <= self._covered and not self._stopping:
                    cond.wait()
                target = self._requested
                if target <= self._covered:
                    return  # stopping, and nothing left to sync
            try:
                self._sync()
            except BaseException as exc:  # noqa: BLE001 - handed to the owner, who stops
                self.error = exc
                self._notify()
                return
            with cond:
                self.syncs += 1
                self._covered = target  # written before the request, so before the fsync
            self._notify()

    def close(self, timeout: float | None = None) -> None:
        """Finish the requested syncs, then stop the thread (waits for it)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# The helper's program: a file run by path (``-I -S`` leave the project's packages out).
_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsync_helper.py")

_REPLY = 9  # b"S" or b"E", then a little-endian u64


class SyncProcess:
    """Runs the journal's fsyncs in a helper process, on request; the same protocol as
    :class:`SyncThread` (``request``, ``covered``, ``error``, ``close``), but the owner reads
    the answers itself: :meth:`read_replies` when :attr:`reply_fd` is readable (the gateway
    registers it with its event loop).

    Why a process and not a thread: a Python thread must take the GIL back after every fsync,
    and while the event loop is busy that costs both threads context switches and waits.
    Measured on the development machine, with a main thread running Python and socket calls
    nonstop: a thread's write-and-fsync cycle took 0.5-4.7 ms and 160-610 us of CPU, the
    helper's 0.3-0.45 ms and 70-80 us. The helper holds no lock the server needs; it shares
    only the journal's file description (an fsync flushes the file, whichever process wrote
    to it).

    While the helper exists it is the only one fsyncing the journal (see
    ``JournalWriter.sync``): a synchronous commit asks it too (:meth:`wait`) rather than call
    fsync next to it, so that a writeback error cannot be reported to one fsync and missed by
    the other.
    """

    def __init__(self, fd: int, *, python: str | None = None) -> None:
        self._proc = subprocess.Popen(
            [python or sys.executable, "-I", "-S", _HELPER, str(fd)],
            pass_fds=(fd,), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
            start_new_session=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._requests = self._proc.stdin.fileno()
        self.reply_fd = self._proc.stdout.fileno()
        os.set_blocking(self.reply_fd, False)
        self._replies = bytearray()
        self._requested = 0
        self._covered = 0
        self.error: BaseException | None = None
        self.syncs = 0
        self._closing = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def covered(self) -> int:
        """The newest sequence number a finished fsync of the helper covered."""
        return self._covered

    def request(self, seq: int) -> None:
        """Everything up to ``seq`` has been written: make it durable soon (never blocks)."""
        if self.error is None and seq > self._requested:
            self._requested = seq
            try:
                os.write(self._requests, seq.to_bytes(8, "little"))
            except OSError as exc:  # the helper is gone
                self._fail(exc)

    def read_replies(self) -> bool:
        """Take the helper's answers that have arrived (never blocks); True if something
        changed (more is covered, or the helper failed)."""
        if self.error is not None:
            return False
        try:
            data = os.read(self.reply_fd, 4096)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._fail(exc)
            return True
        if not data:
            if self._closing:
                return False
            self._fail(OSError(errno.EPIPE, "the journal's fsync helper exited"))
            return True
        replies = self._replies
        replies += data
        whole = len(replies) - len(replies) % _REPLY
        for offset in range(0, whole, _REPLY):
            kind = replies[offset:offset + 1]
            value = int.from_bytes(replies[offset + 1:offset + _REPLY], "little")
            if kind == b"S":
                self.syncs += 1
                if value > self._covered:
                    self._covered = value
            else:
                self._fail(OSError(value, f"fsync of the journal failed: "
                                          f"{os.strerror(value) if value else 'unknown'}"))
                break
        del replies[:whole]
        return True

    def wait(self, seq: int) -> None:
        """Request ``seq`` and block until the helper has covered it; raises if it failed.
        For the rare synchronous commits (HTTP answers, snapshots, shutdown)."""
        self.request(seq)
        while self.error is None and self._covered < seq:
            select.select([self.reply_fd], [], [])
            self.read_replies()
        if self.error is not None:
            raise self.error

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def close(self, timeout: float | None = 10) -> None:
        """Let the helper finish what it was asked, then stop it (waits for it)."""
        self._closing = True
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(OSError):
            while self.error is None and self.read_replies():
                pass
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None
