"""Snapshots: the engine's whole state at one sequence number, written atomically.

A snapshot is one CRC frame holding ``{"seq": n, "state": engine.snapshot()}``, written to a
temporary file, fsynced and renamed into place, so a crash leaves either the old set of
snapshots or the new one, never half a file. Loading skips any snapshot that fails its check
and falls back to an older one.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from exchange.core import Engine

from .frames import HEADER, CorruptJournalError, encode_frame, iter_frames

SNAPSHOT_DIR = "snapshots"


def snapshot_path(directory: Path, seq: int) -> Path:
    return directory / SNAPSHOT_DIR / f"snapshot-{seq:012d}.cmxs"


def write_snapshot(directory: str | Path, engine: Engine) -> Path:
    directory = Path(directory)
    folder = directory / SNAPSHOT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = snapshot_path(directory, engine.seq)
    tmp = final.with_suffix(".tmp")
    payload = msgspec.msgpack.encode({"seq": engine.seq, "state": engine.snapshot()})
    with open(tmp, "wb") as handle:
        handle.write(encode_frame(payload))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def list_snapshots(directory: str | Path) -> list[Path]:
    folder = Path(directory) / SNAPSHOT_DIR
    if not folder.exists():
        return []
    return sorted(folder.glob("snapshot-*.cmxs"))


def read_snapshot(path: Path) -> dict | None:
    """The snapshot's contents, or None if the file is damaged."""
    data = path.read_bytes()
    try:
        frames = list(iter_frames(data)) if data else []
    except CorruptJournalError:
        return None
    if len(frames) != 1 or len(frames[0][1]) + HEADER.size != len(data):
        return None
    try:
        return msgspec.msgpack.decode(frames[0][1])
    except msgspec.DecodeError:
        return None


def load_latest_snapshot(
    directory: str | Path, max_seq: int | None = None
) -> tuple[dict | None, list[Path]]:
    """(newest intact snapshot at or below ``max_seq``, damaged snapshot files skipped)."""
    skipped = []
    for path in reversed(list_snapshots(directory)):
        content = read_snapshot(path)
        if content is None:
            skipped.append(path)
            continue
        if max_seq is not None and content["seq"] > max_seq:
            continue
        return content, skipped
    return None, skipped
