"""The ``cmx`` command line.

Each subcommand lives in the package that owns it and registers itself here through a
``register(subparsers)`` function, so this module stays a thin dispatcher and importing it
costs nothing: a subcommand's heavy imports happen only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, attribute) pairs; each attribute is a ``register(subparsers)`` function.
SUBCOMMANDS: list[tuple[str, str]] = [
    ("bench.cli", "register"),  # cmx bench core|gateway|sim
    ("exchange.gateway.cli", "register"),  # cmx serve
    ("scenarios.cli", "register"),  # cmx run, cmx sweep, cmx report
    ("exchange.journal.cli", "register"),  # cmx replay
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmx",
        description="Compute-market exchange and simulator.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, attribute in SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only tolerate the subcommand's own module being absent, never a broken import
            # inside it.
            missing = exc.name or ""
            if module_name != missing and not module_name.startswith(missing + "."):
                raise
            continue
        getattr(module, attribute)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
