"""API keys, signatures, tokens.

Three ways in, as Deribit offers them: ``client_credentials`` (id + secret), ``client_signature``
(HMAC-SHA256 of ``timestamp\\nnonce\\ndata`` with the secret) and ``refresh_token``. Signatures
must carry a timestamp within ``window_ms`` of the server clock, and each signature is accepted
once: a captured auth message or signed HTTP request cannot be replayed. Secrets are compared in
constant time and never appear in any error or log line.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from .config import AccountConfig
from .errors import INVALID_CREDENTIALS, UNAUTHORIZED, RpcError


@dataclass(slots=True)
class Grant:
    """What a token stands for."""

    account: int
    client_id: str
    expires_ms: int


class Authenticator:
    def __init__(self, accounts: list[AccountConfig], window_ms: int, token_ttl_s: int) -> None:
        self._keys = {a.client_id: a for a in accounts}
        self.window_ms = window_ms
        self.token_ttl_ms = token_ttl_s * 1000
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        # accepted signatures -> their timestamp; pruned once outside the window
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()

    def account_ids(self) -> list[int]:
        return [a.id for a in self._keys.values()]

    # -- grants ------------------------------------------------------------------------------
    def client_credentials(self, client_id: str, client_secret: str, now_ms: int) -> Grant:
        key = self._keys.get(client_id)
        if key is None or not hmac.compare_digest(key.client_secret.encode(),
                                                  client_secret.encode()):
            raise RpcError(INVALID_CREDENTIALS, "invalid client_id or client_secret")
        return Grant(key.id, client_id, now_ms + self.token_ttl_ms)

    def client_signature(self, client_id: str, timestamp: int, signature: str, nonce: str,
                         data: str, now_ms: int) -> Grant:
        key = self._keys.get(client_id)
        if key is None:
            raise RpcError(INVALID_CREDENTIALS, "invalid client_id or signature")
        self._check_signature(key, timestamp, signature, f"{timestamp}\n{nonce}\n{data}", now_ms)
        return Grant(key.id, client_id, now_ms + self.token_ttl_ms)

    def http_signature(self, header_value: str, method: str, uri: str, body: str,
                       now_ms: int) -> Grant:
        """``Authorization: deri-hmac-sha256 id=..,ts=..,sig=..,nonce=..`` over
        ``ts\\nnonce\\nMETHOD\\nURI\\nBODY\\n``."""
        fields: dict[str, str] = {}
        for part in header_value.split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name.strip()] = value.strip()
        try:
            client_id, ts_text, sig, nonce = (fields["id"], fields["ts"], fields["sig"],
                                              fields["nonce"])
            timestamp = int(ts_text)
        except (KeyError, ValueError):
            raise RpcError(INVALID_CREDENTIALS,
                           "malformed deri-hmac-sha256 header: need id, ts, sig, nonce") from None
        key = self._keys.get(client_id)
        if key is None:
            raise RpcError(INVALID_CREDENTIALS, "invalid client_id or signature")
        to_sign = f"{timestamp}\n{nonce}\n{method.upper()}\n{uri}\n{body}\n"
        self._check_signature(key, timestamp, sig, to_sign, now_ms)
        return Grant(key.id, client_id, now_ms + self.token_ttl_ms)

    def _check_signature(self, key: AccountConfig, timestamp: int, signature: str,
                         to_sign: str, now_ms: int) -> None:
        if abs(now_ms - timestamp) > self.window_ms:
            raise RpcError(INVALID_CREDENTIALS,
                           f"timestamp outside the accepted window of {self.window_ms} ms")
        expected = hmac.new(key.client_secret.encode(), to_sign.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise RpcError(INVALID_CREDENTIALS, "invalid client_id or signature")
        self._prune(now_ms)
        seen_key = (key.client_id, expected)
        if seen_key in self._seen:
            raise RpcError(INVALID_CREDENTIALS, "signature already used (replay)")
        self._seen[seen_key] = timestamp

    def _prune(self, now_ms: int) -> None:
        horizon = now_ms - 2 * self.window_ms
        seen = self._seen
        while seen:
            first = next(iter(seen))
            if seen[first] >= horizon:
                break
            seen.popitem(last=False)

    # -- tokens ------------------------------------------------------------------------------
    def issue(self, grant: Grant) -> tuple[str, str]:
        """(access_token, refresh_token) for a grant."""
        if len(self._access) + len(self._refresh) > 10_000:
            self._expire(grant.expires_ms - self.token_ttl_ms)
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self._access[access] = grant
        self._refresh[refresh] = Grant(grant.account, grant.client_id,
                                       grant.expires_ms + 30 * self.token_ttl_ms)
        return access, refresh

    def _expire(self, now_ms: int) -> None:
        for table in (self._access, self._refresh):
            for token in [t for t, g in table.items() if g.expires_ms < now_ms]:
                del table[token]

    def refresh(self, refresh_token: str, now_ms: int) -> Grant:
        grant = self._refresh.pop(refresh_token, None)
        if grant is None or grant.expires_ms < now_ms:
            raise RpcError(INVALID_CREDENTIALS, "invalid or expired refresh_token")
        return Grant(grant.account, grant.client_id, now_ms + self.token_ttl_ms)

    def bearer(self, token: str, now_ms: int) -> Grant:
        grant = self._access.get(token)
        if grant is None or grant.expires_ms < now_ms:
            if grant is not None:
                del self._access[token]
            raise RpcError(UNAUTHORIZED, "invalid or expired access_token")
        return grant

    def basic(self, credentials_b64: str, now_ms: int) -> Grant:
        import base64
        import binascii

        try:
            client_id, _, secret = base64.b64decode(credentials_b64).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise RpcError(INVALID_CREDENTIALS, "malformed Basic credentials") from None
        return self.client_credentials(client_id, secret, now_ms)

    def revoke_account_tokens(self, account: int) -> None:
        for table in (self._access, self._refresh):
            for token in [t for t, g in table.items() if g.account == account]:
                del table[token]
