"""``cmx serve``: config files, the subprocess lifecycle, clean shutdown, TLS."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import signal
import ssl
import sys
from pathlib import Path

import pytest
from test_gateway_support import ACCOUNTS
from websockets.asyncio.client import connect

from exchange.cli import build_parser
from exchange.core import IMPLEMENTATION
from exchange.gateway import Gateway
from exchange.gateway.config import default_config, load_config
from exchange.gateway.server import start_server

CONFIG = {
    "port": 0,
    "accounts": [{"id": 7, "client_id": "seven", "client_secret": "very-secret-7",
                  "deposits": {"USD": "1000"}}],
    "marks": {"GPUH_USD": "2.1"},
}


def test_serve_is_registered() -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--host", "127.0.0.1"])
    assert args.command == "serve" and args.port == 0 and callable(args.handler)


def test_dump_config_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args(["serve", "--dump-config"])
    assert args.handler(args) == 0
    dumped = tmp_path / "dumped.json"
    dumped.write_text(capsys.readouterr().out)
    assert load_config(dumped) == default_config()


def test_default_config_runs() -> None:
    gateway = Gateway(default_config())
    assert {a.client_id for a in default_config().accounts} == {"maker", "taker", "bot"}
    assert gateway.venue.engine.accounts[1].cash > 0


def test_config_files(tmp_path: Path) -> None:
    as_json = tmp_path / "gw.json"
    as_json.write_text(json.dumps(CONFIG))
    cfg = load_config(as_json)
    assert cfg.accounts[0].client_id == "seven" and cfg.port == 0
    gateway = Gateway(cfg)
    assert gateway.venue.engine.accounts[7].cash == 1000 * 1_000_000
    assert gateway.venue.engine.marks["GPUH_USD"] == 2100
    as_toml = tmp_path / "gw.toml"
    as_toml.write_text('port = 9\n[[accounts]]\nid = 1\nclient_id = "a"\n'
                       'client_secret = "b"\ndeposits = { GPUH = "5" }\n')
    assert load_config(as_toml).accounts[0].deposits == {"GPUH": "5"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"port": "eighty"}')
    with pytest.raises(ValueError, match="port"):
        load_config(bad)
    with pytest.raises(ValueError, match="twice"):
        Gateway(load_config(as_json).__class__(accounts=[ACCOUNTS[0], ACCOUNTS[0]]))


async def test_cmx_serve_subprocess(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.json"
    cfg.write_text(json.dumps(CONFIG))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange.cli", "serve", "--config", str(cfg),
        "--host", "127.0.0.1", "--port", "0",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        port = None
        log = ""
        async with asyncio.timeout(20):
            while port is None:
                line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
                assert line, f"cmx serve exited early: {log}"
                log += line
                found = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/api/v2", line)
                if found:
                    port = int(found.group(1))
            while "matching core: " not in log:
                line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
                assert line, f"cmx serve exited early: {log}"
                log += line
        assert f"matching core: {IMPLEMENTATION}" in log  # which core the server runs on
        assert "very-secret-7" not in log  # secrets are never logged
        async with connect(f"ws://127.0.0.1:{port}/ws/api/v2") as ws:
            await ws.send('{"jsonrpc":"2.0","id":1,"method":"public/get_time"}')
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert isinstance(answer["result"], int)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server = await start_server(Gateway(default_config()), "127.0.0.1", 0, server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        async with connect(f"wss://127.0.0.1:{server.port}/ws/api/v2", ssl=client_ctx) as ws:
            await ws.send('{"jsonrpc":"2.0","id":1,"method":"public/test"}')
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer["result"]["version"]
    finally:
        await server.close()
