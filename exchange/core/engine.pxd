cimport cython
from exchange.core.book cimport Order, Book
from exchange.core.accounts cimport Account, Position

cdef class Engine:
    cdef public object config, registry, book_factory
    cdef public dict _specs, _open_until, books, change_ids, accounts, marks, last_prices
    cdef public dict indexes, settled, holders, external, _touched_balances
    cdef public dict _touched_positions, _solvency, _fill_context, _handlers
    cdef public object next_order_id, next_trade_id, seq, now, _next_due
    cdef public list _gtd_heap, _expiry_heap
    cdef public bint _balance_events

    @cython.locals(out=list, handler=object)
    cpdef list apply(self, object command, object ts)

    @cython.locals(acct=Account, order=Order, change_ids=dict, touched=dict, book=Book)
    cpdef _place(self, object c, object ts, list out)

    @cython.locals(accounts=dict, touched=dict, maker=Order, maker_acct=Account,
                   changed_levels=list, taker_assets=dict, maker_assets=dict, change_ids=dict,
                   solvency=dict)
    cpdef _execute(self, object spec, Book book, Order taker, Account taker_acct, list fills,
                   object ts, list out, object liquidation)

    @cython.locals(acct=Account)
    cpdef _cancel(self, object c, object ts, list out)

    @cython.locals(acct=Account, change_ids=dict)
    cpdef _cancel_resting(self, Order order, object reason, object ts, list out,
                          bint alone=*)

    @cython.locals(accounts=dict, acct=Account)
    cpdef _flush_changes(self, list out)

    @cython.locals(change_ids=dict)
    cpdef _finish_taker(self, object spec, Book book, Account acct, Order order,
                        object order_type, object tif, object stopped, object ts, list out,
                        bint report_open=*)
