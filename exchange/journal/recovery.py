"""Start-up recovery, offline replay, and the journaled engine the gateway drives.

A journal directory holds ``journal.cmxj`` (every command, framed) and ``snapshots/``. It is
created with a snapshot at sequence 0 (the instruments and the empty state), so every later
recovery starts from a snapshot and the instrument list is never needed from elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from exchange.core import Engine, EngineConfig, InstrumentSpec, Rejected, Tick

from .frames import CorruptJournalError
from .journal import JournalWriter, read_journal
from .snapshots import load_latest_snapshot, write_snapshot

JOURNAL_FILE = "journal.cmxj"


class RecoveryReport(msgspec.Struct, kw_only=True):
    """What recovery or replay did, for the operator's log."""

    directory: str
    snapshot_seq: int
    snapshots_skipped: list[str]
    frames_in_journal: int
    frames_replayed: int
    truncated_bytes: int
    final_seq: int
    state_hash: str

    def describe(self) -> str:
        lines = [
            f"journal directory: {self.directory}",
            f"started from snapshot at seq {self.snapshot_seq}",
            f"journal frames: {self.frames_in_journal}, replayed after the snapshot: "
            f"{self.frames_replayed}",
            f"torn tail truncated: {self.truncated_bytes} bytes",
            f"final seq: {self.final_seq}",
            f"state hash: {self.state_hash}",
        ]
        if self.snapshots_skipped:
            lines.append(f"damaged snapshots skipped: {', '.join(self.snapshots_skipped)}")
        return "\n".join(lines)


def _rebuild(directory: Path, config: EngineConfig | None, use_snapshots: bool,
             truncate: bool) -> tuple[Engine, RecoveryReport]:
    journal = directory / JOURNAL_FILE
    entries, good, size = read_journal(journal)
    if use_snapshots:
        content, skipped = load_latest_snapshot(directory)
    else:
        content, skipped = load_latest_snapshot(directory, max_seq=0)
    if content is None:
        raise CorruptJournalError(f"{directory}: no intact snapshot to start from")
    engine = Engine.from_snapshot(content["state"], config)
    replayed = 0
    for entry in entries:
        if entry.seq <= engine.seq:
            continue
        if entry.seq != engine.seq + 1:
            raise CorruptJournalError(
                f"{journal}: sequence jumps from {engine.seq} to {entry.seq}"
            )
        engine.apply(entry.command, entry.ts)
        replayed += 1
    if truncate and good < size:
        with open(journal, "r+b") as handle:
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())
    report = RecoveryReport(
        directory=str(directory),
        snapshot_seq=content["seq"],
        snapshots_skipped=[str(p) for p in skipped],
        frames_in_journal=len(entries),
        frames_replayed=replayed,
        truncated_bytes=size - good,
        final_seq=engine.seq,
        state_hash=engine.state_hash(),
    )
    return engine, report


def recover(directory: str | Path, config: EngineConfig | None = None
            ) -> tuple[Engine, RecoveryReport]:
    """Rebuild the engine after a crash: latest good snapshot + journal tail; a torn final
    frame is truncated so appending can continue."""
    return _rebuild(Path(directory), config, use_snapshots=True, truncate=True)


def replay(directory: str | Path, config: EngineConfig | None = None,
           use_snapshots: bool = True) -> tuple[Engine, RecoveryReport]:
    """Rebuild offline without touching the files (``cmx replay``)."""
    path = Path(directory)
    if path.is_file():
        path = path.parent
    return _rebuild(path, config, use_snapshots=use_snapshots, truncate=False)


class JournaledEngine:
    """An engine whose every command is journaled; what the gateway runs.

    ``apply`` journals the command after the engine has processed it (the engine is
    deterministic, so input order is all that matters) and ``commit`` makes the batch durable;
    the owner sends acknowledgements only after ``commit`` returns.
    """

    def __init__(
        self,
        directory: str | Path,
        instruments: Iterable[InstrumentSpec] | None = None,
        config: EngineConfig | None = None,
        policy: str = "batch",
        snapshot_every: int = 100_000,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        journal = self.directory / JOURNAL_FILE
        content, _ = load_latest_snapshot(self.directory)
        if content is None:
            if journal.exists() and journal.stat().st_size:
                raise CorruptJournalError(f"{journal} exists but no snapshot can be read")
            self.engine = Engine(instruments, config)
            write_snapshot(self.directory, self.engine)
            self.report: RecoveryReport | None = None
        else:
            self.engine, self.report = recover(self.directory, config)
        self.writer = JournalWriter(journal, policy, seq=self.engine.seq)
        self.snapshot_every = snapshot_every

    def apply(self, command: object, ts: int) -> list:
        events = self.engine.apply(command, ts)  # type: ignore[arg-type]
        try:
            self.writer.append(self.engine.seq, ts, command)
        except (OverflowError, TypeError, msgspec.EncodeError):
            # Only a rejected command can hold values the journal cannot encode (the engine
            # bounds everything it accepts). Its one effect was letting time pass, which a
            # Tick at the same instant reproduces exactly.
            if not any(isinstance(event, Rejected) for event in events):
                raise
            self.writer.append(self.engine.seq, ts, Tick())
        if self.snapshot_every and self.engine.seq % self.snapshot_every == 0:
            self.writer.commit()
            write_snapshot(self.directory, self.engine)
        return events

    def commit(self) -> None:
        self.writer.commit()

    def snapshot(self) -> Path:
        self.writer.commit()
        return write_snapshot(self.directory, self.engine)

    def close(self) -> None:
        self.writer.close()
