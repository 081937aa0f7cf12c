"""``cmx bench NAME``: one subcommand per benchmark module ``bench/<name>.py``.

A benchmark module exposes ``run(args) -> dict`` (the report: every figure and ratio) and,
optionally, ``add_arguments(parser)`` for its own flags and ``render(report) -> str`` for the
plain-text table. This module adds the flags every benchmark shares (``--quick`` for a short
smoke run, ``--json`` for exactly one JSON object on stdout) and does the printing, so all
benchmarks behave alike.

Benchmark modules are imported when the parser is built (their flags must be known), so they
keep heavy imports inside ``run``. A benchmark whose module does not exist yet still gets a
subcommand, which explains that it is not available and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from types import ModuleType
from typing import Any

BENCHMARKS = ["core", "gateway", "sim"]

DESCRIPTIONS = {
    "core": "matching core: our book and engine against PyPI peers on one seeded stream",
    "gateway": "websocket gateway round trips",
    "sim": "scenario simulator throughput",
}


def _load(name: str) -> ModuleType | None:
    """The benchmark's module, or None if it has not been written yet."""
    module_name = f"bench.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # a broken import inside the module is a real error
            raise
        return None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark (" + ", ".join(BENCHMARKS) + ")",
        description="Benchmarks. Each takes --quick (a short smoke run) and --json (one JSON "
                    "object with every figure and ratio on stdout).",
    )
    names = parser.add_subparsers(dest="benchmark", metavar="NAME")
    for name in BENCHMARKS:
        sub = names.add_parser(name, help=DESCRIPTIONS.get(name, name),
                               description=DESCRIPTIONS.get(name))
        sub.add_argument("--quick", action="store_true", help="short run for smoke checks")
        sub.add_argument("--json", action="store_true",
                         help="print one JSON object with every figure and nothing else")
        module = _load(name)
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(sub)
        sub.set_defaults(handler=run_benchmark, benchmark=name)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)


def run_benchmark(args: argparse.Namespace) -> int:
    name = args.benchmark
    module = _load(name)
    if module is None or not hasattr(module, "run"):
        print(f"cmx bench {name}: not available (no benchmark module bench/{name}.py yet)",
              file=sys.stderr)
        return 2
    try:
        report = module.run(args)
    except ValueError as exc:  # bad flag values, reported like argparse would
        print(f"cmx bench {name}: {exc}", file=sys.stderr)
        return 2
    except TimeoutError as exc:  # a benchmark that bounds its own time gave up
        print(f"cmx bench {name}: gave up: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        render = getattr(module, "render", None)
        print(render(report) if render is not None else _plain(report))
    return 0 if report.get("ok", True) else 1


def _plain(report: dict[str, Any], prefix: str = "") -> str:
    """Fallback text form for a benchmark without its own table: one figure per line."""
    lines = []
    for key, value in report.items():
        if isinstance(value, dict):
            lines.append(_plain(value, f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key}: {value}")
    return "\n".join(line for line in lines if line)
