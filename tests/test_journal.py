"""Journal, snapshots, recovery and replay."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

from exchange.cli import main as cmx
from exchange.core import BUY, Engine, OrderAccepted, PlaceOrder
from exchange.journal import (
    CorruptJournalError,
    JournaledEngine,
    read_journal,
    recover,
    replay,
)
from exchange.journal.frames import encode_frame, good_length, iter_frames
from exchange.journal.recovery import JOURNAL_FILE
from exchange.journal.snapshots import list_snapshots
from tests.helpers import SPOT_NAME, instruments
from tests.test_snapshot import random_commands


def run_journaled(directory, commands, policy="batch", snapshot_every=0, batch=7):
    journaled = JournaledEngine(directory, instruments(), policy=policy,
                                snapshot_every=snapshot_every)
    for i, (ts, command) in enumerate(commands):
        journaled.apply(command, ts)
        if i % batch == 0:
            journaled.commit()
    journaled.close()
    return journaled.engine


def test_frames_round_trip_and_torn_tails():
    payloads = [b"a", b"bb" * 50, b"", b"final"]
    data = b"".join(encode_frame(p) for p in payloads)
    assert [p for _, p in iter_frames(data)] == payloads
    last_start = len(data) - len(encode_frame(b"final"))
    for cut in range(last_start, len(data)):
        assert [p for _, p in iter_frames(data[:cut])] == payloads[:3]
        assert good_length(data[:cut]) == last_start
    corrupt_final = data[:-1] + b"X"
    assert good_length(corrupt_final) == last_start
    for position in (12, 14, 20):  # first payload, second header's length, its header CRC
        corrupt_middle = bytearray(data)
        corrupt_middle[position] ^= 0xFF
        with pytest.raises(CorruptJournalError):
            list(iter_frames(bytes(corrupt_middle)))
    assert good_length(data + bytes(40)) == len(data)  # zero-filled tail is a torn write


@pytest.mark.parametrize("policy", ["always", "batch", "none"])
def test_recovery_matches_live_engine(tmp_path, policy):
    commands = random_commands(seed=3, n=300)
    live = run_journaled(tmp_path, commands, policy=policy)
    engine, report = recover(tmp_path)
    assert report.frames_replayed == len(commands) == report.final_seq
    assert report.truncated_bytes == 0
    assert engine.state_hash() == live.state_hash()


def test_snapshots_and_genesis_replay_agree(tmp_path):
    commands = random_commands(seed=5, n=400)
    live = run_journaled(tmp_path, commands, snapshot_every=100)
    assert len(list_snapshots(tmp_path)) == 1 + len(commands) // 100
    from_snapshot, report = replay(tmp_path)
    assert report.snapshot_seq == 400 and report.frames_replayed == len(commands) - 400
    from_genesis, report0 = replay(tmp_path, use_snapshots=False)
    assert report0.snapshot_seq == 0 and report0.frames_replayed == len(commands)
    assert from_snapshot.state_hash() == from_genesis.state_hash() == live.state_hash()


def test_damaged_snapshot_falls_back_to_older(tmp_path):
    commands = random_commands(seed=6, n=250)
    live = run_journaled(tmp_path, commands, snapshot_every=100)
    newest = list_snapshots(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:-3])
    engine, report = recover(tmp_path)
    assert report.snapshot_seq == 100 and report.snapshots_skipped == [str(newest)]
    assert engine.state_hash() == live.state_hash()


def test_torn_tail_is_truncated_and_appending_continues(tmp_path):
    commands = random_commands(seed=8, n=200)
    run_journaled(tmp_path, commands[:150])
    journal = tmp_path / JOURNAL_FILE
    intact = journal.read_bytes()
    with open(journal, "ab") as handle:  # a crash in the middle of a write
        handle.write(encode_frame(b"x" * 40)[:17])
    restarted = JournaledEngine(tmp_path, policy="batch")
    assert restarted.report is not None and restarted.report.truncated_bytes == 17
    assert journal.read_bytes() == intact
    for ts, command in commands[150:]:
        restarted.apply(command, ts)
    restarted.close()
    reference = Engine(instruments())
    for ts, command in commands:
        reference.apply(command, ts)
    engine, report = recover(tmp_path)
    assert report.truncated_bytes == 0
    assert engine.state_hash() == reference.state_hash()


def test_sequence_numbers_continue_after_restart(tmp_path):
    commands = random_commands(seed=9, n=120)
    live = run_journaled(tmp_path, commands)
    restarted = JournaledEngine(tmp_path)
    assert restarted.engine.next_order_id == live.next_order_id
    assert restarted.engine.change_ids == live.change_ids
    events = restarted.apply(PlaceOrder(account=1, instrument=SPOT_NAME, side=BUY, amount=1,
                                        price=1), 10**7)
    (accepted,) = [e for e in events if isinstance(e, OrderAccepted)]
    assert accepted.order_id == live.next_order_id
    restarted.close()


def test_corrupt_middle_frame_refuses_to_recover(tmp_path):
    run_journaled(tmp_path, random_commands(seed=10, n=50))
    journal = tmp_path / JOURNAL_FILE
    data = bytearray(journal.read_bytes())
    data[20] ^= 0xFF
    journal.write_bytes(bytes(data))
    with pytest.raises(CorruptJournalError):
        recover(tmp_path)
    with pytest.raises(CorruptJournalError):
        read_journal(journal)


def test_cmx_replay_prints_the_live_hash(tmp_path):
    live = run_journaled(tmp_path, random_commands(seed=11, n=150), snapshot_every=64)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cmx(["replay", str(tmp_path), "--check"]) == 0
    assert f"state hash: {live.state_hash()}" in out.getvalue()
    assert "invariants: ok" in out.getvalue()
    out = io.StringIO()
    with redirect_stdout(out):
        assert cmx(["replay", str(tmp_path / JOURNAL_FILE), "--from-genesis"]) == 0
    assert f"state hash: {live.state_hash()}" in out.getvalue()
