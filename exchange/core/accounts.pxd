cimport cython

@cython.final
cdef class Position:
    cdef public object size, cost, realized

@cython.final
cdef class Account:
    cdef public object id, cash, reserved
    cdef public dict assets, asset_reserved, positions, open_orders, labels
    cdef public long long reduce_only_orders
