"""Durability: an append-only command journal, snapshots, crash recovery and replay.

The engine is deterministic, so its state is a pure function of the commands it was given:
journal every command (with its injected timestamp) before acknowledging it, snapshot now and
then, and recovery is "load the latest good snapshot, re-apply the journal tail".
"""

from .frames import CorruptJournalError
from .journal import FSYNC_POLICIES, JournalEntry, JournalWriter, read_journal
from .recovery import JournaledEngine, RecoveryReport, recover, replay
from .snapshots import load_latest_snapshot, write_snapshot

__all__ = [
    "FSYNC_POLICIES",
    "CorruptJournalError",
    "JournalEntry",
    "JournalWriter",
    "JournaledEngine",
    "RecoveryReport",
    "load_latest_snapshot",
    "read_journal",
    "recover",
    "replay",
    "write_snapshot",
]
