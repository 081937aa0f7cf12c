"""Measurement helpers: timer overhead, latency percentiles, GC pauses, a quiet heap.

Kept apart from the engines so every engine is measured by exactly the same code.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

PERCENTILES = {"p50": 50.0, "p99": 99.0, "p99_9": 99.9}


def timer_overhead_ns(samples: int = 200_000) -> int:
    """Median cost of two back-to-back ``perf_counter_ns`` calls plus the store, in ns.

    Per-operation latencies are taken as ``t1 - t0`` around each operation, so each sample
    carries this overhead; it is subtracted from every sample (clamped at zero).
    """
    clock = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = clock()
        t1 = clock()
        out[i] = t1 - t0
    return int(statistics.median(out))


def latency_summary(samples_ns: list[int], overhead_ns: int) -> dict[str, float]:
    """p50/p99/p99.9/max in microseconds after removing the timer overhead."""
    arr = np.asarray(samples_ns, dtype=np.int64) - overhead_ns
    np.maximum(arr, 0, out=arr)
    out = {
        key: round(float(np.percentile(arr, q)) / 1000.0, 3) for key, q in PERCENTILES.items()
    }
    out["max"] = round(float(arr.max()) / 1000.0, 3)
    out["mean"] = round(float(arr.mean()) / 1000.0, 3)
    # Operations that took over a millisecond: on a shared machine these are almost always
    # the process being descheduled (multiples of the kernel's 4 ms tick), not the engine.
    out["over_1ms"] = int((arr > 1_000_000).sum())
    return out


def latency_by_kind(samples_ns: list[int], overhead_ns: int, kinds: bytes,
                    names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """p50/p99 per kind of operation (passive, aggressive, cancel), to show where a tail
    comes from."""
    arr = np.asarray(samples_ns, dtype=np.int64) - overhead_ns
    np.maximum(arr, 0, out=arr)
    codes = np.frombuffer(kinds, dtype=np.uint8)
    out = {}
    for code, name in enumerate(names):
        part = arr[codes == code]
        if len(part):
            out[name] = {
                "p50": round(float(np.percentile(part, 50)) / 1000.0, 3),
                "p99": round(float(np.percentile(part, 99)) / 1000.0, 3),
            }
    return out


#: groups of "makers an operation traded against" in latency_by_fills (the last is open-ended)
FILL_GROUPS = (0, 1, 2, 3, 4, 5)


def latency_by_fills(samples_ns: list[int], overhead_ns: int,
                     fills: bytes) -> dict[str, dict[str, float]]:
    """p50/p99 and count by the number of makers an operation traded against (0, 1, ..., 5+):
    the cost of a fill, and which operations make up a latency tail."""
    arr = np.asarray(samples_ns, dtype=np.int64) - overhead_ns
    np.maximum(arr, 0, out=arr)
    counts = np.frombuffer(fills, dtype=np.uint8)
    out = {}
    last = FILL_GROUPS[-1]
    for group in FILL_GROUPS:
        part = arr[counts >= last] if group == last else arr[counts == group]
        if len(part):
            out[f"{group}+" if group == last else str(group)] = {
                "n": int(len(part)),
                "p50": round(float(np.percentile(part, 50)) / 1000.0, 3),
                "p99": round(float(np.percentile(part, 99)) / 1000.0, 3),
            }
    return out


class GcMonitor:
    """Times every cyclic-GC collection while active, through ``gc.callbacks``.

    The pause of one collection is the time between its "start" and "stop" callbacks; the
    largest one is what a latency-sensitive engine cares about.
    """

    def __init__(self) -> None:
        self.pauses_ns: list[int] = []
        self.by_generation = [0, 0, 0]
        self._start = 0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.pauses_ns.append(time.perf_counter_ns() - self._start)
            self.by_generation[info["generation"]] += 1

    def __enter__(self) -> GcMonitor:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, float | int]:
        return {
            "collections": len(self.pauses_ns),
            "gen2_collections": self.by_generation[2],
            "max_pause_ms": round(max(self.pauses_ns, default=0) / 1e6, 3),
            "total_pause_ms": round(sum(self.pauses_ns) / 1e6, 3),
        }


@contextmanager
def quiet_heap() -> Iterator[None]:
    """Collect, then freeze everything alive (the pre-generated stream and the harness) into
    the permanent generation for the duration of a timed run.

    Without this, every full collection would also traverse the benchmark's own 200k-op input,
    a cost that belongs to the harness, not to the engine under test. What the engine allocates
    during the run is still collected normally, so its GC pauses are measured honestly.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
