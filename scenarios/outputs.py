"""Writing a run's results: Parquet tables, the runs index, the resolved config, a summary.

Byte-identical outputs for the same scenario and seed are a requirement, so everything written
here is a pure function of the run: no wall-clock times, no host names, no pandas metadata,
fixed compression settings. Wall time lives only in ``timing.json``, which is the one file a
comparison should leave out.
"""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from scenarios.config import Loaded

TABLES = ("trades", "quotes", "orders", "agents", "agent_metrics", "macro")
PACKAGES = ("computemarket", "numpy", "msgspec", "pyarrow", "sortedcontainers")


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic Parquet: same table, same bytes."""
    pq.write_table(table, path, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, store_schema=True, version="2.6")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def resolved_config(loaded: Loaded, seed: int) -> dict[str, Any]:
    return {
        "file": loaded.path,
        "case": loaded.case,
        "seed": seed,
        "overrides": loaded.overrides,
        "scenario": msgspec.to_builtins(loaded.scenario),
        "agent_params": [msgspec.to_builtins(p) for p in loaded.agent_params],
        "versions": versions(),
    }


def clean(value: Any) -> Any:
    """JSON cannot hold NaN: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def write_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(clean(data), indent=2, sort_keys=True, default=str) + "\n")


def runs_index(rows: list[dict[str, Any]]) -> pa.Table:
    """Mesa ``batch_run``-shaped index: one row per run with its id, seed, parameters and the
    final step, followed by the run's summary numbers. Columns are sorted after the leading
    ones so the table's shape never depends on dict ordering."""
    lead = ["run_id", "iteration", "seed", "case", "step"]
    keys = sorted({k for r in rows for k in r} - set(lead))
    columns = {k: [r.get(k) for r in rows] for k in lead + keys}
    return pa.table({k: pa.array(v) for k, v in columns.items()})
