"""The compiled core against the interpreted one, and how the package chooses between them.

``exchange.core.implementation`` loads the same source either compiled (Cython, types from
the ``.pxd`` files) or interpreted. These tests hold the two to identical behaviour, event by
event and state hash by state hash, and check the choice itself: the environment override,
a stale build never shadowing edited sources, and a machine that can compile actually running
the compiled core.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import CONFIG, Scenario, fresh_engine, make_universe, resolve, scenarios

import exchange.core as core
from bench import streams
from bench.ours import EngineAdapter
from exchange.core import IMPLEMENTATION, Engine, Order
from exchange.core.book import order_fields
from exchange.core.build_info import COMPILED_MODULES, DIGEST_FILE
from exchange.core.implementation import compiled_status, interpreted_core

REPO = Path(__file__).resolve().parent.parent
CORE_DIR = Path(core.__file__).parent


def interpreted_engine(scenario: Scenario):
    specs = make_universe(scenario.near_expiry, scenario.far_expiry)
    return interpreted_core().Engine(specs, CONFIG)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(scenario=scenarios())
def test_compiled_and_interpreted_engines_agree_on_random_sequences(scenario: Scenario) -> None:
    """Every event and the state hash equal after each command of a random sequence (orders
    of every kind, amends, cancels, transfers, marks, listings, expiries, liquidations)."""
    ours = fresh_engine(scenario)
    reference = interpreted_engine(scenario)
    for step, op in enumerate(scenario.ops):
        command, ts = resolve(op, ours)
        assert resolve(op, reference) == (command, ts), f"step {step}"
        context = f"step {step}: {command!r} at {ts}"
        assert ours.apply(command, ts) == reference.apply(command, ts), context
        if step % 8 == 0:
            assert ours.state_hash() == reference.state_hash(), context
    ours.check_invariants()
    assert ours.snapshot() == reference.snapshot()


@pytest.mark.parametrize("instrument", ["GPUH_USD", "GPUH-25DEC26"])
def test_compiled_and_interpreted_engines_agree_on_the_benchmark_stream(instrument: str) -> None:
    """The benchmark's standard stream (mostly resting orders, a fifth aggressive, a tenth
    cancels, on a deep book): identical events for every command, spot and future."""
    stream = streams.standard_stream(3, 4000)
    adapters = [EngineAdapter(instrument), EngineAdapter(instrument, interpreted_core())]
    for adapter in adapters:
        adapter.load(stream)
        adapter.reset()
    ours, reference = (a.engine for a in adapters)
    assert type(ours) is Engine and type(reference) is not Engine
    ts = adapters[0].ts
    trades = 0
    for command in adapters[0].ops:
        ts += 1000
        events = ours.apply(command, ts)
        assert events == reference.apply(command, ts), repr(command)
        trades += sum(type(e).__name__ == "Trade" for e in events)
    assert trades > 500  # the stream really trades
    assert ours.state_hash() == reference.state_hash()
    assert msgspec.msgpack.encode(ours.snapshot()) == msgspec.msgpack.encode(reference.snapshot())


def test_orders_round_trip_through_their_fields_and_stay_out_of_the_collector() -> None:
    for cls in (Order, interpreted_core().Order):
        order = cls(7, 3, -1, 5000, 12, 2, 99, "lbl", False, "GPUH_USD", "gtd", 10**15, True,
                    "cancel_maker")
        fields = order_fields(order)
        assert fields == (7, 3, -1, 5000, 12, 2, 99, "lbl", False, "GPUH_USD", "gtd", 10**15,
                          True, "cancel_maker")
        assert cls(*fields) == order and cls(*fields) != cls(8, *fields[1:])
        assert "5000" in repr(order)
        # 100k+ live orders must not be walked by the cyclic collector
        assert not gc.is_tracked(order)


def test_interpreted_core_is_a_separate_copy_sharing_the_message_types() -> None:
    twin = interpreted_core()
    assert interpreted_core().Engine is twin.Engine  # loaded once
    assert twin.Engine.__module__ == "exchange.core._interpreted.engine"
    for name, module in twin.modules.items():
        assert module.__file__.endswith(f"{name}.py")
    engine = twin.Engine()
    events = engine.apply(core.Deposit(account=1, asset="USD", amount=5), 0)
    assert type(events[0]) is core.Accepted


def test_a_machine_with_a_c_compiler_runs_the_compiled_core() -> None:
    """An install where the build could compile must not silently fall back: that would leave
    the compiled core untested and every speed figure wrong."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if os.environ.get("CMX_CORE", "").lower() == "interpreted":
        assert IMPLEMENTATION == "interpreted"
    elif shutil.which(compiler):
        assert IMPLEMENTATION == "compiled", compiled_status()[1]
    else:
        assert IMPLEMENTATION == "interpreted"


# -- choosing the implementation (fresh interpreters) ---------------------------------------------
PROBE = ("import exchange, exchange.core as c, exchange.core.engine as e; "
         "print(c.IMPLEMENTATION, e.__file__.rsplit('/', 1)[1], exchange.__file__)")


def run_probe(env_core: str | None, root: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CMX_CORE"}
    env["PYTHONPATH"] = str(root)
    if env_core is not None:
        env["CMX_CORE"] = env_core
    return subprocess.run([sys.executable, "-c", PROBE], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_environment_forces_the_interpreted_core() -> None:
    result = run_probe("interpreted")
    assert result.returncode == 0, result.stderr
    implementation, engine_file, _ = result.stdout.split()
    assert implementation == "interpreted" and engine_file == "engine.py"


def test_cmx_version_names_the_matching_core() -> None:
    env = dict(os.environ)  # the same choice as this process made
    out = subprocess.run([sys.executable, "-m", "exchange.cli", "--version"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cmx ") and f"matching core: {IMPLEMENTATION}" in out.stdout
    forced = subprocess.run([sys.executable, "-m", "exchange.cli", "--version"], cwd=REPO,
                            env={**env, "CMX_CORE": "interpreted"}, capture_output=True,
                            text=True, timeout=120)
    assert "matching core: interpreted (" in forced.stdout


def test_environment_value_is_checked() -> None:
    result = run_probe("fast")
    assert result.returncode != 0
    assert "CMX_CORE='fast': expected auto, compiled or interpreted" in result.stderr


@pytest.fixture
def copied_package(tmp_path: Path) -> Path:
    """The ``exchange`` package copied elsewhere, with a build (real, or stand-in files when
    this machine has none) that matches its sources."""
    shutil.copytree(REPO / "exchange", tmp_path / "exchange",
                    ignore=shutil.ignore_patterns("__pycache__"))
    copied = tmp_path / "exchange" / "core"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for name in COMPILED_MODULES:
        if not (copied / f"{name}{suffix}").exists():
            (copied / f"{name}{suffix}").write_bytes(b"not a real extension")
    from exchange.core.build_info import source_digest

    (copied / DIGEST_FILE).write_text(source_digest(str(copied)) + "\n")
    return tmp_path


def test_a_stale_build_never_shadows_edited_sources(copied_package: Path) -> None:
    engine_py = copied_package / "exchange" / "core" / "engine.py"
    engine_py.write_text(engine_py.read_text() + "\nEDITED = True\n")
    result = run_probe(None, copied_package)
    assert result.returncode == 0, result.stderr
    implementation, engine_file, package_file = result.stdout.split()
    assert package_file.startswith(str(copied_package))
    assert implementation == "interpreted" and engine_file == "engine.py"
    assert "the compiled core is stale" in result.stderr
    forced = run_probe("compiled", copied_package)
    assert forced.returncode != 0
    assert "CMX_CORE=compiled, but the compiled core is stale" in forced.stderr


def test_a_partial_or_unrecorded_build_is_not_used(copied_package: Path) -> None:
    copied = copied_package / "exchange" / "core"
    (copied / DIGEST_FILE).unlink()
    result = run_probe(None, copied_package)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "interpreted"
    assert f"{DIGEST_FILE} is missing" in result.stderr
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    (copied / f"book{suffix}").unlink()
    result = run_probe(None, copied_package)
    assert result.stdout.split()[0] == "interpreted"
    assert "partly built (missing book)" in result.stderr


def test_enum_members_for_time_in_force_and_stp_are_stored_as_the_constants() -> None:
    """A bot may pass a ``StrEnum`` member equal to a valid value: both implementations accept
    it and the order keeps the exact constant (the compiled order holds exact strings)."""
    import enum

    class Tif(enum.StrEnum):
        GTC = "gtc"

    class Stp(enum.StrEnum):
        MAKER = "cancel_maker"

    for engine_cls in (Engine, interpreted_core().Engine):
        engine = engine_cls()
        engine.apply(core.Deposit(account=1, asset="USD", amount=10**12), 0)
        events = engine.apply(core.PlaceOrder(account=1, instrument="GPUH_USD", side=core.BUY,
                                              amount=2, price=100, tif=Tif.GTC, stp=Stp.MAKER), 1)
        accepted = events[0]
        assert type(accepted) is core.OrderAccepted and type(accepted.tif) is str
        order = engine.orders[accepted.order_id]
        assert (type(order.tif), type(order.stp)) == (str, str)
        assert (order.tif, order.stp) == ("gtc", "cancel_maker")


def test_a_clock_beyond_range_is_refused_before_anything_changes() -> None:
    for engine_cls in (Engine, interpreted_core().Engine):
        engine = engine_cls()
        engine.apply(core.Deposit(account=1, asset="USD", amount=10**12), 5)
        before = (engine.state_hash(), engine.seq)
        with pytest.raises(ValueError, match="beyond the engine's clock range"):
            engine.apply(core.PlaceOrder(account=1, instrument="GPUH_USD", side=core.BUY,
                                         amount=1, price=100), 1 << 63)
        assert (engine.state_hash(), engine.seq) == before


def test_the_build_compiles_the_core_and_kernel_and_tolerates_a_failed_compile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a working C compiler must still install (the interpreted core)."""
    import runpy

    monkeypatch.chdir(REPO)  # setup.py's paths are relative to the project, as pip runs it

    setup_module = runpy.run_path(str(REPO / "setup.py"), run_name="setup_under_test")
    extensions = setup_module["core_extensions"]()
    assert sorted(e.name for e in extensions) == sorted(
        [f"exchange.core.{name}" for name in COMPILED_MODULES] + ["scenarios._ckernel"])
    assert all(e.optional for e in extensions)
