"""Every ``cmx`` option rejects a value it cannot take while the command line is parsed:
usage error, exit status 2, the option named, nothing started."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from exchange.cli import build_parser
from exchange.cli_args import non_negative_int, port, positive_float, positive_int
from exchange.gateway import Gateway
from exchange.gateway.config import load_config


@pytest.mark.parametrize(("kind", "good", "bad"), [
    (non_negative_int, {"0": 0, "7": 7, "12345678901234567890": 12345678901234567890},
     ["-1", "1.5", "seven", ""]),
    (positive_int, {"1": 1, "64": 64}, ["0", "-3", "2.0", "x"]),
    (port, {"0": 0, "8765": 8765, "65535": 65535}, ["-1", "65536", "http"]),
    (positive_float, {"0.5": 0.5, "60": 60.0, "1e3": 1000.0},
     ["0", "-1", "nan", "inf", "-inf", "fast"]),
])
def test_value_types(kind, good: dict, bad: list[str]) -> None:
    for text, value in good.items():
        assert kind(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            kind(text)


@pytest.mark.parametrize(("argv", "option"), [
    (["run", "noise_market", "--seed", "-1"], "--seed"),
    (["run", "noise_market", "--workers", "0"], "--workers"),
    (["sweep", "noise_market", "--seeds", "0"], "--seeds"),
    (["sweep", "noise_market", "--seed", "-2"], "--seed"),
    (["sweep", "noise_market", "--per-task", "0"], "--per-task"),
    (["sweep", "noise_market", "--workers", "-1"], "--workers"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--snapshot-every", "-5"], "--snapshot-every"),
    (["serve", "--scenario", "noise_market", "--speed", "0"], "--speed"),
    (["serve", "--scenario", "noise_market", "--seed", "-1"], "--seed"),
    (["bench", "core", "--ops", "-5"], "--ops"),
    (["bench", "core", "--repeats", "0"], "--repeats"),
    (["bench", "core", "--seed", "-1"], "--seed"),
    (["bench", "core", "--deep-resting", "0"], "--deep-resting"),
    (["bench", "core", "--memory-orders", "0"], "--memory-orders"),
    (["bench", "sim", "--seeds", "0"], "--seeds"),
    (["bench", "sim", "--workers", "0"], "--workers"),
    (["bench", "gateway", "--rtt-samples", "0"], "--rtt-samples"),
    (["bench", "gateway", "--timeout", "nan"], "--timeout"),
])
def test_bad_option_values_are_usage_errors(argv: list[str], option: str,
                                            capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected" in err, err


def test_good_values_still_parse() -> None:
    args = build_parser().parse_args(["run", "noise_market", "--seed", "0", "--workers", "2"])
    assert (args.seed, args.workers) == (0, 2)
    args = build_parser().parse_args(["serve", "--port", "0", "--snapshot-every", "0"])
    assert (args.port, args.snapshot_every) == (0, 0)


@pytest.mark.parametrize(("config", "field"), [
    ({"port": 70000}, "$.port"),
    ({"port": -1}, "$.port"),
    ({"rate_limit": {"refill_per_second": 0}}, "$.rate_limit.refill_per_second"),
    ({"rate_limit": {"capacity": -5}}, "$.rate_limit.capacity"),
    ({"max_frame_bytes": 0}, "$.max_frame_bytes"),
    ({"outbound_queue": 0}, "$.outbound_queue"),
    ({"flush_interval_s": 0}, "$.flush_interval_s"),
    ({"ping_interval_s": -1}, "$.ping_interval_s"),
    ({"token_ttl_s": 0}, "$.token_ttl_s"),
    ({"trades_history": -1}, "$.trades_history"),
])
def test_gateway_config_values_out_of_range_name_the_field(tmp_path: Path, config: dict,
                                                          field: str) -> None:
    path = tmp_path / "gw.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"gw.json: .* at `{field.replace('$', '[$]')}`"):
        load_config(path)


def test_gateway_config_frame_limits_must_be_ordered(tmp_path: Path) -> None:
    path = tmp_path / "gw.json"
    path.write_text(json.dumps({"max_frame_bytes": 4096, "hard_max_frame_bytes": 1024}))
    with pytest.raises(ValueError, match="hard_max_frame_bytes .1024. is below max_frame_bytes"):
        Gateway(load_config(path))
    path.write_text(json.dumps({"ping_interval_s": None, "port": 0}))
    assert load_config(path).ping_interval_s is None


def test_a_benchmark_that_runs_out_of_time_says_so(capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args(["bench", "gateway", "--quick", "--timeout", "0.05",
                                      "--policies", ""])
    assert args.handler(args) == 1
    err = capsys.readouterr().err
    assert "cmx bench gateway: gave up: no result within --timeout 0.05 s" in err
    assert "Traceback" not in err


def test_serve_with_a_bad_tls_certificate_says_so(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for argv in (["serve", "--certfile", str(tmp_path / "missing.pem"), "--port", "0"],
                 ["serve", "--certfile", str(junk), "--port", "0"]):
        args = build_parser().parse_args(argv)
        assert args.handler(args) == 2
        out = capsys.readouterr().out
        assert "cmx serve: cannot load the TLS certificate" in out and "Traceback" not in out


def test_set_overrides_parse_toml_values_and_name_bad_ones() -> None:
    from scenarios.cli import parse_sets
    from scenarios.config import ScenarioError

    assert parse_sets(["a.b=5", "c=2.5", "d=true", "e=[1, 2]", 'f="x y"', "g=hello world"]) == {
        "a.b": 5, "c": 2.5, "d": True, "e": [1, 2], "f": "x y", "g": "hello world"}
    for bad in ("foo", "=5", ""):
        with pytest.raises(ScenarioError, match="expected KEY=VALUE"):
            parse_sets([bad])


def test_a_set_value_of_the_wrong_type_names_the_key(capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args(["run", "noise_market", "--no-progress",
                                      "--set", "agents.noise.params.offset=abc"])
    assert args.handler(args) == 2
    assert "key `agents[0].params.offset`: Expected `int`, got `str`" in capsys.readouterr().err
