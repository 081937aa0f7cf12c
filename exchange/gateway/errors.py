"""JSON-RPC and Deribit error codes, and the exception that carries them to the client.

Codes are the ones Deribit clients already map (ccxt turns 10009 into InsufficientFunds,
13009 into AuthenticationError, ...); ``data.reason`` says precisely what was wrong, because
one code often covers several causes.
"""

from __future__ import annotations

from typing import Any

from exchange.core.codes import Code

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

TOO_MANY_REQUESTS = 10028
INVALID_CREDENTIALS = 13004
UNAUTHORIZED = 13009
FORBIDDEN = 13021
NOT_SUBSCRIBED = 11050

_MESSAGES: dict[int, str] = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    TOO_MANY_REQUESTS: "too_many_requests",
    INVALID_CREDENTIALS: "invalid_credentials",
    UNAUTHORIZED: "unauthorized",
    FORBIDDEN: "forbidden",
}


def message_for(code: int) -> str:
    """Deribit's message string for a code (the lower-case name Deribit documents)."""
    if code in _MESSAGES:
        return _MESSAGES[code]
    try:
        return Code(code).name.lower()
    except ValueError:
        return "error"


class RpcError(Exception):
    """An error answer: raised anywhere in request handling, rendered by the protocol."""

    def __init__(self, code: int, reason: str, param: str | None = None,
                 message: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.param = param
        self.message = message or message_for(code)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": self.reason}
        if self.param is not None:
            data["param"] = self.param
        return {"code": self.code, "message": self.message, "data": data}


def invalid_params(param: str, reason: str) -> RpcError:
    return RpcError(INVALID_PARAMS, reason, param)
