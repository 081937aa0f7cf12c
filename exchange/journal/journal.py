"""The command journal: every command the engine was given, in order, with its timestamp.

Every command that reaches the engine is journaled, rejected ones included: a rejected command
changes no balances, but its timestamp can trigger due work (GTD expiries, settlement), so
replaying exactly the same inputs is what makes replay exact.

Durability policies (see docs/reliability.md):

* ``always``: write and fsync after every command. Nothing acknowledged is ever lost, even on
  power failure; every command pays a disk flush.
* ``batch`` (default): group commit. Commands are buffered and the owner calls ``commit()``
  once per batch, or its two halves ``write_out()`` and ``sync()``: the gateway writes each
  event-loop turn's batch at once and has a helper (see :mod:`.groupcommit`) fsync it while
  the loop goes on; a batch's acknowledgements go out when ``durable_seq`` reaches it. One
  fsync covers many commands and nothing is acknowledged before it is on disk.
* ``none``: written to the OS at each commit but never fsynced: survives a crash of the
  process (the data is in the page cache), not of the machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from exchange.core.messages import AnyCommand

from .frames import encode_frame, good_length, iter_frames

FSYNC_POLICIES = ("always", "batch", "none")


class JournalEntry(msgspec.Struct, array_like=True, frozen=True):
    seq: int
    ts: int
    command: AnyCommand


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(JournalEntry)


class JournalFailedError(OSError):
    """An earlier write or fsync of the journal failed.

    The failure is sticky: after a failed fsync the kernel may already have dropped the dirty
    pages it could not write and marked them clean, so a later fsync that succeeds proves
    nothing about them. So nothing that was not already durable when the failure happened is
    ever reported durable by this writer; the owner must stop, and a restart recovers what
    is on disk.
    """


class JournalWriter:
    """Appends framed entries to one file under a durability policy.

    Three sequence numbers say how far each entry has got: ``last_seq`` (appended, in this
    process's memory), ``written_seq`` (handed to the OS: survives a crash of this process)
    and ``durable_seq`` (survives what the policy promises: fsynced under ``always`` and
    ``batch``, written under ``none``). An entry's effects may be revealed once
    ``durable_seq`` has reached it.

    Appending and ``write_out`` belong to one thread (the owner's); ``sync`` may run in another
    thread at the same time (pipelined group commit: the next batch is written while the
    previous one's fsync is in flight). ``sync`` reads ``written_seq`` *before* it calls
    fsync, so the number it makes durable only covers bytes whose ``write()`` had returned.
    """

    def __init__(self, path: str | Path, policy: str = "batch", seq: int = 0,
                 fsync: Callable[[int], None] = os.fsync) -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, not {policy!r}")
        self.path = Path(path)
        self.policy = policy
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer = bytearray()
        self._lock = threading.Lock()  # durable_seq and fsyncs, updated from two threads
        self._sync_lock = threading.Lock()  # one fsync at a time, see sync()
        self.appended = 0
        self.fsyncs = 0
        self.last_seq = self.written_seq = self.durable_seq = seq  # what is on disk already
        self.failure: BaseException | None = None
        # the flush itself, injectable so that tests can slow it down, fail it, or check
        # what it covers when it is called
        self.fsync = fsync
        self._delegate: Callable[[int], None] | None = None  # see delegate()

    def append(self, seq: int, ts: int, command: object) -> None:
        self._buffer += encode_frame(_encoder.encode(JournalEntry(seq, ts, command)))
        self.appended += 1
        self.last_seq = seq
        if self.policy == "always":
            self.commit()

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet written."""
        return len(self._buffer)

    @property
    def undurable(self) -> bool:
        """True while some appended entry is not yet durable under the policy."""
        return self.durable_seq < self.last_seq

    def commit(self) -> None:
        """Make everything appended so far durable under the policy."""
        if self.write_out() or self.written_seq > self.durable_seq:
            self.sync()

    def write_out(self) -> bool:
        """Hand the buffered frames to the OS (they now survive a crash of this process);
        True if something was written and the policy also wants it fsynced. ``commit`` is
        ``write_out`` + ``sync``; an owner may split the two to run the fsync off its event
        loop (pipelined group commit) while it keeps appending and writing."""
        self._check()
        if not self._buffer:
            return False
        data = bytes(self._buffer)
        self._buffer.clear()
        offset = 0
        try:
            while offset < len(data):
                offset += os.write(self._fd, data[offset:])
        except BaseException as exc:
            self.failure = exc  # part of the batch may be on disk: recovery cuts a torn tail
            raise
        self.written_seq = self.last_seq
        if self.policy == "none":
            self._mark_durable(self.written_seq)
            return False
        return True

    def sync(self) -> int:
        """fsync everything written so far and return the sequence number now durable; safe
        to call from another thread while the owner appends and writes. Raises (and the
        writer stays failed, see :class:`JournalFailedError`) if the fsync fails.

        fsyncs of this writer never overlap: Linux reports a writeback error to only one of
        the fsyncs that could see it, so a second fsync running next to a failing one could
        return success for data that is lost. Serialized, the second one finds the first's
        failure recorded and raises too. For the same reason, while a helper process does
        this writer's fsyncs (:meth:`delegate`), this call asks the helper and waits for it
        instead of calling fsync itself."""
        with self._sync_lock:
            self._check()
            target = self.written_seq  # read before the fsync: only what was written counts
            try:
                if self._delegate is not None:
                    self._delegate(target)
                else:
                    self.fsync(self._fd)
            except BaseException as exc:
                self.failure = exc
                raise
            return self._mark_durable(target, fsynced=True)

    def fileno(self) -> int:
        """The journal file's descriptor (for a helper process that fsyncs it)."""
        return self._fd

    def delegate(self, wait: Callable[[int], None] | None) -> None:
        """Let someone else run this writer's fsyncs: ``wait(seq)`` must return once an fsync
        that started after ``seq`` was written has succeeded, and raise if it failed. None
        takes them back (only once no delegated fsync can still be running)."""
        self._delegate = wait

    def synced(self, seq: int) -> int:
        """Record an fsync run elsewhere (by the delegate, asynchronously) that started after
        ``seq`` had been written and succeeded; returns the sequence number now durable."""
        if self.failure is not None:
            return self.durable_seq  # nothing is claimed after a failure
        return self._mark_durable(min(seq, self.written_seq), fsynced=True)

    def failed(self, exc: BaseException) -> None:
        """Record that an fsync run elsewhere failed: the writer is failed for good."""
        if self.failure is None:
            self.failure = exc

    def _mark_durable(self, seq: int, fsynced: bool = False) -> int:
        with self._lock:
            if fsynced:
                self.fsyncs += 1
            if seq > self.durable_seq:
                self.durable_seq = seq
            return self.durable_seq

    def _check(self) -> None:
        if self.failure is not None:
            raise JournalFailedError(
                f"{self.path}: an earlier journal write or fsync failed ({self.failure!r}); "
                "nothing more can be made durable") from self.failure

    def close(self) -> None:
        if self._fd >= 0:
            try:
                if self.failure is None:
                    self.commit()
            finally:
                os.close(self._fd)
                self._fd = -1


def read_journal(path: str | Path) -> tuple[list[JournalEntry], int, int]:
    """Decode a journal file: (entries, bytes of intact frames, bytes in the file).

    Raises CorruptJournalError if a frame that is not the last is damaged.
    """
    data = Path(path).read_bytes() if Path(path).exists() else b""
    entries = [_decoder.decode(payload) for _, payload in iter_frames(data)]
    return entries, good_length(data), len(data)
