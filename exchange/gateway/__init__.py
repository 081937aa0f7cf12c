"""A Deribit-v2-compatible gateway in front of the exchange core.

Sans-I/O at the centre: :mod:`.protocol` turns decoded JSON-RPC requests into responses and
notifications without touching a socket, so the same code answers websocket frames, HTTP GET
requests and unit tests. :mod:`.server` is the thin asyncio layer around it, and
:mod:`.durable` opens the command journal it runs on with ``cmx serve --journal``.
"""

from .config import GatewayConfig, default_config, load_config
from .protocol import Gateway, Session

__all__ = ["Gateway", "GatewayConfig", "Session", "default_config", "load_config"]
