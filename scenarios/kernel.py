"""The discrete-event kernel: a virtual nanosecond clock and one heap of pending messages.

Every message is a tuple ``(time, seq, handler, payload)``. ``seq`` is a global counter, so two
messages due at the same instant run in the order they were scheduled: ties break the same way
on every run, which is what makes a simulation byte-reproducible. Handlers are plain callables
(no asyncio, no per-message objects) because the kernel's own cost per message must stay well
below the engine's cost per command.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Handler = Callable[[Any], None]


class Kernel:
    """Runs scheduled messages in (time, seq) order and counts them."""

    __slots__ = ("heap", "seq", "now", "messages", "stopped")

    def __init__(self, start_ns: int = 0) -> None:
        self.heap: list[tuple[int, int, Handler, Any]] = []
        self.seq = 0
        self.now = start_ns
        self.messages = 0  # messages processed so far
        self.stopped = False

    def schedule(self, ts: int, handler: Handler, payload: Any = None) -> None:
        """Run ``handler(payload)`` at ``ts`` (clamped to now: the past cannot be scheduled)."""
        if ts < self.now:
            ts = self.now
        self.seq += 1
        heappush(self.heap, (ts, self.seq, handler, payload))

    def stop(self) -> None:
        """End the run after the current message."""
        self.stopped = True

    def run(
        self,
        until: int,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 16384,
    ) -> int:
        """Process messages due up to and including ``until``; returns how many ran.

        ``progress(now)`` is called every ``progress_every`` messages so a progress bar costs
        nothing per message.
        """
        heap = self.heap
        pop = heappop
        done = 0
        next_report = progress_every
        while heap and not self.stopped:
            if heap[0][0] > until:
                break
            ts, _, handler, payload = pop(heap)
            self.now = ts
            handler(payload)
            done += 1
            if done == next_report:
                next_report += progress_every
                if progress is not None:
                    progress(ts)
        if not self.stopped and self.now < until:
            self.now = until
        self.messages += done
        return done
