cimport cython

# Only C numbers and exact strings: an extension type whose fields cannot reference a cycle
# is left untracked by the cyclic collector, as the interpreted msgspec struct (gc=False) is.
@cython.final
cdef class Order:
    cdef public long long id, account, side, price, qty, filled, ts
    cdef public str label, instrument, tif, stp
    cdef long long _expire_ts  # 0: no expiry (read through the ``expire_ts`` property)
    cdef public bint reduce_only, post_only

@cython.final
cdef class Level:
    cdef public object queue
    cdef public long long total, count, price

@cython.final
cdef class _Side:
    cdef public dict levels
    cdef public list heap
    cdef public set in_heap
    cdef public long long sign

    @cython.locals(heap=list, levels=dict, sign=cython.longlong, price=object)
    cpdef object best(self)

# Not final: the differential tests' naive reference book subclasses it in Python (a cpdef
# method called on a typed Book still reaches a Python override).
cdef class Book:
    cdef public _Side bid, ask

    cpdef object best_bid(self)
    cpdef object best_ask(self)

    @cython.locals(level=Level)
    cpdef long long level_total(self, long long side, long long price) except? -1

    @cython.locals(heap=list)
    cpdef bint may_cross(self, long long side, long long price) except? -1

    @cython.locals(side=_Side, level=Level, price=cython.longlong)
    cpdef long long cancel(self, Order order) except? -1

    @cython.locals(side=_Side, level=Level)
    cpdef long long reduce(self, Order order, long long new_qty) except? -1

    @cython.locals(side=_Side, level=Level, price=cython.longlong)
    cpdef long long add(self, Order order) except? -1

    @cython.locals(opp=_Side, bound=cython.longlong, key=cython.longlong, price=cython.longlong,
                   level=Level, maker=Order, maker_qty=cython.longlong, fill=cython.longlong,
                   fills=list, self_cancelled=list, stopped=bint, levels=dict, heap=list,
                   sign=cython.longlong)
    cpdef tuple match(self, long long side, long long limit, long long qty, long long account,
                      object stp)
