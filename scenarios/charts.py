"""PNG charts of a run: price (mid, trades, exogenous series) and volume per sample.

Matplotlib runs on the Agg backend so charts render on machines without a screen (CI, a
cluster worker).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from scenarios.recorder import instrument_mask  # noqa: E402


def _column(table: pa.Table, name: str, mask: np.ndarray) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)[mask]


def _mask(table: pa.Table, instrument: str) -> np.ndarray:
    return instrument_mask(table.column("instrument"), instrument)


def price_chart(tables: dict[str, pa.Table], instrument: str, series: list[str],
                path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    macro = tables["macro"]
    if macro.num_rows:
        m = _mask(macro, instrument)
        t = _column(macro, "time_s", m)
        ax.plot(t, _column(macro, "mid", m), lw=1.2, label="mid")
        for name in series:
            ax.plot(t, _column(macro, name, m), lw=1.0, ls="--", label=name)
    trades = tables["trades"]
    if trades.num_rows:
        m = _mask(trades, instrument)
        ax.scatter(_column(trades, "time_s", m), _column(trades, "price", m), s=3, alpha=0.4,
                   color="black", label="trades")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{instrument} price")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def volume_chart(tables: dict[str, pa.Table], instrument: str, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=100)
    macro = tables["macro"]
    if macro.num_rows:
        m = _mask(macro, instrument)
        t = _column(macro, "time_s", m)
        vol = _column(macro, "volume", m)
        width = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        ax.bar(t - width, vol, width=width * 0.9, align="edge")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("volume (lots) per sample")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
