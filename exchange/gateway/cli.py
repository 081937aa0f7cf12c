"""``cmx serve``: run the exchange behind the Deribit-compatible gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
from typing import TYPE_CHECKING

from exchange.cli_args import non_negative_int, port, positive_float

if TYPE_CHECKING:
    from exchange.journal import JournaledEngine
    from scenarios.live import LiveScenario

    from .config import GatewayConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the exchange with its Deribit-v2-compatible websocket/HTTP API",
        description="Serve JSON-RPC over websocket at /ws/api/v2 and HTTP GET at "
                    "/api/v2/{method}. Without --config, uses the embedded default config "
                    "(default instruments, demo accounts maker/taker/bot).")
    parser.add_argument("--config", help="JSON or TOML gateway config file")
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=port, help="listen port (default 8765; 0 picks one)")
    parser.add_argument("--certfile", help="TLS certificate (PEM) to serve wss:// and https://")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument("--journal", metavar="DIR",
                        help="journal every command to DIR and acknowledge nothing before it "
                             "is durable; an existing DIR is recovered (snapshot + journal "
                             "tail) and the config's deposits are not applied again")
    parser.add_argument("--fsync", choices=("always", "batch", "none"), default="batch",
                        help="journal durability: fsync per command, per batch of commands "
                             "handled in one event-loop turn (group commit, the default), or "
                             "never (survives a process crash, not a power loss)")
    parser.add_argument("--snapshot-every", type=non_negative_int, default=100_000, metavar="N",
                        help="write a snapshot every N journaled commands (default 100000; "
                             "0: only at creation and clean shutdown)")
    live = parser.add_argument_group(
        "live mode", "run a scenario's agents against this server in scaled real time, so "
                     "external bots trade alongside them (docs/scenarios.md, Live mode)")
    live.add_argument("--scenario", metavar="SCENARIO",
                      help="scenario file or shipped scenario name (e.g. noise_market); its "
                           "instruments replace the config's, each agent gets a funded "
                           "account")
    live.add_argument("--case", help="named case of the scenario")
    live.add_argument("--seed", type=non_negative_int, help="root seed (default: the scenario's)")
    live.add_argument("--speed", type=positive_float, default=1.0,
                      help="virtual seconds per wall-clock second (default 1)")
    live.add_argument("--keep-serving", action="store_true",
                      help="when the scenario's duration has elapsed, keep serving without "
                           "the agents instead of exiting")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--dump-config", action="store_true",
                        help="print the config that would be used (JSON) and exit; a "
                             "starting point for your own --config file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .config import default_config, load_config

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # websockets logs request lines at DEBUG (an HTTP public/auth carries its secret in the
    # query string) and every HTTP answer at INFO: keep it to warnings.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        config = load_config(args.config) if args.config else default_config()
    except (OSError, ValueError) as exc:
        print(f"cmx serve: {exc}")
        return 2
    live = None
    if getattr(args, "scenario", None):
        if args.journal:
            print("cmx serve: --scenario runs a fresh exchange; it cannot be combined with "
                  "--journal")
            return 2
        if args.certfile:
            print("cmx serve: --scenario agents connect over plain ws://; it cannot be "
                  "combined with --certfile")
            return 2
        from scenarios.config import ScenarioError, load
        from scenarios.live import LiveScenario

        try:
            loaded = load(args.scenario, args.case)
            seed = loaded.scenario.scenario.seed if args.seed is None else args.seed
            first = max((a.id for a in config.accounts), default=0) + 1
            live = LiveScenario(loaded, seed, args.speed, first_account=first)
            config = live.configure(config, demo=not args.config)
        except ScenarioError as exc:
            print(f"cmx serve: {exc}")
            return 2
    if args.dump_config:
        import msgspec

        print(msgspec.json.format(msgspec.json.encode(config).decode(), indent=2))
        return 0
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:  # a missing file, a key that does not match
            print(f"cmx serve: cannot load the TLS certificate {args.certfile} "
                  f"(key {args.keyfile or 'in the same file'}): {exc}")
            return 2
    journal = None
    if args.journal:
        from exchange.journal import CorruptJournalError

        from .durable import open_journal

        try:
            journal = open_journal(args.journal, config, policy=args.fsync,
                                   snapshot_every=args.snapshot_every)
        except (OSError, ValueError, CorruptJournalError) as exc:
            print(f"cmx serve: journal {args.journal}: {exc}")
            return 2
        if journal.report is not None:
            print(journal.report.describe(), flush=True)
            logging.getLogger("exchange.gateway").info(
                "recovered journal: snapshot seq %d, %d frames replayed, %d torn bytes "
                "truncated, seq %d, state hash %s", journal.report.snapshot_seq,
                journal.report.frames_replayed, journal.report.truncated_bytes,
                journal.report.final_seq, journal.report.state_hash)
        else:
            logging.getLogger("exchange.gateway").info(
                "new journal in %s (seq %d)", args.journal, journal.engine.seq)
    ok = False
    try:
        ok = asyncio.run(_serve(config, args.host, args.port, context, journal, live,
                                getattr(args, "keep_serving", False)))
    finally:
        if journal is not None:
            # after a failed commit the disk may refuse this too; what is durable is durable
            with contextlib.suppress(OSError):
                journal.close()
    return 0 if ok else 1


async def _serve(config: GatewayConfig, host: str | None, port: int | None,
                 context: ssl.SSLContext | None, journal: JournaledEngine | None = None,
                 live: LiveScenario | None = None, keep_serving: bool = False) -> bool:
    from exchange.core import IMPLEMENTATION
    from exchange.core.implementation import describe

    from .protocol import Gateway
    from .server import start_server

    log = logging.getLogger("exchange.gateway")
    try:
        gateway = Gateway(config, journal=journal,
                          engine_clock=live.engine_clock() if live is not None else None)
        if live is not None:
            live.attach_gateway(gateway)  # an economy scenario's driver starts on this engine
    except ValueError as exc:
        log.critical("bad config: %s", exc)
        return False
    server = await start_server(gateway, host, port, context)
    scheme = "wss" if context else "ws"
    bound_host = host or config.host
    log.info("serving %s://%s:%d/ws/api/v2 and %s://%s:%d/api/v2/{method}", scheme,
             bound_host, server.port, "https" if context else "http", bound_host, server.port)
    log.info("instruments: %s", ", ".join(s.name for s in gateway.venue.engine.registry))
    log.info("matching core: %s", describe(IMPLEMENTATION))
    agent_ids = {a.account.client_id for a in live.agents} if live is not None else set()
    log.info("accounts (client_id): %s", ", ".join(
        a.client_id for a in config.accounts if a.client_id not in agent_ids))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failed = asyncio.create_task(server.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    waits = [failed, stopped]
    scenario: asyncio.Task | None = None
    scenario_ok = True
    if live is not None:
        scenario = asyncio.create_task(live.run(f"ws://127.0.0.1:{server.port}/ws/api/v2"))
        waits.append(scenario)
    while True:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if scenario is not None and scenario in waits and scenario.done():
            # the scenario's duration has elapsed (or it failed): exit, or serve on
            scenario_ok = _scenario_done(scenario, log)
            waits.remove(scenario)
            if keep_serving and scenario_ok and not (stop.is_set() or failed.done()):
                log.info("scenario over; still serving (SIGINT/SIGTERM to stop)")
                continue
        break
    failed.cancel()
    stopped.cancel()
    if live is not None and scenario is not None and not scenario.done():
        scenario.cancel()  # stops the agents and closes their connections
        with contextlib.suppress(asyncio.CancelledError):
            await scenario
        print(f"live scenario stopped early: {live.summary()}", flush=True)
    if server.failed.is_set():
        log.critical("stopping: the journal cannot commit")
        return False
    log.info("shutting down")
    await server.close()
    if journal is not None:
        path = journal.snapshot()  # the next start recovers from here without replaying
        log.info("journal committed, snapshot %s", path.name)
    return scenario_ok


def _scenario_done(task: asyncio.Task, log: logging.Logger) -> bool:
    """Report how the live scenario ended (its summary, or why it failed); False if it
    failed."""
    if task.cancelled():
        return True
    exc = task.exception()
    if exc is not None:
        log.error("live scenario failed: %s", exc, exc_info=exc)
        return False
    print(f"live scenario finished: {task.result()}", flush=True)
    return True
