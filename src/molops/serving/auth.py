"""API keys with roles, kept as SHA-256 hashes.

Keys are 256-bit random tokens, so a fast hash is as safe as a slow one (nothing to brute-force)
and costs microseconds per request. ``admin`` may do everything ``read`` may. A key arrives as
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Request

from molops.config import ApiKey

ROLES = {"read": 1, "admin": 2}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh API key (printed once; only its hash is stored)."""
    return "mk_" + secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


ANONYMOUS = Caller("", "admin")


class KeyRing:
    """The configured keys; with none, every caller is anonymous (allowed on loopback only)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {k.hash: Caller(k.name, k.role) for k in keys}

    @property
    def enabled(self) -> bool:
        return bool(self._by_hash)

    def caller(self, key: str | None) -> Caller | None:
        """Who *key* belongs to; None for a missing or unknown key."""
        if not self.enabled:
            return ANONYMOUS
        if not key:
            return None
        digest = hash_key(key)
        for known, caller in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return caller
        return None

    @staticmethod
    def allows(caller: Caller, role: str) -> bool:
        return ROLES[caller.role] >= ROLES[role]


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def requirement(keys: KeyRing, role: str) -> Callable[..., Caller]:
    """A FastAPI dependency: the caller, or 401 (no or unknown key) / 403 (a role below *role*)."""
    from molops.serving.errors import ApiError

    def check(
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Caller:
        key = key_from_headers(authorization, x_api_key)
        caller = keys.caller(key)
        if caller is None:
            missing = "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            raise ApiError(401, "unauthorized", missing if not key else "the API key is not valid")
        if not KeyRing.allows(caller, role):
            raise ApiError(
                403, "forbidden", f"key {caller.name!r} has role {caller.role!r}; this needs {role!r}"
            )
        request.scope["state"]["client"] = caller.name
        return caller

    return check
