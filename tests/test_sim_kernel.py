"""The discrete-event kernel: time order, deterministic tie-breaks, bounded runs."""

from __future__ import annotations

from scenarios.kernel import Kernel


def test_messages_run_in_time_then_schedule_order() -> None:
    k = Kernel()
    seen: list[tuple[int, str]] = []
    for ts, name in [(30, "c"), (10, "a"), (20, "b1"), (20, "b2"), (10, "a2")]:
        k.schedule(ts, lambda n, ts=ts: seen.append((ts, n)), name)
    assert k.run(100) == 5
    assert seen == [(10, "a"), (10, "a2"), (20, "b1"), (20, "b2"), (30, "c")]
    assert k.now == 100 and k.messages == 5


def test_handlers_can_schedule_and_past_is_clamped_to_now() -> None:
    k = Kernel()
    seen: list[int] = []

    def first(_: object) -> None:
        seen.append(k.now)
        k.schedule(k.now - 5, lambda _: seen.append(k.now))  # the past means "now"
        k.schedule(k.now + 7, lambda _: seen.append(k.now))

    k.schedule(10, first)
    k.run(1_000)
    assert seen == [10, 10, 17]


def test_run_stops_at_until_and_resumes() -> None:
    k = Kernel()
    seen: list[int] = []
    for ts in (5, 15, 25):
        k.schedule(ts, seen.append, ts)
    k.run(15)
    assert seen == [5, 15] and k.now == 15
    k.run(30)
    assert seen == [5, 15, 25]


def test_stop_and_progress() -> None:
    k = Kernel()
    reports: list[int] = []
    for ts in range(10):
        k.schedule(ts, (lambda _: k.stop()) if ts == 6 else (lambda _: None))
    k.run(100, progress=reports.append, progress_every=3)
    assert reports == [2, 5]
    assert k.messages == 7
