"""Sweeps: a grid of parameters x seeds, run serially or on ``dask.distributed``.

A sweep is planned up front as a list of runs with fixed ids (grid point-major, then seed), and
every run is validated before anything is dispatched, so a bad grid value fails in a second,
not on a worker an hour in. Runs are batched into tasks (many seeds per task) to amortise task
overhead. Workers receive the scenario as data (not a path) and send their tables back as
Parquet bytes, so a remote cluster needs no shared file system. Every run's files are written
under its run id whatever order the tasks finish in, which is why a Dask sweep writes exactly
the bytes a serial one does.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from scenarios import runner
from scenarios.artifacts import facts_table, index_row
from scenarios.config import Loaded, ScenarioError, load_raw, resolved_value
from scenarios.economy_driver import EconomyOutOfRange
from scenarios.outputs import TABLES, runs_index, write_json, write_parquet


@dataclass(frozen=True)
class PlannedRun:
    run_id: int
    iteration: int  # seed index within its grid point
    seed: int
    params: dict[str, Any]
    #: the case this run uses when it is not the plan's (``--with-case``); None: the plan's
    case: str | None = None


@dataclass
class Plan:
    raw: dict[str, Any]
    where: str
    case: str | None
    runs: list[PlannedRun]
    grid: dict[str, list[Any]]
    #: each grid key's value in the file as shipped (with defaults filled in), so a report can
    #: find the grid point that is the scenario itself
    defaults: dict[str, Any] = field(default_factory=dict)


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def plan(raw: dict[str, Any], where: str, case: str | None, seeds: int | None,
         base_seed: int | None) -> Plan:
    base = load_raw(raw, where, case)
    sweep = base.scenario.sweep
    n_seeds = seeds if seeds is not None else sweep.seeds
    if n_seeds < 1:
        raise ScenarioError(f"{where}: need at least one seed")
    first_seed = base_seed if base_seed is not None else base.scenario.scenario.seed
    runs = []
    run_id = 0
    for point in grid_points(sweep.grid) or [{}]:
        load_raw(raw, where, case, point)  # validate every point before dispatching
        for i in range(n_seeds):
            runs.append(PlannedRun(run_id, i, first_seed + i, point))
            run_id += 1
    defaults = {key: resolved_value(base, key) for key in sweep.grid}
    return Plan(raw, where, case, runs, dict(sweep.grid), defaults)


def plan_with_cases(raw: dict[str, Any], where: str, case: str | None, extra: list[str],
                    seeds: int | None, base_seed: int | None) -> Plan:
    """The plan of ``case`` followed by the same grid and seeds under each ``extra`` case.

    A counterfactual is only comparable run by run when it sees the same seeds, so the extra
    cases reuse the first plan's seeds and continue its run ids; every run records its case."""
    first = plan(raw, where, case, seeds, base_seed)
    runs = list(first.runs)
    for name in extra:
        other = plan(raw, where, name, seeds, base_seed)
        for r in other.runs:
            runs.append(PlannedRun(len(runs), r.iteration, r.seed, r.params, name))
    return Plan(raw, where, case, runs, first.grid, first.defaults)


def plan_compare(raw: dict[str, Any], where: str, cases: list[str], seeds: int,
                 base_seed: int | None, overrides: dict[str, Any]) -> Plan:
    """What ``cmx run`` does with a file that has a ``[compare]`` section: the file as it
    stands, then each of ``cases``, every one on the same ``seeds`` seeds (the file's seed
    first) with the same ``overrides``. No sweep grid: a comparison is one parameter set.
    Every run is validated before any is dispatched."""
    if seeds < 1:
        raise ScenarioError(f"{where}: need at least one seed")
    base = load_raw(raw, where, None, overrides)
    first = base_seed if base_seed is not None else base.scenario.scenario.seed
    runs: list[PlannedRun] = []
    for case in [None, *cases]:
        load_raw(raw, where, case, overrides)
        for i in range(seeds):
            runs.append(PlannedRun(len(runs), i, first + i, dict(overrides), case))
    return Plan(raw, where, None, runs, {})


def run_batch(raw: dict[str, Any], where: str, case: str | None,
              batch: list[PlannedRun]) -> list[tuple[int, dict[str, bytes], dict[str, Any]]]:
    """Run a batch of planned runs; the unit of work a Dask task does.

    Each run's tables come back as Parquet bytes: compressed, so a remote worker sends a
    fraction of the in-memory size, and already in their final form, so the client only
    writes them (and a serial sweep writes exactly the same bytes)."""
    out = []
    for planned in batch:
        run_case = planned.case if planned.case is not None else case
        loaded: Loaded = load_raw(raw, where, run_case, planned.params)
        try:
            result = runner.run(loaded, planned.seed, planned.run_id)
        except EconomyOutOfRange as exc:  # recorded, not fatal: other points still run
            out.append((planned.run_id, {}, {"seed": planned.seed, "iteration":
                                             planned.iteration, "run_id": planned.run_id,
                                             "case": run_case or "",
                                             "failed": str(exc), "wall_s": 0.0,
                                             **planned.params}))
            continue
        tables = dict(result.tables)
        facts = facts_table(loaded, result)
        tables["stylized_facts"] = facts.add_column(
            0, "run_id", pa.array([planned.run_id] * facts.num_rows, type=pa.int64()))
        row = index_row(result, planned.iteration, planned.params)
        row["wall_s"] = result.wall_s
        out.append((planned.run_id, {k: parquet_bytes(t) for k, t in tables.items()}, row))
    return out


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    write_parquet(table, buf)  # type: ignore[arg-type]
    return buf.getvalue()


def batches(runs: list[PlannedRun], size: int) -> Iterator[list[PlannedRun]]:
    for i in range(0, len(runs), size):
        yield runs[i:i + size]


Progress = Callable[[int], None]


def execute_serial(p: Plan, per_task: int, progress: Progress | None = None) -> list:
    results = []
    for batch in batches(p.runs, per_task):
        done = run_batch(p.raw, p.where, p.case, batch)
        results.extend(done)
        if progress:
            progress(len(done))
    return results


def execute_pool(p: Plan, per_task: int, workers: int,
                 progress: Progress | None = None) -> list:
    """Run the plan on ``workers`` local processes (``concurrent.futures``): no scheduler to
    start, so a handful of runs on a laptop pays no cluster start-up. Results are written by
    run id, so the bytes are those of a serial run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if workers <= 1:
        return execute_serial(p, per_task, progress)
    # spawn: a worker starts from a clean interpreter, never from a copy of the caller's state
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_batch, p.raw, p.where, p.case, batch)
                   for batch in batches(p.runs, per_task)]
        return _gather(as_completed(futures), progress)


def _gather(finished: Iterable[Any], progress: Progress | None) -> list:
    """The runs of each batch as its future finishes, counted on ``progress``."""
    results: list = []
    for future in finished:
        done = future.result()
        results.extend(done)
        if progress:
            progress(len(done))
    return results


def execute_dask(p: Plan, per_task: int, client: Any,
                 progress: Progress | None = None) -> list:
    """Run the plan on the Dask ``client`` (from ``connect``, which the caller closes)."""
    from dask.distributed import as_completed

    futures = [client.submit(run_batch, p.raw, p.where, p.case, batch, pure=False)
               for batch in batches(p.runs, per_task)]
    return _gather(as_completed(futures), progress)


class SchedulerError(RuntimeError):
    """The Dask scheduler given by address cannot be reached (or the address is malformed)."""


def connect(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """(client, cluster or None): a client of the scheduler at ``scheduler`` or of a new
    ``LocalCluster`` with one single-threaded process per worker (the simulation is pure
    Python, so threads would only contend for the interpreter lock).

    Raises ``SchedulerError`` when ``scheduler`` cannot be reached or parsed."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client, cluster = Client(scheduler), None
        except (OSError, ValueError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}"
                                 ) from None
    else:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    client.run(_warm_up)
    return client, cluster


def _warm_up() -> None:
    """Import the simulator on a worker once, before any task is timed or queued behind it."""
    import scenarios.runner  # noqa: F401


def write_sweep(out: Path, p: Plan, results: list) -> pa.Table:
    """Write every run's tables as ``OUT/<table>/run-<id>.parquet`` (a Parquet dataset that
    pandas, polars and pyarrow read as one table) and the runs index as ``OUT/runs.parquet``.
    Nothing is concatenated in memory, so a sweep's size is bounded by disk, not RAM.
    A scenario with an economy also gets ``OUT/economy/run-<id>.parquet``, which the
    report reads."""
    results = sorted(results, key=lambda r: r[0])
    out.mkdir(parents=True, exist_ok=True)
    optional = ("economy",) if any("economy" in tables for _, tables, _ in results) else ()
    for name in (*TABLES, "stylized_facts", *optional):
        folder = out / name
        folder.mkdir(exist_ok=True)
        for run_id, tables, _ in results:
            if name in tables:
                (folder / f"run-{run_id:06d}.parquet").write_bytes(tables[name])
    rows = [{k: v for k, v in row.items() if k != "wall_s"} for _, _, row in results]
    index = runs_index(rows)
    write_parquet(index, out / "runs.parquet")
    write_json({"file": p.where, "case": p.case, "grid": p.grid, "defaults": p.defaults,
                "runs": [{"run_id": r.run_id, "seed": r.seed, "params": r.params,
                          **({"case": r.case} if r.case is not None else {})}
                         for r in p.runs]}, out / "sweep.json")
    write_json({"wall_s_per_run": {str(rid): row["wall_s"] for rid, _, row in results}},
               out / "timing.json")
    return index
