"""Gateway configuration: where to listen, which instruments, which accounts and API keys.

A config is a JSON (``.json``) or TOML (``.toml``) file decoded into :class:`GatewayConfig`
with validation. :func:`default_config` is the embedded config ``cmx serve`` uses with no
arguments: the default compute-market instruments and a few funded demo accounts whose keys
are documented in docs/protocol.md (they are for a local exchange only).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import msgspec

from exchange.core.instruments import InstrumentSpec

# Value ranges a config must respect: a file with a value outside them is rejected on load,
# naming the field, instead of failing later inside the server (a port past 65535 used to stop
# ``cmx serve`` with a socket traceback; a zero refill rate would have locked every account).
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Count = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class AccountConfig(msgspec.Struct, kw_only=True, frozen=True):
    """One account and its API key. ``deposits`` maps asset to a decimal amount
    (dollars for USD, base units for the other assets) credited at start."""

    id: int
    client_id: str
    client_secret: str
    deposits: dict[str, str] = {}
    name: str | None = None


class RateLimitConfig(msgspec.Struct, kw_only=True, frozen=True):
    """Deribit-style credit bucket per account (per connection before auth).

    Order actions cost ``matching_cost`` credits, everything else ``other_cost``; the bucket
    holds ``capacity`` credits and refills ``refill_per_second``.
    """

    capacity: Count = 50_000
    refill_per_second: Count = 10_000
    matching_cost: NonNegative = 100
    other_cost: NonNegative = 10


class GatewayConfig(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8765
    instruments: list[InstrumentSpec] | None = None  # None: the default compute market
    accounts: list[AccountConfig] = []
    marks: dict[str, str] = {}  # optional initial mark prices, decimal strings
    rate_limit: RateLimitConfig = RateLimitConfig()
    max_frame_bytes: Count = 32_768  # Deribit's limit; larger requests get -32600
    hard_max_frame_bytes: Count = 1 << 20  # beyond this the transport closes (1009)
    outbound_queue: Count = 10_000  # messages queued per connection before it is dropped
    auth_window_ms: NonNegative = 60_000  # accepted clock skew of a signature's timestamp
    token_ttl_s: Count = 900
    min_heartbeat_interval_s: Seconds = 10.0
    ping_interval_s: Seconds | None = 20.0  # websocket protocol pings
    flush_interval_s: Seconds = 0.1  # period of 100ms channels
    trades_history: NonNegative = 1000  # public trades kept per instrument
    closed_orders_history: NonNegative = 100_000  # closed orders kept for get_order_state
    user_trades_history: NonNegative = 10_000  # trades kept per account


def _demo_accounts() -> list[AccountConfig]:
    usd = "1000000"
    return [
        AccountConfig(id=1, name="maker", client_id="maker", client_secret="maker-secret",
                      deposits={"USD": usd, "GPUH": "100000", "KWH": "1000000",
                                "CCT": "1000000"}),
        AccountConfig(id=2, name="taker", client_id="taker", client_secret="taker-secret",
                      deposits={"USD": usd, "GPUH": "100000", "KWH": "1000000",
                                "CCT": "1000000"}),
        AccountConfig(id=3, name="bot", client_id="bot", client_secret="bot-secret",
                      deposits={"USD": usd, "GPUH": "10000"}),
    ]


def default_config() -> GatewayConfig:
    """The embedded config: default instruments, three funded demo accounts."""
    return GatewayConfig(accounts=_demo_accounts())


def load_config(path: str | Path) -> GatewayConfig:
    """Read a JSON or TOML config; raises ValueError with the field that is wrong."""
    p = Path(path)
    data = p.read_bytes()
    try:
        if p.suffix == ".toml":
            return msgspec.convert(tomllib.loads(data.decode()), GatewayConfig)
        return msgspec.json.decode(data, type=GatewayConfig)
    except (msgspec.ValidationError, msgspec.DecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{p}: {exc}") from None


def validate(config: GatewayConfig) -> None:
    """Cross-field checks msgspec cannot express."""
    if config.hard_max_frame_bytes < config.max_frame_bytes:
        raise ValueError(f"hard_max_frame_bytes ({config.hard_max_frame_bytes}) is below "
                         f"max_frame_bytes ({config.max_frame_bytes})")
    ids: set[int] = set()
    keys: set[str] = set()
    for acct in config.accounts:
        if acct.id in ids:
            raise ValueError(f"account {acct.id} configured twice")
        if acct.client_id in keys:
            raise ValueError(f"client_id {acct.client_id!r} configured twice")
        if not acct.client_secret:
            raise ValueError(f"account {acct.id} has an empty client_secret")
        ids.add(acct.id)
        keys.add(acct.client_id)
