"""The discrete-event kernel: time order, deterministic tie-breaks, bounded runs.

Every test runs against both implementations (the compiled C-heap kernel and the interpreted
reference); a property test drives both with the same random schedules and compares what ran.
"""

from __future__ import annotations

import gc
import os
import shutil
import sysconfig
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scenarios.kernel as kernel_module
from scenarios.kernel import InterpretedKernel, compiled_kernel

COMPILED_KERNEL, WHY_NOT = compiled_kernel()
KERNELS = [InterpretedKernel] + ([COMPILED_KERNEL] if COMPILED_KERNEL is not None else [])


@pytest.fixture(params=KERNELS, ids=lambda k: k.__module__)
def kernel_cls(request: pytest.FixtureRequest) -> type:
    return request.param


def test_messages_run_in_time_then_schedule_order(kernel_cls: type) -> None:
    k = kernel_cls()
    seen: list[tuple[int, str]] = []
    for ts, name in [(30, "c"), (10, "a"), (20, "b1"), (20, "b2"), (10, "a2")]:
        k.schedule(ts, lambda n, ts=ts: seen.append((ts, n)), name)
    assert k.run(100) == 5
    assert seen == [(10, "a"), (10, "a2"), (20, "b1"), (20, "b2"), (30, "c")]
    assert k.now == 100 and k.messages == 5


def test_handlers_can_schedule_and_past_is_clamped_to_now(kernel_cls: type) -> None:
    k = kernel_cls()
    seen: list[int] = []

    def first(_: object) -> None:
        seen.append(k.now)
        k.schedule(k.now - 5, lambda _: seen.append(k.now))  # the past means "now"
        k.schedule(k.now + 7, lambda _: seen.append(k.now))

    k.schedule(10, first)
    k.run(1_000)
    assert seen == [10, 10, 17]


def test_run_stops_at_until_and_resumes(kernel_cls: type) -> None:
    k = kernel_cls()
    seen: list[int] = []
    for ts in (5, 15, 25):
        k.schedule(ts, seen.append, ts)
    k.run(15)
    assert seen == [5, 15] and k.now == 15
    k.run(30)
    assert seen == [5, 15, 25]


def test_stop_and_progress(kernel_cls: type) -> None:
    k = kernel_cls()
    reports: list[int] = []
    for ts in range(10):
        k.schedule(ts, (lambda _: k.stop()) if ts == 6 else (lambda _: None))
    k.run(100, progress=reports.append, progress_every=3)
    assert reports == [2, 5]
    assert k.messages == 7


def test_pending_counts_scheduled_messages_and_the_heap_grows(kernel_cls: type) -> None:
    k = kernel_cls()
    seen: list[int] = []
    for ts in range(5000, 0, -1):  # beyond the compiled kernel's first allocation (1,024)
        k.schedule(ts, seen.append, ts)
    assert k.pending == 5000
    assert k.run(2500) == 2500 and k.pending == 2500
    k.run(10_000)
    assert seen == list(range(1, 5001)) and k.pending == 0


def test_a_kernel_in_a_reference_cycle_is_collected(kernel_cls: type) -> None:
    """Agents hold their kernel and the kernel holds their bound methods: that cycle must not
    keep a finished simulation alive (the compiled kernel keeps handlers where the cyclic
    collector sees them)."""

    class Agent:
        def __init__(self, k: Any) -> None:
            self.kernel = k

        def wake(self, _: object) -> None:
            pass

    k = kernel_cls()
    agent = Agent(k)
    k.schedule(10, agent.wake)
    ref = weakref.ref(agent)
    del k, agent
    gc.collect()
    assert ref() is None


def test_a_handler_error_propagates_and_the_kernel_stays_usable(kernel_cls: type) -> None:
    k = kernel_cls()
    seen: list[int] = []

    def boom(_: object) -> None:
        raise RuntimeError("agent bug")

    k.schedule(1, seen.append, 1)
    k.schedule(2, boom)
    k.schedule(3, seen.append, 3)
    with pytest.raises(RuntimeError, match="agent bug"):
        k.run(10)
    assert seen == [1] and k.now == 2
    k.run(10)
    assert seen == [1, 3]


# A schedule: (time, number of follow-ups it schedules, their delays); delays may be negative
# (clamped to now) or zero (ties with other messages of the same instant).
ACTIONS = st.lists(
    st.tuples(st.integers(0, 50), st.lists(st.integers(-5, 20), max_size=3)),
    min_size=1, max_size=60,
)


def trace(kernel_cls: type, actions: list[tuple[int, list[int]]], stops: list[int],
          until: list[int]) -> list[tuple]:
    k = kernel_cls(3)
    out: list[tuple] = []
    label = [0]

    def handler(payload: tuple[int, list[int]]) -> None:
        name, delays = payload
        out.append(("run", name, k.now, k.seq))
        if name in stops:
            k.stop()
        for delay in delays:
            label[0] += 1
            k.schedule(k.now + delay, handler, (1000 + label[0], []))

    for i, (ts, delays) in enumerate(actions):
        k.schedule(ts, handler, (i, delays))
    for limit in until:
        done = k.run(limit, progress=lambda now: out.append(("progress", now)), progress_every=4)
        out.append(("ran", done, k.now, k.messages, k.pending, k.stopped))
    return out


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS, stops=st.lists(st.integers(0, 80), max_size=2),
       until=st.lists(st.integers(0, 120), min_size=1, max_size=4))
def test_compiled_and_interpreted_kernels_run_the_same_messages(
        actions: list[tuple[int, list[int]]], stops: list[int], until: list[int]) -> None:
    if COMPILED_KERNEL is None:
        pytest.skip(f"no compiled kernel here ({WHY_NOT})")
    assert trace(COMPILED_KERNEL, actions, stops, until) == trace(
        InterpretedKernel, actions, stops, until)


def test_a_machine_with_a_c_compiler_runs_the_compiled_kernel() -> None:
    """As for the matching core: a build that could compile must not fall back silently."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if os.environ.get("CMX_CORE", "").lower() == "interpreted":
        assert kernel_module.IMPLEMENTATION == "interpreted"
        assert kernel_module.Kernel is InterpretedKernel
    elif shutil.which(compiler):
        assert kernel_module.IMPLEMENTATION == "compiled", WHY_NOT
        assert kernel_module.Kernel is COMPILED_KERNEL
    else:
        assert kernel_module.IMPLEMENTATION == "interpreted"


def test_times_beyond_64_bits_are_refused_by_the_compiled_kernel() -> None:
    if COMPILED_KERNEL is None:
        pytest.skip(f"no compiled kernel here ({WHY_NOT})")
    k = COMPILED_KERNEL()
    with pytest.raises(OverflowError):
        k.schedule(1 << 63, print)
    assert k.pending == 0 and k.seq == 0


def test_a_stale_or_unrecorded_kernel_build_is_not_used(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled kernel is used only when built from the ``.pyx`` beside it, as the core."""
    if COMPILED_KERNEL is None:
        pytest.skip(f"no compiled kernel here ({WHY_NOT})")
    root = os.path.dirname(os.path.dirname(os.path.abspath(kernel_module.__file__)))
    copied = tmp_path / "scenarios"
    copied.mkdir()
    shutil.copy(os.path.join(root, "scenarios", "_ckernel.pyx"), copied)
    shutil.copy(os.path.join(root, "scenarios", "_ckernel_from.txt"), copied)
    monkeypatch.setattr(kernel_module, "_ROOT", str(tmp_path))
    assert kernel_module.compiled_kernel()[0] is COMPILED_KERNEL
    source = copied / "_ckernel.pyx"
    source.write_text(source.read_text() + "\n# edited\n")
    assert kernel_module.compiled_kernel() == (None, "stale: its source changed after the build")
    (copied / "_ckernel_from.txt").unlink()
    assert kernel_module.compiled_kernel()[1] == "built, but _ckernel_from.txt is missing"
    monkeypatch.delenv("CMX_CORE", raising=False)
    with pytest.warns(RuntimeWarning, match="compiled simulation kernel is built, but"):
        assert kernel_module._select() == (InterpretedKernel, "interpreted")
    monkeypatch.setenv("CMX_CORE", "compiled")
    with pytest.raises(ImportError, match="CMX_CORE=compiled, but the compiled simulation"):
        kernel_module._select()
    monkeypatch.setenv("CMX_CORE", "interpreted")
    assert kernel_module._select() == (InterpretedKernel, "interpreted")
