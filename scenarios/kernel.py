"""The discrete-event kernel: a virtual nanosecond clock and one heap of pending messages.

Every message is a tuple ``(time, seq, handler, payload)``. ``seq`` is a global counter, so two
messages due at the same instant run in the order they were scheduled: ties break the same way
on every run, which is what makes a simulation byte-reproducible. Handlers are plain callables
(no asyncio, no per-message objects) because the kernel's own cost per message must stay well
below the engine's cost per command.

Two implementations keep that contract. ``InterpretedKernel`` below is the reference: a
``heapq`` of tuples. ``scenarios/_ckernel.pyx`` is the same kernel compiled, with a heap of C
structs, because the tuple heap was the largest cost of a simulated day outside the engine
(that file says why). ``Kernel`` is the compiled one when it was built from the current source,
else the interpreted one; ``CMX_CORE=interpreted`` forces the interpreted kernel as it forces the
interpreted matching core, and ``CMX_CORE=compiled`` requires both compiled.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from exchange.core.build_info import KERNEL_DIGEST_FILE, KERNEL_SOURCE, files_digest
from exchange.core.implementation import COMPILED, ENV_VAR, INTERPRETED

Handler = Callable[[Any], None]


class InterpretedKernel:
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

    @property
    def pending(self) -> int:
        """Messages scheduled and not yet run."""
        return len(self.heap)

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


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compiled_kernel() -> tuple[type | None, str]:
    """The compiled kernel class if it is built from the current source, and why (not)."""
    try:
        from scenarios._ckernel import Kernel as compiled
    except ImportError:
        return None, "not built"
    try:
        with open(os.path.join(_ROOT, KERNEL_DIGEST_FILE), encoding="ascii") as f:
            built_from = f.read().strip()
    except OSError:
        return None, f"built, but {os.path.basename(KERNEL_DIGEST_FILE)} is missing"
    if built_from != files_digest([os.path.join(_ROOT, KERNEL_SOURCE)]):
        return None, "stale: its source changed after the build"
    return compiled, "built from the current source"


def _select() -> tuple[type, str]:
    # exchange.core has already rejected a CMX_CORE value other than these three.
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted == INTERPRETED:
        return InterpretedKernel, INTERPRETED
    compiled, why = compiled_kernel()
    if compiled is not None:
        return compiled, COMPILED
    if wanted == COMPILED:
        raise ImportError(f"{ENV_VAR}=compiled, but the compiled simulation kernel is {why}; "
                          "rebuild it with `pip install -e .`")
    if why != "not built":
        warnings.warn(f"the compiled simulation kernel is {why}; using the interpreted kernel "
                      "(rebuild with `pip install -e .`)", RuntimeWarning, stacklevel=3)
    return InterpretedKernel, INTERPRETED


#: The kernel simulations use, and which implementation it is (``compiled``/``interpreted``).
Kernel, IMPLEMENTATION = _select()
