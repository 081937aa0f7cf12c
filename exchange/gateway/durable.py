"""Opening the gateway's journal: create it funded, atomically, or recover it.

``cmx serve --journal DIR`` runs the gateway on a :class:`exchange.journal.JournaledEngine`.
The configured deposits and marks are applied exactly once, when the directory is created:
they are journaled in a temporary sibling directory, snapshotted, and the directory is renamed
into place, so a crash during creation leaves no directory (the next start creates it again)
rather than a half-funded exchange that a restart could not tell from a funded one. Every later
start recovers (latest intact snapshot + journal tail, torn final frame truncated) and the
deposits in the config are not applied again.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from exchange.core import Engine
from exchange.journal import JournaledEngine
from exchange.journal.recovery import JOURNAL_FILE
from exchange.journal.snapshots import list_snapshots

from .config import GatewayConfig
from .protocol import apply_genesis

log = logging.getLogger("exchange.gateway")

CREATING_SUFFIX = ".creating"


def _has_history(path: Path) -> bool:
    journal = path / JOURNAL_FILE
    return bool(list_snapshots(path)) or (journal.exists() and journal.stat().st_size > 0)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_journal(directory: str | Path, config: GatewayConfig, *, policy: str = "batch",
                 snapshot_every: int = 100_000,
                 clock: Callable[[], int] = time.time_ns) -> JournaledEngine:
    """The journaled engine for ``directory``: recovered if it holds a journal, else created
    (funded from ``config``). ``journaled.report`` is the RecoveryReport of a recovery and
    None for a new journal. Raises ValueError for a non-empty directory that holds no journal,
    and CorruptJournalError for damage recovery must not paper over."""
    path = Path(directory)
    if _has_history(path):
        journaled = JournaledEngine(path, policy=policy, snapshot_every=snapshot_every)
        _warn_on_config_drift(journaled.engine, config)
        return journaled
    if path.exists() and any(path.iterdir()):
        raise ValueError(f"{path} is not empty and holds no journal")
    staging = path.with_name(path.name + CREATING_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)  # left by a crash during an earlier creation
    fresh = JournaledEngine(staging, config.instruments, policy="batch", snapshot_every=0)
    apply_genesis(config, lambda command: fresh.apply(command, clock()),
                  fresh.engine.registry)
    fresh.snapshot()
    fresh.close()
    if path.exists():
        path.rmdir()  # empty, checked above
    os.replace(staging, path)
    _fsync_dir(path.parent if str(path.parent) else Path("."))
    journaled = JournaledEngine(path, policy=policy, snapshot_every=snapshot_every)
    journaled.report = None  # created, not recovered: nothing to report
    return journaled


def _warn_on_config_drift(engine: Engine, config: GatewayConfig) -> None:
    """The journal, not the config, decides instruments and balances after the first start."""
    wanted = [s.name for s in Engine(config.instruments).registry]
    have = [s.name for s in engine.registry]
    if wanted != have:
        log.warning("the journal's instruments (%s) differ from the config's (%s); the "
                    "journal's are used", ", ".join(have), ", ".join(wanted))
    new = [a.client_id for a in config.accounts if a.deposits and a.id not in engine.accounts]
    if new:
        log.warning("deposits are applied only when a journal is created; not funded: %s",
                    ", ".join(new))
