"""The command journal: every command the engine was given, in order, with its timestamp.

Every command that reaches the engine is journaled, rejected ones included: a rejected command
changes no balances, but its timestamp can trigger due work (GTD expiries, settlement), so
replaying exactly the same inputs is what makes replay exact.

Durability policies (see docs/reliability.md):

* ``always``: write and fsync after every command. Nothing acknowledged is ever lost, even on
  power failure; every command pays a disk flush.
* ``batch`` (default): group commit. Commands are buffered and the owner calls ``commit()``
  once per batch, or its two halves ``write_out()`` and ``sync()`` (the gateway runs the fsync
  in a worker thread and sends the batch's acknowledgements when it returns), so one fsync
  covers many commands and nothing is acknowledged before it is on disk.
* ``none``: written to the OS at each commit but never fsynced: survives a crash of the
  process (the data is in the page cache), not of the machine.
"""

from __future__ import annotations

import os
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


class JournalWriter:
    """Appends framed entries to one file under a durability policy."""

    def __init__(self, path: str | Path, policy: str = "batch") -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, not {policy!r}")
        self.path = Path(path)
        self.policy = policy
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer = bytearray()
        self.appended = 0
        self.fsyncs = 0

    def append(self, seq: int, ts: int, command: object) -> None:
        self._buffer += encode_frame(_encoder.encode(JournalEntry(seq, ts, command)))
        self.appended += 1
        if self.policy == "always":
            self.commit()

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet written."""
        return len(self._buffer)

    def commit(self) -> None:
        """Make everything appended so far durable under the policy."""
        if self.write_out():
            self.sync()

    def write_out(self) -> bool:
        """Hand the buffered frames to the OS (they now survive a crash of this process);
        True if the policy also wants them fsynced. ``commit`` is ``write_out`` + ``sync``;
        an owner may split the two to run the fsync off its event loop (pipelined group
        commit) while it keeps appending."""
        if not self._buffer:
            return False
        data = bytes(self._buffer)
        self._buffer.clear()
        offset = 0
        while offset < len(data):
            offset += os.write(self._fd, data[offset:])
        return self.policy != "none"

    def sync(self) -> None:
        """fsync everything written so far; safe to call from another thread."""
        os.fsync(self._fd)
        self.fsyncs += 1

    def close(self) -> None:
        if self._fd >= 0:
            self.commit()
            os.close(self._fd)
            self._fd = -1


def read_journal(path: str | Path) -> tuple[list[JournalEntry], int, int]:
    """Decode a journal file: (entries, bytes of intact frames, bytes in the file).

    Raises CorruptJournalError if a frame that is not the last is damaged.
    """
    data = Path(path).read_bytes() if Path(path).exists() else b""
    entries = [_decoder.decode(payload) for _, payload in iter_frames(data)]
    return entries, good_length(data), len(data)
