"""``cmx serve``: run the exchange behind the Deribit-compatible gateway."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl


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
    asyncio.run(_serve(config, args.host, args.port, context))
    return 0


async def _serve(config, host: str | None, port: int | None,
                 context: ssl.SSLContext | None) -> None:
    from .protocol import Gateway
    from .server import start_server

    log = logging.getLogger("exchange.gateway")
    gateway = Gateway(config)
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
    await stop.wait()
    log.info("shutting down")
    await server.close()
