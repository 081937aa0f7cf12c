"""``cmx replay``: rebuild an exchange's state from its journal, offline, and print its hash."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="rebuild the state from a journal directory and print its state hash",
        description="Rebuild the exchange state from a journal (snapshot + command tail) "
        "without modifying it, and print what was done and the resulting state hash.",
    )
    parser.add_argument("journal", help="journal directory (or the journal.cmxj inside it)")
    parser.add_argument(
        "--from-genesis",
        action="store_true",
        help="ignore later snapshots and replay every command from the initial state",
    )
    parser.add_argument("--check", action="store_true", help="also verify the invariants")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .frames import CorruptJournalError
    from .recovery import replay

    try:
        engine, report = replay(args.journal, use_snapshots=not args.from_genesis)
    except (CorruptJournalError, FileNotFoundError) as exc:
        print(f"cmx replay: {exc}", file=sys.stderr)
        return 1
    print(report.describe())
    if args.check:
        engine.check_invariants()
        print("invariants: ok")
    return 0
