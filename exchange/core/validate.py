"""Field types of commands, checked before a command changes anything.

Commands are ``msgspec`` structs, and ``msgspec`` checks types when it *decodes* (the gateway's
requests, the journal's records) but not when a struct is built in Python: an in-process agent
or a script can hand the engine ``PlaceOrder(amount=1.5, ...)``. Without a check such a value
is accepted and the core's integers quietly become floats (a float price in the book, a float
balance), or an unhashable value raises half-way through a command. So every field is checked
against its declared type, exactly (``True`` is not an ``int`` amount, ``1.0`` is not an
``int`` price, a NumPy integer is not an ``int``: its arithmetic wraps silently), and a command
with a wrong one is rejected with the reason of that field.

The engine runs the full check on its less frequent commands; order entry and cancels check
their few decisive fields inline (a ``type(x) is int`` costs ~15 ns) and call
``first_bad_field`` only to name the culprit.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec

from .codes import Code, Reason
from .messages import AnyCommand

_NONE = type(None)
#: Scalars are matched by exact type (``bool`` is a subclass of ``int``, and a ``str`` subclass
#: would be stored and compared as given); structs (an ``InstrumentSpec``) by ``isinstance``.
_SCALARS = (int, str, bool, float)


def _accepted_types(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(t for arg in typing.get_args(annotation) for t in _accepted_types(arg))
    if annotation is None or annotation is _NONE:
        return (_NONE,)
    return (annotation,)


def _schema(cls: type) -> tuple[tuple[str, tuple[type, ...], bool], ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for field in msgspec.structs.fields(cls):
        accepted = _accepted_types(hints[field.name])
        exact = all(t in _SCALARS or t is _NONE for t in accepted)
        out.append((field.name, accepted, exact))
    return tuple(out)


#: command class -> ((field, accepted types, exact match?), ...), in declaration order
SCHEMAS = {cls: _schema(cls) for cls in typing.get_args(AnyCommand)}

#: field -> (code, reason) of the rejection when that field has the wrong type
FIELD_REJECTS: dict[str, tuple[int, str]] = {
    "account": (Code.BAD_ARGUMENT, Reason.INVALID_ACCOUNT),
    "instrument": (Code.INVALID_OR_UNSUPPORTED_INSTRUMENT, Reason.UNKNOWN_INSTRUMENT),
    "side": (Code.BAD_ARGUMENT, Reason.INVALID_SIDE),
    "amount": (Code.INVALID_AMOUNT, Reason.INVALID_AMOUNT),
    "price": (Code.INVALID_PRICE, Reason.INVALID_PRICE),
    "type": (Code.BAD_ARGUMENT, Reason.INVALID_ORDER_TYPE),
    "tif": (Code.BAD_ARGUMENT, Reason.INVALID_TIME_IN_FORCE),
    "post_only": (Code.BAD_ARGUMENT, Reason.INVALID_FLAG),
    "reject_post_only": (Code.BAD_ARGUMENT, Reason.INVALID_FLAG),
    "reduce_only": (Code.BAD_ARGUMENT, Reason.INVALID_FLAG),
    "label": (Code.BAD_ARGUMENT, Reason.INVALID_LABEL),
    "expire_ts": (Code.BAD_ARGUMENT, Reason.INVALID_EXPIRY),
    "stp": (Code.BAD_ARGUMENT, Reason.INVALID_STP_MODE),
    "order_id": (Code.BAD_ARGUMENT, Reason.INVALID_ORDER_ID),
    "asset": (Code.BAD_ARGUMENT, Reason.UNKNOWN_ASSET),
    "spec": (Code.BAD_ARGUMENT, Reason.INVALID_INSTRUMENT_SPEC),
}


def first_bad_field(command: Any) -> str | None:
    """The first field of ``command`` whose value is not of its declared type, or None."""
    for name, accepted, exact in SCHEMAS[type(command)]:
        value = getattr(command, name)
        if exact:
            if type(value) not in accepted:
                return name
        elif not isinstance(value, accepted):
            return name
    return None


def rejection_of(field: str) -> tuple[int, str]:
    """(code, reason) for a command rejected because of ``field``."""
    return FIELD_REJECTS.get(field, (Code.BAD_ARGUMENT, Reason.INVALID_FIELD_TYPE))
