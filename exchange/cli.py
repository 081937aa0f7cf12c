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


class _Version(argparse.Action):
    """``--version``: the package, Python and which matching core runs, computed only when
    asked (importing the core would slow every other command's parser)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_text())  # on stdout, as argparse's own version action prints
        parser.exit()


def version_text() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from exchange.core import IMPLEMENTATION
    from exchange.core.implementation import describe

    try:
        package = version("computemarket")
    except PackageNotFoundError:  # run from a source tree that was never installed
        package = "(not installed)"
    from scenarios.kernel import IMPLEMENTATION as KERNEL

    return (f"cmx {package}, Python {platform.python_version()}; "
            f"matching core: {describe(IMPLEMENTATION)}; simulation kernel: {KERNEL}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmx",
        description="Compute-market exchange and simulator.",
    )
    parser.add_argument("--version", action=_Version,
                        help="print the version and which matching core runs, then exit")
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
