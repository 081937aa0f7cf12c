"""``cmx serve``: run the exchange behind the Deribit-compatible gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange.journal import JournaledEngine

    from .config import GatewayConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the exchange with its Deribit-v2-compatible websocket/HTTP API",
        description="Serve JSON-RPC over websocket at /ws/api/v2 and HTTP GET at "
                    "/api/v2/{method}. Without --config, uses the embedded default config "
                    "(default instruments, demo accounts maker/taker/bot).")
    parser.add_argument("--config", help="JSON or TOML gateway config file")
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8765; 0 picks one)")
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
    parser.add_argument("--snapshot-every", type=int, default=100_000, metavar="N",
                        help="write a snapshot every N journaled commands (default 100000; "
                             "0: only at creation and clean shutdown)")
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
    if args.dump_config:
        import msgspec

        print(msgspec.json.format(msgspec.json.encode(config).decode(), indent=2))
        return 0
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    if args.snapshot_every < 0:
        print("cmx serve: --snapshot-every must be >= 0")
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
        ok = asyncio.run(_serve(config, args.host, args.port, context, journal))
    finally:
        if journal is not None:
            # after a failed commit the disk may refuse this too; what is durable is durable
            with contextlib.suppress(OSError):
                journal.close()
    return 0 if ok else 1


async def _serve(config: GatewayConfig, host: str | None, port: int | None,
                 context: ssl.SSLContext | None, journal: JournaledEngine | None = None
                 ) -> bool:
    from .protocol import Gateway
    from .server import start_server

    log = logging.getLogger("exchange.gateway")
    gateway = Gateway(config, journal=journal)
    server = await start_server(gateway, host, port, context)
    scheme = "wss" if context else "ws"
    bound_host = host or config.host
    log.info("serving %s://%s:%d/ws/api/v2 and %s://%s:%d/api/v2/{method}", scheme,
             bound_host, server.port, "https" if context else "http", bound_host, server.port)
    log.info("instruments: %s", ", ".join(s.name for s in gateway.venue.engine.registry))
    log.info("accounts (client_id): %s", ", ".join(a.client_id for a in config.accounts))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failed = asyncio.create_task(server.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([failed, stopped], return_when=asyncio.FIRST_COMPLETED)
    failed.cancel()
    stopped.cancel()
    if server.failed.is_set():
        log.critical("stopping: the journal cannot commit")
        return False
    log.info("shutting down")
    await server.close()
    if journal is not None:
        path = journal.snapshot()  # the next start recovers from here without replaying
        log.info("journal committed, snapshot %s", path.name)
    return True
