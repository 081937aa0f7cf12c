# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The discrete-event kernel, compiled: the contract of ``scenarios.kernel.InterpretedKernel``.

The interpreted kernel keeps its messages in a ``heapq`` of ``(time, seq, handler, payload)``
tuples. In a simulated day that heap is the largest single cost outside the engine: an order
reaching the exchange is scheduled a few hundred microseconds ahead, earlier than almost every
pending wake-up, so it sifts to the top of a heap of about a thousand entries on the way in
and the top entry sifts to the bottom on the way out, each step a generic comparison of two
tuples (about 3,900 machine instructions per pop and 2,200 per push, measured with callgrind).

Here the heap is an array of C structs ordered by two 64-bit integers, so a step is an integer
comparison. Handlers and payloads stay in Python lists indexed by a slot number (the heap
moves only the small structs), which keeps every object visible to the cyclic collector: a
kernel and the agents whose bound methods it holds form a cycle that must stay collectable.

Order is identical to the interpreted kernel's: ``(time, seq)`` keys are unique, so any correct
heap pops them in the same sequence (``tests/test_sim_kernel.py`` runs both side by side).
Times are signed 64-bit nanoseconds (an ``OverflowError`` beyond), as in the engine.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc


cdef struct Node:
    long long ts
    long long seq
    Py_ssize_t slot  # index into Kernel._handlers / Kernel._payloads


cdef inline bint before(Node* a, Node* b) noexcept:
    return a.ts < b.ts or (a.ts == b.ts and a.seq < b.seq)


cdef class Kernel:
    """Runs scheduled messages in (time, seq) order and counts them."""

    cdef Node* _nodes
    cdef Py_ssize_t* _free  # stack of unused slots
    cdef Py_ssize_t _size, _capacity, _free_count
    cdef list _handlers, _payloads
    cdef public long long seq, now, messages
    cdef public bint stopped

    def __cinit__(self, long long start_ns=0):
        self._nodes = NULL
        self._free = NULL
        self._size = 0
        self._capacity = 0
        self._free_count = 0
        self._handlers = []
        self._payloads = []
        self.seq = 0
        self.now = start_ns
        self.messages = 0
        self.stopped = False
        self._grow(1024)

    def __dealloc__(self):
        PyMem_Free(self._nodes)
        PyMem_Free(self._free)

    cdef int _grow(self, Py_ssize_t capacity) except -1:
        """Room for ``capacity`` pending messages; only called when every slot is in use."""
        cdef Node* nodes = <Node*>PyMem_Realloc(self._nodes, capacity * sizeof(Node))
        if nodes == NULL:
            raise MemoryError()
        self._nodes = nodes
        cdef Py_ssize_t* free = <Py_ssize_t*>PyMem_Realloc(self._free,
                                                         capacity * sizeof(Py_ssize_t))
        if free == NULL:
            raise MemoryError()
        self._free = free
        cdef Py_ssize_t old = self._capacity, slot
        self._handlers.extend([None] * (capacity - old))
        self._payloads.extend([None] * (capacity - old))
        for slot in range(capacity - 1, old - 1, -1):  # lowest slot on top of the stack
            self._free[self._free_count] = slot
            self._free_count += 1
        self._capacity = capacity
        return 0

    cpdef schedule(self, long long ts, object handler, object payload=None):
        """Run ``handler(payload)`` at ``ts`` (clamped to now: the past cannot be scheduled)."""
        if ts < self.now:
            ts = self.now
        if self._free_count == 0:
            self._grow(2 * self._capacity)
        self.seq += 1
        self._free_count -= 1
        cdef Py_ssize_t slot = self._free[self._free_count]
        self._handlers[slot] = handler
        self._payloads[slot] = payload
        cdef Node node
        node.ts = ts
        node.seq = self.seq
        node.slot = slot
        cdef Node* nodes = self._nodes
        cdef Py_ssize_t pos = self._size, parent
        self._size += 1
        while pos > 0:  # sift up
            parent = (pos - 1) >> 1
            if not before(&node, &nodes[parent]):
                break
            nodes[pos] = nodes[parent]
            pos = parent
        nodes[pos] = node

    cdef inline void _remove_top(self) noexcept:
        cdef Node* nodes = self._nodes
        self._size -= 1
        cdef Py_ssize_t n = self._size, pos = 0, child
        if n == 0:
            return
        cdef Node last = nodes[n]
        while True:  # sift the last node down from the root
            child = 2 * pos + 1
            if child >= n:
                break
            if child + 1 < n and before(&nodes[child + 1], &nodes[child]):
                child += 1
            if before(&last, &nodes[child]):
                break
            nodes[pos] = nodes[child]
            pos = child
        nodes[pos] = last

    def stop(self):
        """End the run after the current message."""
        self.stopped = True

    @property
    def pending(self):
        """Messages scheduled and not yet run."""
        return self._size

    def run(self, long long until, progress=None, long long progress_every=16384):
        """Process messages due up to and including ``until``; returns how many ran.

        ``progress(now)`` is called every ``progress_every`` messages."""
        cdef long long done = 0, next_report = progress_every
        cdef Py_ssize_t slot
        cdef object handler, payload
        cdef list handlers, payloads
        while self._size and not self.stopped:
            if self._nodes[0].ts > until:
                break
            self.now = self._nodes[0].ts
            slot = self._nodes[0].slot
            self._remove_top()
            handlers = self._handlers
            payloads = self._payloads
            handler = handlers[slot]
            payload = payloads[slot]
            handlers[slot] = None
            payloads[slot] = None
            self._free[self._free_count] = slot
            self._free_count += 1
            handler(payload)
            done += 1
            if done == next_report:
                next_report += progress_every
                if progress is not None:
                    progress(self.now)
        if not self.stopped and self.now < until:
            self.now = until
        self.messages += done
        return done
