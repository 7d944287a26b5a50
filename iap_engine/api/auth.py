"""API keys: `Authorization: Bearer <key>`, checked by SHA-256 in constant time; roles.

Roles grant the least each caller needs:
- service (backends): register purchases, read entitlements;
- support (staff tools): read entitlements, subscription detail, look-ups;
- admin: everything, including erasing an account.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request

from iap_engine.api.errors import ApiError
from iap_engine.settings import ApiKeySettings


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


class KeyRing:
    def __init__(self, keys: Sequence[ApiKeySettings]) -> None:
        self._keys = [(bytes.fromhex(k.sha256), k.name, k.role) for k in keys]

    def identify(self, presented: str) -> Caller | None:
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Caller | None = None
        # Every key is compared, whichever matches, so timing says nothing about which did.
        for expected, name, role in self._keys:
            if hmac.compare_digest(digest, expected) and found is None:
                found = Caller(name, role)
        return found


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(*roles: str) -> Callable[[Request], Caller]:
    allowed = frozenset(roles) | {"admin"}

    def dependency(request: Request) -> Caller:
        key = bearer(request)
        if key is None:
            raise ApiError(401, "missing_credentials", "send Authorization: Bearer <api key>")
        keyring: KeyRing = request.app.state.keyring
        caller = keyring.identify(key)
        if caller is None:
            raise ApiError(401, "invalid_credentials", "the API key is not valid")
        if caller.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                f"the {caller.role} role may not do this; needs {' or '.join(sorted(allowed))}",
            )
        request.state.caller = caller
        return caller

    return dependency
