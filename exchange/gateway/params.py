"""Typed access to request parameters.

Parameters arrive as JSON values over websocket and as strings over HTTP GET, so every
accessor accepts both and coerces; anything that does not fit raises -32602 naming the
parameter and the reason, never a bare exception that would lose the request id.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import invalid_params

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


class Params:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def str(self, name: str, default: str | None = None, *, required: bool = False,
            choices: frozenset[str] | tuple[str, ...] | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid_params(name, f"{name} is required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid_params(name, f"{name} must be a string")
        value = str(value)
        if choices is not None and value not in choices:
            raise invalid_params(name, f"{name} must be one of {', '.join(sorted(choices))}")
        return value

    def req_str(self, name: str, choices: frozenset[str] | tuple[str, ...] | None = None) -> str:
        value = self.str(name, required=True, choices=choices)
        assert value is not None
        return value

    def decimal(self, name: str, *, required: bool = False, positive: bool = True
                ) -> Decimal | None:
        """A finite number (JSON number or numeric string), positive unless told otherwise."""
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid_params(name, f"{name} is required")
            return None
        if isinstance(value, bool):
            raise invalid_params(name, f"{name} must be a number")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise invalid_params(name, f"{name} must be a finite number")
            dec = Decimal(repr(value))
        elif isinstance(value, int):
            dec = Decimal(value)
        elif isinstance(value, str):
            try:
                dec = Decimal(value.strip())
            except InvalidOperation:
                raise invalid_params(name, f"{name} must be a number") from None
        else:
            raise invalid_params(name, f"{name} must be a number")
        if not dec.is_finite():
            raise invalid_params(name, f"{name} must be a finite number")
        if positive and dec <= 0:
            raise invalid_params(name, f"{name} must be positive")
        return dec

    def int(self, name: str, default: int | None = None, *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise invalid_params(name, f"{name} must be an integer")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise invalid_params(name, f"{name} must be an integer") from None
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise invalid_params(name, f"{name} must be an integer")
        if minimum is not None and value < minimum:
            raise invalid_params(name, f"{name} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise invalid_params(name, f"{name} must be at most {maximum}")
        return value

    def number(self, name: str, default: float | None = None, *, minimum: float | None = None
               ) -> float | None:
        dec = self.decimal(name, positive=False)
        if dec is None:
            return default
        value = float(dec)
        if minimum is not None and value < minimum:
            raise invalid_params(name, f"{name} must be at least {minimum}")
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
        raise invalid_params(name, f"{name} must be true or false")

    def str_list(self, name: str) -> list[str]:
        """A list of strings; over HTTP a JSON array string or a comma-separated list."""
        value = self.raw.get(name)
        if value is None:
            raise invalid_params(name, f"{name} is required")
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import msgspec

                try:
                    value = msgspec.json.decode(text)
                except msgspec.DecodeError:
                    raise invalid_params(name, f"{name} must be a list of strings") from None
            else:
                value = [part for part in text.split(",") if part]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_params(name, f"{name} must be a list of strings")
        return value
