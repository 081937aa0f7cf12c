"""Everything ``cmx run`` leaves in its output directory, and the summary it prints.

Layout of ``OUT/``::

    trades.parquet quotes.parquet orders.parquet agents.parquet macro.parquet
    agent_metrics.parquet    class-specific numbers per agent and step (surplus, inventory)
    stylized_facts.parquet   kurtosis and autocorrelations of mid returns by interval and lag
    runs.parquet             the runs index (one row per run, Mesa batch_run shape)
    config.json              resolved scenario, case, overrides, seed and package versions
    summary.json             the printed summary as data
    price.png volume.png     charts
    timing.json              wall-clock time and the matching core it ran on (compiled or
                             interpreted); the only file that differs between re-runs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from exchange.core import IMPLEMENTATION
from scenarios import stats
from scenarios.config import Loaded
from scenarios.kernel import IMPLEMENTATION as KERNEL_IMPLEMENTATION
from scenarios.outputs import TABLES, resolved_config, runs_index, write_json, write_parquet
from scenarios.runner import NS, RunResult


def facts_table(loaded: Loaded, result: RunResult) -> pa.Table:
    meta = loaded.scenario.scenario
    instrument = result.summary.get("instrument")
    if instrument is None:
        return stats.FACTS_SCHEMA.empty_table()
    start = meta.start_ns + int(meta.warmup * NS)
    end = meta.start_ns + int(meta.duration * NS)
    return stats.stylized_facts(result.tables["quotes"], instrument, start, end)


def index_row(result: RunResult, iteration: int, params: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in result.summary.items() if k != "state_hash"}
    row.update({"iteration": iteration, **params})
    return row


def save_run(out: Path, loaded: Loaded, result: RunResult, charts: bool = True) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        write_parquet(result.tables[name], out / f"{name}.parquet")
    facts = facts_table(loaded, result)
    write_parquet(facts, out / "stylized_facts.parquet")
    write_parquet(runs_index([index_row(result, 0, loaded.overrides)]), out / "runs.parquet")
    write_json(resolved_config(loaded, result.seed), out / "config.json")
    write_json(result.summary, out / "summary.json")
    write_json({"wall_s": result.wall_s,
                "messages_per_s": result.summary["messages"] / max(result.wall_s, 1e-9),
                # what the wall time was measured on (both give the same tables)
                "core": IMPLEMENTATION, "kernel": KERNEL_IMPLEMENTATION},
               out / "timing.json")
    instrument = result.summary.get("instrument")
    if charts and loaded.scenario.scenario.charts and instrument is not None:
        from scenarios.charts import price_chart, volume_chart

        title = f"{loaded.scenario.scenario.name} seed {result.seed}"
        series = [s.name for s in loaded.scenario.exogenous]
        price_chart(result.tables, instrument, series, out / "price.png", title)
        volume_chart(result.tables, instrument, out / "volume.png", title)
    return {"facts": facts}


def format_summary(summary: dict[str, Any], wall_s: float, facts: pa.Table | None = None) -> str:
    lines = [f"scenario {summary['scenario']}"
             + (f" case {summary['case']}" if summary.get("case") else "")
             + f" seed {summary['seed']}: {summary['duration_s']:g} s simulated"]
    rate = summary["messages"] / max(wall_s, 1e-9)
    lines.append(f"  {summary['agents']} agents, {summary['messages']:,} messages, "
                 f"{summary['commands']:,} commands in {wall_s:.2f} s ({rate:,.0f} msg/s)")
    lines.append(f"  {summary['trades']:,} trades, volume {summary['volume']:,} lots")
    if "instrument" in summary:
        lines.append(f"  {summary['instrument']}: last {summary['last_price']:.4g}, "
                     f"mean spread {summary['mean_spread']:.4g} "
                     f"({summary['mean_spread_ticks']:.2f} ticks)")
    for key in ("efficiency", "max_surplus", "realized_surplus"):
        if key in summary:
            lines.append(f"  {key}: {summary[key]:.4f}")
    if facts is not None and facts.num_rows:
        lines.append("  stylized facts (interval s: excess kurtosis, acf r lag1, acf |r| lag1/10)")
        rows = facts.to_pylist()
        for interval in sorted({r["interval_s"] for r in rows}):
            sel = {r["lag"]: r for r in rows if r["interval_s"] == interval}
            first = sel[min(sel)]
            ten = sel.get(10, first)
            lines.append(f"    {interval:>6g}: {first['excess_kurtosis']:7.2f} "
                         f"{first['acf_returns']:7.3f} {first['acf_abs_returns']:7.3f} "
                         f"{ten['acf_abs_returns']:7.3f}  (n={first['n_returns']})")
    return "\n".join(lines)
