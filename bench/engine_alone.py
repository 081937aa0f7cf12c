"""How much of a simulated day is the matching engine: the day's commands into a bare engine.

A simulation's wall time is the engine's work plus everything around it (agents deciding,
the kernel's heap, latency and routing, the recorder). To tell the two apart, the day's
commands are applied again, with their original timestamps, to an engine rebuilt from its
snapshot at the start of the day, with no agents, kernel or observers. The replay must end in
exactly the state the simulated day ended in (same ``state_hash``), so the time measured is
that of the same work, not of a different market.
"""

from __future__ import annotations

import time
from typing import Any

from exchange.core.engine import Engine


def time_engine_alone(engine_log: dict[str, Any]) -> float:
    """Seconds to apply ``engine_log["commands"]`` to a fresh engine (see
    ``bench.abides_units.replay`` for the log's keys).

    Raises ``RuntimeError`` if the replay does not end in the logged ``state_hash``.
    """
    engine = Engine.from_snapshot(engine_log["snapshot"], engine_log["config"])
    apply = engine.apply
    commands = engine_log["commands"]
    started = time.perf_counter()
    for command, ts in commands:
        apply(command, ts)
    elapsed = time.perf_counter() - started
    if engine.state_hash() != engine_log["state_hash"]:
        raise RuntimeError(
            f"replaying {len(commands):,} commands into a bare engine did not reproduce the "
            "simulated day's final state")
    return elapsed
