"""``cmx bench core``: our book and engine against peers, on the same stream, in the same run.

For each stream (standard, deep) every engine gets the same pre-generated operations and is
measured by the same code (``bench.stats``): throughput as the median of ``repeats`` timed
runs, each on a fresh engine; per-operation latency from one more run with a timer around
every operation; the longest cyclic-GC pause seen during all of them. Every engine must end
with the same traded quantity (and trade count, where the engine reports one); one that
disagrees or raises is flagged in the output and the others still run. Memory per resting
order is measured separately with ``tracemalloc``. Ratios are our figure over the peer's, from
this run only, so machine noise hits both sides of every ratio alike.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exchange.cli_args import non_negative_int, positive_int

# "*_interpreted": the same source run by the interpreter beside the compiled core (the
# reference it is measured against; identical to "book"/"engine" when nothing is compiled).
ENGINES = ("book", "engine", "book_interpreted", "engine_interpreted", "sorted_book",
           "lightmatchingengine", "fastlob")
STREAMS = ("standard", "deep")
STANDARD_OPS = 200_000
QUICK_OPS = 20_000
DEEP_RESTING = 120_000
QUICK_DEEP_RESTING = 20_000
SPOT_INSTRUMENT = "GPUH_USD"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=non_negative_int, default=1, help="stream seed (default 1)")
    parser.add_argument("--ops", type=positive_int, default=None,
                        help=f"timed operations per stream (default {STANDARD_OPS}, "
                             f"{QUICK_OPS} with --quick)")
    parser.add_argument("--repeats", type=positive_int, default=None,
                        help="timed runs per engine; ops/s is their median (default 3)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated subset of: " + ", ".join(ENGINES))
    parser.add_argument("--streams", default=",".join(STREAMS),
                        help="comma-separated subset of: " + ", ".join(STREAMS))
    parser.add_argument("--instrument", default=SPOT_INSTRUMENT,
                        help="instrument the full engine trades (spot GPUH_USD by default; "
                             "a future such as GPUH-25DEC26 adds margin checks)")
    parser.add_argument("--deep-resting", type=positive_int, default=None,
                        help=f"resting orders under the deep stream (default {DEEP_RESTING:,}, "
                             f"{QUICK_DEEP_RESTING:,} with --quick)")
    parser.add_argument("--memory-orders", type=positive_int, default=None,
                        help="resting orders in the memory measurement "
                             "(default 100000, 10000 with --quick)")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    engines = [e.strip() for e in getattr(args, "engines", ",".join(ENGINES)).split(",")
               if e.strip()]
    chosen = [s.strip() for s in getattr(args, "streams", ",".join(STREAMS)).split(",")
              if s.strip()]
    unknown = [e for e in engines if e not in ENGINES] + [s for s in chosen if s not in STREAMS]
    if unknown:
        raise ValueError(f"unknown engine or stream: {', '.join(unknown)}")
    ops = getattr(args, "ops", None) or (QUICK_OPS if quick else STANDARD_OPS)
    return {
        "quick": quick,
        "seed": getattr(args, "seed", 1),
        "ops": ops,
        "repeats": getattr(args, "repeats", None) or 3,
        "engines": engines,
        "streams": chosen,
        "instrument": getattr(args, "instrument", None) or SPOT_INSTRUMENT,
        "memory_orders": getattr(args, "memory_orders", None) or (10_000 if quick else 100_000),
        "deep_resting": getattr(args, "deep_resting", None)
        or (QUICK_DEEP_RESTING if quick else DEEP_RESTING),
    }


def _progress(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "json", False):
        print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the report (every figure, ratio and target verdict)."""
    from .harness import run_core

    cfg = _settings(args)
    return run_core(cfg, lambda message: _progress(args, message))


# -- plain-text report ----------------------------------------------------------------------------
def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def render(report: dict[str, Any]) -> str:
    lines = [
        f"cmx bench core  (seed {report['seed']}, {report['repeats']} timed run(s) per engine"
        f"{', QUICK: indicative only' if report['quick'] else ''})",
        f"python {report['environment']['python']} on {report['environment']['platform']}, "
        f"{report['environment']['cpus']} cpus; timer overhead "
        f"{report['timer_overhead_ns']} ns (subtracted from latencies); "
        f"core: {report['environment'].get('core', '?')}",
    ]
    for name, s in report["streams"].items():
        lines.append("")
        lines.append(
            f"[{name}] {s['ops']:,} ops on a book seeded with {s['setup_orders']:,} orders "
            f"(passive {s['mix']['passive']:,}, aggressive {s['mix']['aggressive']:,}, "
            f"cancels {s['mix']['cancels']:,}, of which {s['dead_cancels']:,} hit a filled order)"
        )
        header = (f"  {'engine':<21}{'ops/s':>11}{'best':>11}{'p50 us':>9}{'p99 us':>9}"
                  f"{'p99.9 us':>10}"
                  f"{'max us':>10}{'gc max ms':>10}{'full gc ms':>11}{'traded qty':>12}"
                  f"{'trades':>9}  check")
        lines.append(header)
        for engine, r in s["engines"].items():
            lat = r.get("latency_us", {})
            check = "ok" if r.get("ok") else f"FLAGGED: {r.get('error')}"
            lines.append(
                f"  {engine:<21}{_fmt(r.get('ops_per_s'), ',d'):>11}"
                f"{_fmt(r.get('ops_per_s_best'), ',d'):>11}"
                f"{_fmt(lat.get('p50'), '.2f'):>9}{_fmt(lat.get('p99'), '.2f'):>9}"
                f"{_fmt(lat.get('p99_9'), '.2f'):>10}{_fmt(lat.get('max'), '.0f'):>10}"
                f"{_fmt(r.get('gc', {}).get('max_pause_ms'), '.2f'):>10}"
                f"{_fmt(r.get('gc', {}).get('forced_full_collect_ms'), '.2f'):>11}"
                f"{_fmt(r.get('traded_qty'), ',d'):>12}{_fmt(r.get('trades'), ',d'):>9}  {check}"
            )
        for engine, r in s["engines"].items():
            if r.get("probe"):
                lines.append(f"  {engine} without its workaround, {r['probe']}")
        for engine, r in s["engines"].items():
            by_kind = r.get("latency_by_kind_us")
            if by_kind and engine in ("book", "engine"):
                cells = ", ".join(f"{k} {v['p50']:.2f}/{v['p99']:.2f}" for k, v in by_kind.items())
                lines.append(f"  {engine} latency by kind, p50/p99 us: {cells}")
        for engine, r in s["engines"].items():
            by_fills = r.get("latency_by_fills_us")
            if by_fills and engine in ("book", "engine"):
                cells = ", ".join(f"{k}: {v['p50']:.2f}/{v['p99']:.2f} (n={v['n']:,})"
                                  for k, v in by_fills.items())
                lines.append(f"  {engine} latency by makers taken, p50/p99 us: {cells}")
        for ours, row in s["ratios"].items():
            if not row:
                continue
            cells = ", ".join(f"{k} x{v:g}" for k, v in row.items())
            lines.append(f"  ratio {ours} ops/s to: {cells}")
    mem = report["memory"]
    lines.append("")
    lines.append(f"[memory] bytes per resting order, {mem['resting_orders']:,} resting orders")
    for engine, value in mem["bytes_per_order"].items():
        lines.append(f"  {engine:<21}{value:>10,.0f}")
    for engine, err in mem["errors"].items():
        lines.append(f"  {engine:<21}FLAGGED: {err}")
    lines.append("")
    lines.append("[targets] (standard stream" + (", quick run" if report["quick"] else "") + ")")
    for t in report["targets"]:
        mark = "MET " if t["met"] else "MISS"
        lines.append(f"  {mark}  {t['target']:<62} measured {_fmt(t['measured'])}")
    if report["flags"]:
        lines.append("")
        lines.append("FLAGGED (crashes, disagreements on traded quantity):")
        lines.extend(f"  {flag}" for flag in report["flags"])
    return "\n".join(lines)
