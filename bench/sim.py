"""`cmx bench sim`: simulation throughput against the ABIDES reference day.

The market has the composition of ABIDES's reference configuration (rmsc04: 1,000 noise
traders, 102 value traders around a mean-reverting fundamental, 12 momentum traders, 2 market
makers) trading one asset over a 6.5-hour simulated day, with ~500k kernel messages. A kernel
message is anything our kernel dispatches (an order reaching the exchange, one batch of events
travelling back to an agent, a wake-up). ABIDES counts a different unit (each notification and
each market-data query and response is its own message), so every day is also counted in
ABIDES's units, in an untimed replay of the same seed (``bench.abides_units``), and both rates
are reported, each with its unit.

Anchor: ABIDES's reference day (1,117 agents, 472,869 messages) takes 11.6 s on this class of
machine, ~41k messages/s; the target is ten times that rate. The sweep part runs the same seeds
through Dask and serially and checks the results are identical.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from typing import Any

from exchange.cli_args import positive_int

ABIDES_MESSAGES = 472_869
ABIDES_WALL_S = 11.6
ABIDES_RATE = ABIDES_MESSAGES / ABIDES_WALL_S
TARGET_RATE = 10 * ABIDES_RATE
DAY_S = 6.5 * 3600

MARKET: dict[str, Any] = {
    "scenario": {
        "name": "bench_day", "seed": 1, "duration": DAY_S, "warmup": 300.0,
        "sample_interval": 300.0, "charts": False,
    },
    "market": {"instruments": [
        {"name": "ASSET_USD", "kind": "spot", "base": "ASSET", "tick_size": "0.01"},
    ]},
    "exogenous": [{"name": "fundamental", "kind": "ou", "initial": 100.0, "mean": 100.0,
                   "kappa": 0.0005, "sigma": 0.02, "interval": 1.0}],
    "agents": [
        {"name": "noise", "class": "noise", "count": 1000, "instrument": "ASSET_USD",
         "cash": 100000.0, "assets": {"ASSET": 1000},
         "latency": {"order_us": 200.0, "event_us": 200.0, "jitter_us": 100.0},
         "params": {"rate": 0.007, "market_prob": 0.3, "size_min": 1, "size_max": 10,
                    "offset": 30, "lifetime": 300.0}},
        {"name": "value", "class": "value", "count": 102, "instrument": "ASSET_USD",
         "cash": 100000.0, "assets": {"ASSET": 1000},
         "latency": {"order_us": 200.0, "event_us": 200.0},
         "params": {"series": "fundamental", "rate": 0.01, "noise_sd": 0.3, "threshold": 5,
                    "size": 5}},
        {"name": "momentum", "class": "momentum", "count": 12, "instrument": "ASSET_USD",
         "cash": 100000.0, "assets": {"ASSET": 1000},
         "params": {"interval": 30.0, "short_window": 3, "long_window": 20, "threshold": 2.0,
                    "size": 5}},
        {"name": "mm", "class": "market_maker", "count": 2, "instrument": "ASSET_USD",
         "cash": 1000000.0, "assets": {"ASSET": 10000},
         "latency": {"order_us": 20.0, "event_us": 20.0},
         "params": {"interval": 2.0, "half_spread": 3, "spacing": 2, "levels": 3, "size": 10,
                    "skew": 0.05}},
    ],
}


#: The same composition at the *rates* of ABIDES's rmsc04 configuration, so one simulated day
#: carries about the same market activity as the anchor's day: each noise trader acts about
#: once a day, value traders arrive at lambda_a = 5.7e-12 per ns (one every ~175 s), momentum
#: traders every 37 s, market makers refresh every 60 s with 10 levels a side, 5 ticks apart.
#: Its wall time is compared with the anchor's 11.6 s directly. A message is not the same unit
#: in the two systems (ABIDES agents ask the exchange for the spread by message and get each
#: order notification as its own message; ours read the book directly and get a command's
#: notifications as one batch), so the day is also counted in ABIDES's units
#: (``bench.abides_units``), which says how close its activity is to the anchor's day.
RMSC04_RATES: dict[str, dict[str, Any]] = {
    "noise": {"rate": 1.0 / DAY_S, "lifetime": DAY_S},
    "value": {"rate": 5.7e-12 * 1e9, "lifetime": 175.0},
    "momentum": {"interval": 37.0},
    "mm": {"interval": 60.0, "levels": 10, "spacing": 5},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=positive_int, default=None,
                        help="seeds in the Dask-vs-serial sweep (default 64, 8 with --quick)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="LocalCluster workers for the sweep (default: CPU count)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep part")


def market(duration: float, rates: str = "dense") -> dict[str, Any]:
    """The benchmark market: ``dense`` (~500k messages a day) or ``rmsc04`` (ABIDES's rates)."""
    raw = copy.deepcopy(MARKET)
    if rates == "rmsc04":
        for group in raw["agents"]:
            group["params"].update(RMSC04_RATES[group["name"]])
    raw["scenario"]["duration"] = duration
    raw["scenario"]["warmup"] = min(300.0, duration / 2)
    return raw


def one_day(duration: float, record: bool, seed: int = 1, rates: str = "dense"
            ) -> dict[str, Any]:
    from scenarios import runner
    from scenarios.config import load_raw

    loaded = load_raw(market(duration, rates), "bench_day")
    started = time.perf_counter()
    sim = runner.Simulation(loaded, seed, record=record)
    built = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - built
    tables_started = time.perf_counter()
    if record:
        runner.build_tables(sim, 0)
    return {
        "agents": len(sim.agents),
        "simulated_s": duration,
        "messages": sim.kernel.messages,
        "commands": sim.venue.commands - sim.setup_commands,
        "engine_events": sim.venue.events,
        "trades": len(sim.recorder.trades),
        "setup_s": round(built - started, 4),
        "wall_s": round(wall, 4),
        "tables_s": round(time.perf_counter() - tables_started, 4) if record else 0.0,
        "messages_per_s": round(sim.kernel.messages / wall),
        "commands_per_s": round((sim.venue.commands - sim.setup_commands) / wall),
    }


def sweep(duration: float, seeds: int, workers: int) -> dict[str, Any]:
    from scenarios import sweep as sw

    raw = market(duration)
    p = sw.plan(raw, "bench_day", None, seeds, 1)
    per_task = max(1, seeds // (4 * workers))
    started = time.perf_counter()
    serial = sw.execute_serial(p, per_task)
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    client, cluster = sw.connect(None, workers)
    cluster_s = time.perf_counter() - started
    try:
        started = time.perf_counter()
        dask = sw.execute_dask(p, per_task, client)
        dask_s = time.perf_counter() - started
    finally:
        client.close()
        cluster.close()
    serial.sort(key=lambda r: r[0])
    dask.sort(key=lambda r: r[0])
    identical = len(serial) == len(dask) and all(
        a[0] == b[0] and a[1] == b[1]
        for a, b in zip(serial, dask, strict=True)
    )
    return {
        "runs": seeds,
        "simulated_s_per_run": duration,
        "runs_per_task": per_task,
        "workers": workers,
        "serial_s": round(serial_s, 3),
        "cluster_start_s": round(cluster_s, 3),
        "dask_s": round(dask_s, 3),
        "speedup": round(serial_s / dask_s, 2),
        "identical": identical,
    }


#: What each rate counts (printed with the figures and kept in the JSON report).
UNITS = {
    "kernel_messages": "dispatches of our kernel: a wake-up, a command reaching the venue, one "
                       "batch of events per agent per command; market-data reads are free",
    "abides_units": "the same day counted the way ABIDES's kernel counts messages (wake-ups, "
                    "messages to the exchange, one notification per event, a query and a "
                    "response per market-data read), measured in an untimed replay of the same "
                    "seed and conservative (see bench/abides_units.py); ABIDES's own figures "
                    "are in this unit",
}


def in_abides_units(day: dict[str, Any], duration: float, rates: str = "dense",
                    seed: int = 1, engine_log: dict[str, Any] | None = None) -> dict[str, Any]:
    """Count the timed ``day`` in ABIDES's units (untimed replay) and rate it by its wall time.

    Raises ``RuntimeError`` if the replay does not dispatch exactly the timed day's commands and
    kernel messages. ``engine_log`` is passed on to ``abides_units.replay``.
    """
    from bench import abides_units

    counted = abides_units.replay(market(duration, rates), seed, expect=day,
                                  engine_log=engine_log)
    total = counted["total"]
    rate = total / day["wall_s"]
    return {
        "messages": total,
        "categories": counted["categories"],
        "not_counted": counted["not_counted"],
        "by_group": counted["by_group"],
        "kernel_breakdown": counted["kernel_breakdown"],
        "per_kernel_message": round(total / day["messages"], 3),
        "messages_per_s": round(rate),
        "speedup_vs_abides": round(rate / ABIDES_RATE, 2),
        "target_met": rate >= TARGET_RATE,
        "vs_anchor_day_messages": round(total / ABIDES_MESSAGES, 3),
    }


def engine_alone(engine_log: dict[str, Any], day_wall_s: float) -> dict[str, Any]:
    """Time the day's commands in a bare engine (``bench.engine_alone``) and set that against
    the day's wall time: the part of the day that is matching, accounts and events."""
    from bench.engine_alone import time_engine_alone

    wall = time_engine_alone(engine_log)
    commands = len(engine_log["commands"])
    return {
        "commands": commands,
        "wall_s": round(wall, 4),
        "commands_per_s": round(commands / wall),
        "share_of_day": round(wall / day_wall_s, 3),
    }


def _same_day(a: dict[str, Any], b: dict[str, Any]) -> None:
    if (a["commands"], a["messages"]) != (b["commands"], b["messages"]):
        raise RuntimeError("two runs of the same seed differ: (commands, messages) "
                           f"{(a['commands'], a['messages'])} != {(b['commands'], b['messages'])}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from exchange.core import IMPLEMENTATION
    from scenarios.kernel import IMPLEMENTATION as KERNEL_IMPLEMENTATION

    quick = bool(getattr(args, "quick", False))
    duration = 3600.0 if quick else DAY_S
    result: dict[str, Any] = {
        "anchor": {"system": "ABIDES reference day", "messages": ABIDES_MESSAGES,
                   "wall_s": ABIDES_WALL_S, "messages_per_s": round(ABIDES_RATE),
                   "unit": "abides_units"},
        "target_messages_per_s": round(TARGET_RATE),
        "units": UNITS,
        "quick": quick,
        "core": IMPLEMENTATION,  # the matching core the runs used (compiled or interpreted)
        "kernel": KERNEL_IMPLEMENTATION,  # and the simulation kernel
    }
    day = one_day(duration, record=True)
    engine_log: dict[str, Any] = {}
    day["abides_units"] = in_abides_units(day, duration, engine_log=engine_log)
    day["engine_alone"] = engine_alone(engine_log, day["wall_s"])
    del engine_log  # the day's commands and a snapshot: free them before the next runs
    result["day"] = day
    # The target in each unit, for the dense day: ours (kernel messages) and ABIDES's.
    result["speedup_vs_abides_kernel_messages"] = round(day["messages_per_s"] / ABIDES_RATE, 2)
    result["target_met_kernel_messages"] = day["messages_per_s"] >= TARGET_RATE
    result["speedup_vs_abides_abides_units"] = day["abides_units"]["speedup_vs_abides"]
    result["target_met_abides_units"] = day["abides_units"]["target_met"]
    if not quick:
        bare = one_day(duration, record=False)
        _same_day(bare, day)
        bare["abides_units_per_s"] = round(day["abides_units"]["messages"] / bare["wall_s"])
        bare["engine_share"] = round(day["engine_alone"]["wall_s"] / bare["wall_s"], 3)
        result["day_without_recording"] = bare
    # The like-for-like day: ABIDES's agent rates, so the work per day is comparable and the
    # wall times can be set side by side; its ABIDES-unit count says how comparable.
    same_rates = one_day(duration, record=True, rates="rmsc04")
    same_rates["abides_units"] = in_abides_units(same_rates, duration, "rmsc04")
    result["rmsc04_rates_day"] = same_rates
    if not quick:
        result["rmsc04_rates_wall_ratio"] = round(ABIDES_WALL_S / same_rates["wall_s"], 2)
    if not getattr(args, "no_sweep", False):
        seeds = getattr(args, "seeds", None) or (8 if quick else 64)
        workers = getattr(args, "workers", None) or os.cpu_count() or 2
        result["sweep"] = sweep(600.0 if quick else 3600.0, seeds, workers)
    # "ok" is about correctness (the Dask sweep reproduces the serial one), not about speed.
    result["ok"] = result.get("sweep", {}).get("identical", True)
    return result


_SHORT = {"wakeups": "wake-ups", "orders_to_exchange": "to exchange",
          "order_accepted": "accepted", "order_executed": "executed",
          "order_cancelled": "cancelled", "order_modified": "modified",
          "market_data": "market data"}


def _abides_line(units: dict[str, Any], target: int) -> str:
    parts = ", ".join(f"{_SHORT.get(k, k)} {v:,}" for k, v in units["categories"].items())
    return (f"  in ABIDES's units: {units['messages']:,} messages ({parts}) -> "
            f"{units['messages_per_s']:,} ABIDES-unit messages/s ({units['speedup_vs_abides']}x "
            f"ABIDES; target {target:,}/s: {'met' if units['target_met'] else 'not met'})")


def render(result: dict[str, Any]) -> str:
    day = result["day"]
    target = result["target_messages_per_s"]
    anchor_rate = result["anchor"]["messages_per_s"]
    lines = [
        f"simulation: {day['agents']} agents, {day['simulated_s'] / 3600:.1f} h simulated, "
        f"{day['messages']:,} kernel messages ({day['commands']:,} engine commands); "
        f"matching core: {result.get('core', '?')}, kernel: {result.get('kernel', '?')}",
        f"  wall {day['wall_s']:.2f} s -> {day['messages_per_s']:,} kernel messages/s "
        f"({result['speedup_vs_abides_kernel_messages']}x ABIDES's {anchor_rate:,} "
        f"messages/s; target {target:,}/s: "
        f"{'met' if result['target_met_kernel_messages'] else 'not met'} in kernel messages)",
    ]
    if "abides_units" in day:
        lines.append(_abides_line(day["abides_units"], target))
    alone = day.get("engine_alone")
    if alone:
        lines.append(f"  the matching engine alone (the day's {alone['commands']:,} commands "
                     f"replayed into a bare engine, same final state): {alone['wall_s']:.2f} s, "
                     f"{alone['share_of_day']:.0%} of the day's wall time")
    bare = result.get("day_without_recording")
    if bare:
        extra = (f", {bare['abides_units_per_s']:,} ABIDES-unit messages/s"
                 if "abides_units_per_s" in bare else "")
        share = (f"; the engine is {bare['engine_share']:.0%} of it"
                 if "engine_share" in bare else "")
        lines.append(f"  without recording tables: {bare['wall_s']:.2f} s, "
                     f"{bare['messages_per_s']:,} kernel messages/s{extra}{share}")
    same = result.get("rmsc04_rates_day")
    if same:
        ratio = result.get("rmsc04_rates_wall_ratio")
        lines.append(
            f"at ABIDES's rmsc04 agent rates: {same['messages']:,} kernel messages "
            f"({same['commands']:,} commands, {same['trades']:,} trades) in "
            f"{same['wall_s']:.2f} s" + (f", {ratio}x faster than ABIDES's {ABIDES_WALL_S} s day"
                                         if ratio else ""))
        units = same.get("abides_units")
        if units:
            lines.append(_abides_line(units, target))
            if same["simulated_s"] == DAY_S:
                lines.append(f"  that is {units['vs_anchor_day_messages']:.0%} of the "
                             f"{ABIDES_MESSAGES:,} messages of ABIDES's reference day "
                             f"(same unit): the two days are not the same activity")
    lines.append("units: kernel messages = our kernel's dispatches; ABIDES's units = the same "
                 "day counted as ABIDES counts (conservative; bench/abides_units.py)")
    sw = result.get("sweep")
    if sw:
        lines.append(f"sweep: {sw['runs']} seeds x {sw['simulated_s_per_run']:g} s: serial "
                     f"{sw['serial_s']:.1f} s, dask ({sw['workers']} workers) {sw['dask_s']:.1f} s"
                     f" (+{sw['cluster_start_s']:.1f} s to start the cluster), "
                     f"identical results: {sw['identical']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.sim")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
