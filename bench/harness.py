"""The measuring half of ``cmx bench core`` (see ``bench.core`` for what is measured and why).

Kept out of ``bench.core`` so that building the ``cmx`` parser imports nothing heavy: numpy,
the exchange core and the peers load only when a benchmark actually runs.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from exchange.core import IMPLEMENTATION
from exchange.core.implementation import interpreted_core

from . import streams
from .ours import BookAdapter, EngineAdapter, fills_per_op
from .peers import (
    FastlobAdapter,
    LightMatchingEngineAdapter,
    SortedBookAdapter,
    mark_dead_cancels,
)
from .stats import (
    GcMonitor,
    latency_by_fills,
    latency_by_kind,
    latency_summary,
    quiet_heap,
    timer_overhead_ns,
)

OURS = ("book", "engine")

# (key, description, engine, figure, comparison, threshold): the performance targets
# stated in docs/performance.md
TARGETS = [
    ("book_ops_per_s", "book alone >= 1,000,000 ops/s", "book", "ops_per_s", ">=", 1_000_000),
    ("book_p99_9_us", "book alone p99.9 <= 10 us", "book", "p99_9", "<=", 10.0),
    ("engine_ops_per_s", "full engine >= 400,000 ops/s", "engine", "ops_per_s", ">=", 400_000),
    ("engine_p99_us", "full engine p99 <= 10 us", "engine", "p99", "<=", 10.0),
]
MAX_BYTES_PER_ORDER = 300
MAX_GC_PAUSE_MS = 2.0


def make_adapter(name: str, cfg: dict[str, Any]) -> Any:
    if name == "book":
        return BookAdapter()
    if name == "engine":
        return EngineAdapter(cfg["instrument"])
    if name == "book_interpreted":
        return BookAdapter(interpreted_core())
    if name == "engine_interpreted":
        return EngineAdapter(cfg["instrument"], interpreted_core())
    if name == "sorted_book":
        return SortedBookAdapter()
    if name == "lightmatchingengine":
        return LightMatchingEngineAdapter()
    if name == "fastlob":
        return FastlobAdapter()
    raise ValueError(f"unknown engine {name!r}")


# -- one engine on one stream -------------------------------------------------------------------
def _full_collect_ms() -> float:
    t0 = time.perf_counter_ns()
    gc.collect()
    return (time.perf_counter_ns() - t0) / 1e6


class _Trial:
    """One engine's measurements on one stream, accumulated across interleaved rounds."""

    def __init__(self, name: str, adapter: Any) -> None:
        self.name = name
        self.adapter = adapter
        self.results: list[tuple[int, int | None]] = []
        self.rates: list[float] = []
        self.samples: list[int] = []
        self.monitor = GcMonitor()
        self.error: str | None = None
        self.resting: int | None = None
        self.full_collect_ms: float | None = None
        # a peer's untimed self-check without its workaround: (ran cleanly, what happened)
        self.probe: tuple[bool, str] | None = None

    def attempt(self, phase: str, action: Callable[[], None]) -> None:
        """Run one phase unless an earlier one failed; a peer that raises is recorded, not
        fatal, and is dropped from the remaining rounds."""
        if self.error is not None:
            return
        try:
            action()
        except Exception as exc:
            self.error = f"{type(exc).__name__} during {phase}: {exc}"

    def timed_run(self, n: int) -> None:
        with quiet_heap():
            self.adapter.reset()
            with self.monitor:
                t0 = time.perf_counter_ns()
                result = self.adapter.run()
                elapsed = time.perf_counter_ns() - t0
        self.adapter.close()  # stop background work so it cannot disturb the next engine
        self.results.append(result)
        self.rates.append(n / (elapsed / 1e9))

    def latency_run(self, n: int) -> None:
        self.samples = [0] * n
        with quiet_heap():
            self.adapter.reset()
            with self.monitor:
                self.results.append(self.adapter.run_latency(self.samples))
            # The pause a collection could cause now: a full collection with the engine's
            # whole state alive (the harness's own objects stay frozen). Best of five, so a
            # preemption by a neighbour on a shared machine is not counted as collector work.
            self.full_collect_ms = min(_full_collect_ms() for _ in range(5))
        self.resting = self.adapter.resting()
        self.adapter.close()

    def finish(self) -> None:
        try:
            self.adapter.close()
        finally:
            self.adapter.release()

    def report(self, overhead_ns: int, kinds: bytes, fills: bytes = b"") -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.adapter.label, "ok": False, "error": self.error}
        notes = getattr(self.adapter, "notes", None)
        if notes:
            out["notes"] = notes
        if self.probe is not None:
            out["probe_ok"], out["probe"] = self.probe
        out["gc"] = self.monitor.summary()
        if self.full_collect_ms is not None:
            out["gc"]["forced_full_collect_ms"] = round(self.full_collect_ms, 3)
        if self.error is not None or not self.samples:
            return out
        if len(set(self.results)) != 1:
            out["error"] = f"results differ between runs of one stream: {sorted(set(self.results))}"
            return out
        out["ok"] = True
        out["traded_qty"], out["trades"] = self.results[0]
        out["resting_after"] = self.resting
        out["ops_per_s"] = round(statistics.median(self.rates))
        out["ops_per_s_best"] = round(max(self.rates))
        out["ops_per_s_runs"] = [round(r) for r in self.rates]
        out["latency_us"] = latency_summary(self.samples, overhead_ns)
        if len(kinds) == len(self.samples):
            out["latency_by_kind_us"] = latency_by_kind(self.samples, overhead_ns, kinds,
                                                        streams.KIND_NAMES)
        if len(fills) == len(self.samples):
            out["latency_by_fills_us"] = latency_by_fills(self.samples, overhead_ns, fills)
        return out


def measure_stream(engines: list[str], cfg: dict[str, Any], stream: streams.Stream,
                   overhead_ns: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every engine on one stream. Rounds are interleaved (round 1 of every engine, then
    round 2, ...) so that a burst of noise on this shared machine lands on all engines rather
    than on one, and the ratios stay fair. Each timed run starts from a fresh engine."""
    n = len(stream.ops)
    trials = [_Trial(name, make_adapter(name, cfg)) for name in engines]
    for trial in trials:
        trial.attempt("load", lambda t=trial: t.adapter.load(stream))
        if hasattr(trial.adapter, "probe"):
            trial.attempt("probe", lambda t=trial: setattr(t, "probe", t.adapter.probe(stream)))
    for round_no in range(cfg["repeats"]):
        progress(f"  {stream.name}: timed round {round_no + 1}/{cfg['repeats']}")
        for trial in trials:
            trial.attempt("run", lambda t=trial: t.timed_run(n))
    progress(f"  {stream.name}: latency round")
    for trial in trials:
        trial.attempt("latency run", lambda t=trial: t.latency_run(n))
    for trial in trials:
        trial.attempt("close", trial.finish)
        if trial.error is not None:
            try:  # a peer with a background thread must not outlive a failed run
                trial.finish()
            except Exception:
                pass
    return {trial.name: trial.report(overhead_ns, stream.kinds, stream.fills)
            for trial in trials}


def check_agreement(engines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Compare traded quantity (and trade count where reported) with our book's, or the
    first engine that finished when the book did not run."""
    finished = [name for name, r in engines.items() if r.get("traded_qty") is not None]
    crashed = [name for name, r in engines.items() if r.get("traded_qty") is None]
    if not finished:
        return {"reference": None, "traded_qty": None, "trades": None, "agree": False,
                "disagree": [], "crashed": crashed}
    ref = "book" if "book" in finished else finished[0]
    qty, trades = engines[ref]["traded_qty"], engines[ref]["trades"]
    disagree = []
    for name in finished:
        r = engines[name]
        same = r["traded_qty"] == qty and (r["trades"] is None or trades is None
                                           or r["trades"] == trades)
        r["agrees"] = same
        if not same:
            disagree.append(name)
            r["ok"] = False
            r["error"] = r["error"] or (
                f"disagrees with {ref}: traded {r['traded_qty']} in {r['trades']} trades, "
                f"expected {qty} in {trades}"
            )
    return {"reference": ref, "traded_qty": qty, "trades": trades,
            "agree": not disagree and not crashed, "disagree": disagree, "crashed": crashed}


def ratios(engines: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Our ops/s over each other engine's, for engines that finished and agreed."""
    out: dict[str, dict[str, float]] = {}
    for ours in OURS:
        mine = engines.get(ours)
        if not mine or not mine.get("ok"):
            continue
        out[ours] = {
            other: round(mine["ops_per_s"] / r["ops_per_s"], 2)
            for other, r in engines.items()
            if other != ours and r.get("ok")
        }
    return out


# -- memory ---------------------------------------------------------------------------------------
def measure_memory(factory: Callable[[], Any], n: int, seed: int) -> float:
    """Bytes retained per resting order: build a book of ``n`` non-crossing orders under
    ``tracemalloc`` (counting the per-order objects, ids and prices the engine keeps), drop
    every input, and divide what is still allocated by ``n``."""
    adapter = factory()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rng = np.random.default_rng(seed + 7)
        # About 80 orders per level at any size, as in the deep stream, so that per-level
        # overhead is amortized alike in quick and full runs.
        spread = min(streams.DEEP_SPREAD, max(1, n // 166))
        setup = streams.resting_orders(rng, n, streams.MID, spread, 1)
        stream = streams.Stream("memory", seed, setup, [], streams.MID)
        adapter.load(stream)
        adapter.reset()
        adapter.release()
        del stream, setup
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
        resting = adapter.resting()
    finally:
        tracemalloc.stop()
        adapter.close()
    if resting != n:
        raise RuntimeError(f"expected {n} resting orders, found {resting}")
    return round(retained / n, 1)


# -- the benchmark --------------------------------------------------------------------------------
def build_stream(name: str, cfg: dict[str, Any]) -> streams.Stream:
    if name == "standard":
        stream = streams.standard_stream(cfg["seed"], cfg["ops"])
    else:
        stream = streams.deep_stream(cfg["seed"], cfg["ops"], cfg["deep_resting"])
    mark_dead_cancels(stream)
    stream.fills = fills_per_op(stream)
    return stream


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    standard = report["streams"].get("standard", {}).get("engines", {})
    for key, text, engine, figure, cmp, limit in TARGETS:
        r = standard.get(engine)
        value = None
        if r and r.get("ok"):
            value = r["ops_per_s"] if figure == "ops_per_s" else r["latency_us"][figure]
        met = value is not None and (value >= limit if cmp == ">=" else value <= limit)
        out.append({"key": key, "target": text, "measured": value, "met": met})
    for engine in OURS:
        value = report["memory"].get("bytes_per_order", {}).get(engine)
        out.append({
            "key": f"{engine}_bytes_per_order",
            "target": f"{engine}: <= {MAX_BYTES_PER_ORDER} bytes per resting order",
            "measured": value,
            "met": isinstance(value, float) and value <= MAX_BYTES_PER_ORDER,
        })
    # Pauses seen during the runs, and a forced full collection with the state alive: what a
    # collection triggered by anything else in the process (a gateway, a simulator) would cost.
    ours = [r for s in report["streams"].values() for e in OURS
            if (r := s["engines"].get(e)) is not None and "gc" in r]
    for key, figure, text in (
        ("gc_max_pause_ms", "max_pause_ms", "no GC pause above {} ms during the runs"),
        ("gc_full_collect_ms", "forced_full_collect_ms",
         "a full collection with the book alive under {} ms"),
    ):
        values = [r["gc"][figure] for r in ours if figure in r["gc"]]
        worst = max(values) if values else None
        out.append({
            "key": key,
            "target": text.format(f"{MAX_GC_PAUSE_MS:g}") + " (book, engine)",
            "measured": worst,
            "met": worst is not None and worst <= MAX_GC_PAUSE_MS,
        })
    return out


def run_core(cfg: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
    """Every stream through every engine, then memory, then the target check."""
    overhead = timer_overhead_ns()
    report: dict[str, Any] = {
        "benchmark": "core",
        "quick": cfg["quick"],
        "seed": cfg["seed"],
        "repeats": cfg["repeats"],
        "engine_instrument": cfg["instrument"],
        "environment": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "gc_thresholds": list(gc.get_threshold()),
            # "compiled" (Cython) or "interpreted": which core `book` and `engine` ran
            "core": IMPLEMENTATION,
        },
        "timer_overhead_ns": overhead,
        "streams": {},
        "memory": {},
    }
    for name in cfg["streams"]:
        progress(f"generating {name} stream ...")
        stream = build_stream(name, cfg)
        section: dict[str, Any] = {
            "ops": len(stream.ops),
            "setup_orders": len(stream.setup),
            "mix": stream.mix,
            "dead_cancels": len(stream.dead_cancels),
            "engines": measure_stream(cfg["engines"], cfg, stream, overhead, progress),
        }
        section["agreement"] = check_agreement(section["engines"])
        section["ratios"] = ratios(section["engines"])
        report["streams"][name] = section
        del stream
    memory: dict[str, Any] = {"resting_orders": cfg["memory_orders"], "bytes_per_order": {},
                              "errors": {}}
    for engine in cfg["engines"]:
        progress(f"  memory: {engine} ...")
        try:
            memory["bytes_per_order"][engine] = measure_memory(
                lambda e=engine: make_adapter(e, cfg), cfg["memory_orders"], cfg["seed"])
        except Exception as exc:
            memory["errors"][engine] = f"{type(exc).__name__}: {exc}"
    report["memory"] = memory
    report["targets"] = evaluate_targets(report)
    # Peers that crash or disagree are flagged; the run as a whole fails only when our own
    # book or engine did (a wrong answer from us makes every figure meaningless).
    report["flags"] = [
        f"{stream_name}: {engine}: {r['error']}"
        for stream_name, s in report["streams"].items()
        for engine, r in s["engines"].items() if not r.get("ok")
    ] + [
        f"{stream_name}: {engine} fails when {r['probe']}; its figures are measured with the "
        "workaround in its notes"
        for stream_name, s in report["streams"].items()
        for engine, r in s["engines"].items() if r.get("probe_ok") is False
    ] + [f"memory: {engine}: {err}" for engine, err in memory["errors"].items()]
    report["ok"] = all(
        s["engines"][e].get("ok") for s in report["streams"].values()
        for e in OURS if e in s["engines"]
    )
    return report
