"""``cmx run``, ``cmx sweep`` and ``cmx report``.

Heavy imports (numpy, pyarrow, matplotlib, dask) happen inside the handlers, so registering
these subcommands costs nothing when another subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from exchange.cli_args import non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run a scenario and write its tables, charts and summary",
        description="Run one scenario (a TOML file, or the name of a shipped one such as "
                    "noise_market) with one seed. A file with a [compare] section (such as "
                    "compute_glut) runs its cases on several seeds and reports on them, "
                    "unless --case or --seed asks for one run.")
    run.add_argument("scenario", help="scenario file or shipped scenario name")
    run.add_argument("--case", help="named case of the file to run")
    run.add_argument("--seed", type=non_negative_int, help="root seed (default: the file's)")
    run.add_argument("--out", type=Path, help="output directory (default runs/<name>-<seed>)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a key, e.g. agents.noise.count=10 (TOML value syntax)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--no-report", action="store_true",
                     help="skip the verdict report of a scenario with an economy")
    run.add_argument("--workers", type=positive_int,
                     help="processes for a file's [compare] runs (default: 2, or 1 on one core)")
    run.add_argument("--serial", action="store_true",
                     help="run a file's [compare] runs in this process")
    run.set_defaults(handler=cmd_run)

    sweep = subparsers.add_parser(
        "sweep", help="run a scenario's grid x seeds on dask.distributed",
        description="Run every point of the scenario's [sweep] grid with N seeds each.")
    sweep.add_argument("scenario", help="scenario file or shipped scenario name")
    sweep.add_argument("--case", help="named case of the file to sweep")
    sweep.add_argument("--seeds", type=positive_int,
                       help="seeds per grid point (default: the file's)")
    sweep.add_argument("--seed", type=non_negative_int, help="first seed (default: the file's)")
    sweep.add_argument("--out", type=Path, help="output directory (default runs/<name>-sweep)")
    sweep.add_argument("--scheduler", help="address of a running dask scheduler "
                                           "(default: start a LocalCluster)")
    sweep.add_argument("--workers", type=positive_int,
                       help="LocalCluster worker processes (default 2)")
    sweep.add_argument("--per-task", type=positive_int,
                       help="runs per Dask task (default: the file's)")
    sweep.add_argument("--serial", action="store_true", help="run in this process, no Dask")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--with-case", action="append", default=[], metavar="CASE",
                       help="also run this case on the same seeds into the same directory "
                            "(e.g. the counterfactual no_overbuild); repeatable")
    sweep.add_argument("--no-report", action="store_true",
                       help="skip the verdict report of a scenario with an economy")
    sweep.set_defaults(handler=cmd_sweep)

    report = subparsers.add_parser(
        "report", help="verdict report (Markdown, HTML, verdicts.json) of economy runs",
        description="Report the compute-glut, buyer-gain and circular-revenue hypotheses of "
                    "cmx run and cmx sweep directories of a scenario with an [economy]. Runs "
                    "are split by the strategic-overbuild switch and paired by seed.")
    report.add_argument("inputs", nargs="+", type=Path,
                        help="run or sweep directories (e.g. the overbuild runs and their "
                             "counterfactual)")
    report.add_argument("--baseline", action="append", default=[], type=Path,
                        metavar="DIR", help="more run or sweep directories (the "
                                            "counterfactual); the same as listing them")
    report.add_argument("--out", type=Path, help="output directory (default FIRST/report)")
    report.add_argument("--no-charts", action="store_true", help="no PNG charts")
    report.set_defaults(handler=cmd_report)


def _run_bar(total: int, name: str, enabled: bool) -> Any:
    """A progress bar counting finished runs on stderr, or None when progress is off."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc=name, file=sys.stderr)


def parse_sets(items: list[str]) -> dict[str, object]:
    import tomllib

    from scenarios.config import ScenarioError

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # a bare word is a string
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from scenarios import runner
    from scenarios.artifacts import format_summary, save_run
    from scenarios.config import ScenarioError, load

    try:
        loaded = load(args.scenario, args.case, parse_sets(args.set))
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = loaded.scenario.scenario
    if loaded.scenario.compare is not None and args.case is None and args.seed is None:
        return _run_compare(args, loaded)
    seed = meta.seed if args.seed is None else args.seed
    name = meta.name + (f"-{args.case}" if args.case else "")
    out = args.out or Path("runs") / f"{name}-{seed}"
    progress = None
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=round(meta.duration), unit="sim s", desc=name, file=sys.stderr,
                   mininterval=0.2)
        start = meta.start_ns

        def progress(ts: int) -> None:
            bar.n = min(bar.total, round((ts - start) / 1e9))
            bar.refresh()

    result = runner.run(loaded, seed, 0, progress)
    if bar is not None:
        bar.n = bar.total
        bar.close()
    saved = save_run(out, loaded, result, charts=not args.no_charts)
    print(format_summary(result.summary, result.wall_s, saved["facts"]))
    if "economy" in result.tables:  # the macro table of a run with an economy
        from scenarios.economy_outputs import format_summary as economy_summary
        from scenarios.outputs import write_parquet

        write_parquet(result.tables["economy"], out / "economy.parquet")
        if not args.no_charts and meta.charts:
            from scenarios.economy_outputs import economy_chart

            economy_chart(result.tables["economy"], out / "economy.png", f"{name} seed {seed}")
        print(economy_summary(result.summary))
        if not args.no_report:
            _report([out], out / "report", not args.no_charts and meta.charts)
    print(f"  outputs in {out}/")
    return 0


def _run_compare(args: argparse.Namespace, loaded: object) -> int:
    """``cmx run`` of a file with ``[compare]``: its own case and each compared case on the same
    seeds, written as a sweep directory (``sweep.json``, ``runs.parquet``, a folder per table),
    a summary per case, and the report, whose verdicts need several seeds and the pairs."""
    import os

    from scenarios import sweep as sw
    from scenarios.config import Loaded, ScenarioError, read_raw, resolve_path
    from scenarios.economy_outputs import format_comparison

    assert isinstance(loaded, Loaded)
    compare = loaded.scenario.compare
    assert compare is not None
    meta = loaded.scenario.scenario
    try:
        path = resolve_path(args.scenario)
        p = sw.plan_compare(read_raw(path), str(path), compare.cases, compare.seeds, None,
                            loaded.overrides)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / meta.name
    workers = 1 if args.serial else (args.workers or min(2, os.cpu_count() or 1))
    labels = ["default", *compare.cases]
    print(f"{meta.name}: {len(labels)} case(s) ({', '.join(labels)}) x {compare.seeds} seeds "
          f"{meta.seed}-{meta.seed + compare.seeds - 1}, {len(p.runs)} runs on {workers} "
          f"process{'es' if workers > 1 else ''}", flush=True)
    bar = _run_bar(len(p.runs), meta.name, not args.no_progress)
    progress = bar.update if bar is not None else None
    started = time.perf_counter()
    results = sw.execute_pool(p, 1, workers, progress)
    wall = time.perf_counter() - started
    if bar is not None:
        bar.close()
    index = sw.write_sweep(out, p, results)
    cases = {r.run_id: (r.case or "default") for r in p.runs}
    print(f"  {len(p.runs)} runs in {wall:.1f} s")
    print(format_comparison(index.to_pylist(), cases, labels))
    print(f"  outputs in {out}/ (runs.parquet indexes every run; sweep.json lists them)")
    if loaded.scenario.economy is not None and not args.no_report:
        return _report([out], out / "report", not args.no_charts and meta.charts)
    return 0


def _report(inputs: list[Path], out: Path, charts: bool) -> int:
    """Write the verdict report and print its verdicts (2 if the inputs cannot be read)."""
    from scenarios.report import ReportError, format_verdicts, write_report

    try:
        verdicts = write_report(inputs, out, with_charts=charts)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"  report in {out}/ (report.md, report.html, verdicts.json)")
    print(format_verdicts(verdicts))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    inputs = [*args.inputs, *args.baseline]
    for path in inputs:
        if not path.is_dir():
            print(f"error: {path}: not a directory", file=sys.stderr)
            return 2
    return _report(inputs, args.out or inputs[0] / "report", not args.no_charts)


def cmd_sweep(args: argparse.Namespace) -> int:
    from scenarios import sweep as sw
    from scenarios.config import ScenarioError, read_raw, resolve_path

    try:
        path = resolve_path(args.scenario)
        raw = read_raw(path)
        p = sw.plan_with_cases(raw, str(path), args.case, args.with_case, args.seeds,
                               args.seed)
        base = sw.load_raw(raw, str(path), args.case)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = base.scenario.scenario
    per_task = args.per_task or base.scenario.sweep.per_task
    out = args.out or Path("runs") / f"{meta.name}-sweep"
    client = cluster = None
    if not args.serial:  # reach the scheduler (or start a local cluster) before the bar
        try:
            client, cluster = sw.connect(args.scheduler, args.workers)
        except sw.SchedulerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    bar = _run_bar(len(p.runs), meta.name, not args.no_progress)
    progress = bar.update if bar is not None else None
    started = time.perf_counter()
    if client is None:
        results = sw.execute_serial(p, per_task, progress)
    else:
        try:
            results = sw.execute_dask(p, per_task, client, progress)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    wall = time.perf_counter() - started
    if bar is not None:
        bar.close()
    index = sw.write_sweep(out, p, results)
    points = len(sw.grid_points(p.grid)) or 1
    cases = 1 + len(args.with_case)
    print(f"sweep {meta.name}: {len(p.runs)} runs ({points} grid point"
          f"{'s' if points > 1 else ''} x {len(p.runs) // points // cases} seeds"
          + (f" x {cases} cases" if cases > 1 else "") + f") in {wall:.2f} s")
    cols = [c for c in ("efficiency", "mean_spread_ticks", "trades", "volume")
            if c in index.column_names]
    for c in cols:
        values = [v for v in index.column(c).to_pylist() if v is not None]
        if values:
            print(f"  {c}: mean {sum(values) / len(values):.4g} over {len(values)} runs")
    print(f"  outputs in {out}/ (runs.parquet indexes every run)")
    if base.scenario.economy is not None and not args.no_report:
        return _report([out], out / "report", meta.charts)
    return 0
