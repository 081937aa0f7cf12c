"""Builders shared by the simulation tests: tiny scenarios as data, run in-process."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from scenarios.config import Loaded, load, load_raw, read_raw, resolve_path

SPOT = {"name": "ASSET_USD", "kind": "spot", "base": "ASSET", "tick_size": "0.01"}


def scenario(agents: list[dict[str, Any]], duration: float = 60.0, **meta: Any) -> dict:
    """A raw scenario dict with one spot instrument."""
    return {
        "scenario": {"name": "test", "duration": duration, "sample_interval": 10.0,
                     "charts": False, **meta},
        "market": {"instruments": [dict(SPOT)]},
        "agents": copy.deepcopy(agents),
    }


def loaded(raw: dict[str, Any], case: str | None = None,
           overrides: dict[str, Any] | None = None) -> Loaded:
    return load_raw(raw, "<test>", case, overrides)


def shipped(name: str, case: str | None = None, **overrides: Any) -> Loaded:
    return load(name, case, overrides)


def shipped_raw(name: str) -> dict[str, Any]:
    return read_raw(resolve_path(name))


def small_noise_market(duration: float = 600.0) -> Loaded:
    """The shipped noise market scaled down so a run takes a fraction of a second."""
    return load("noise_market", None, {
        "scenario.duration": duration, "scenario.warmup": 60.0,
        "agents.noise.count": 60, "agents.value.count": 10, "agents.momentum.count": 4,
    })


def digests(directory: Path, pattern: str = "*.parquet") -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob(pattern))}
