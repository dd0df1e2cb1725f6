"""API keys with roles, kept as SHA-256 hashes, and the FastAPI dependency that checks them.

Keys are 256-bit random tokens, so a fast hash is as safe as a slow one (nothing to brute-force)
and costs microseconds per request. ``admin`` may do everything ``review`` may, and ``review``
everything ``read`` may. A key arrives as
``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; both are declared as OpenAPI security schemes,
so generated clients and schemathesis know how to send one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from molops.config import ApiKey

#: ``review`` (the web app's proposal review and result uploads) sits between the two.
ROLES = {"read": 1, "review": 2, "admin": 3}
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


API_KEY_HEADER = "X-API-Key"
#: The two ways to send a key, as OpenAPI security schemes; either one will do. An operation lists the
#: role it needs as the requirement's scope (OpenAPI 3.1 allows role names for these schemes).
#: ``auto_error=False``: :func:`requirement` answers a missing key itself, in the service's own form.
API_KEY = APIKeyHeader(
    name=API_KEY_HEADER, scheme_name="ApiKey", auto_error=False, description="`X-API-Key: KEY`"
)
BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False, description="`Authorization: Bearer KEY`")


def presented_key(x_api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The key a request carries: ``X-API-Key`` wins over a bearer token; None when neither is sent."""
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return bearer.credentials.strip() if bearer is not None else None


async def keyring(request: Request) -> KeyRing:
    """The service's keys (``create_app`` puts them on ``app.state``)."""
    keys: KeyRing = request.app.state.keys
    return keys


@cache  # one dependency per role: FastAPI then checks a request's key once, however often it is named
def requirement(role: str) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency: the caller, or 401 (no or unknown key) / 403 (a role below *role*)."""
    from molops.serving.errors import ApiError

    # defaults, not Annotated: the annotations are strings, evaluated where *role* is not in scope
    by_header, by_bearer = Security(API_KEY, scopes=[role]), Security(BEARER, scopes=[role])

    async def check(  # async: FastAPI runs a plain def dependency in a thread, a hop per request
        request: Request,
        keys: Annotated[KeyRing, Depends(keyring)],
        x_api_key: str | None = by_header,
        bearer: HTTPAuthorizationCredentials | None = by_bearer,
    ) -> Caller:
        # a sent X-API-Key is the key, even blank: a valid bearer token beside it does not rescue it
        sent = request.headers.get(API_KEY_HEADER)
        key = sent.strip() if sent is not None else presented_key(x_api_key, bearer)
        caller = keys.caller(key)
        if caller is None:
            missing = "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            raise ApiError(401, "unauthorized", missing if not key else "the API key is not valid")
        if not KeyRing.allows(caller, role):
            raise ApiError(
                403, "forbidden", f"key {caller.name!r} has role {caller.role!r}; this needs {role!r}"
            )
        state = request.scope["state"]
        state["client"], state["caller"] = caller.name, caller  # the caller, for routes: see checked_caller
        return caller

    return check


def checked_caller(request: Request) -> Caller:
    """The caller the route's ``requirement`` dependency let in. The hot routes read it here rather
    than name that dependency a second time as a parameter: FastAPI solves a dependency's whole tree
    (key ring, both security schemes) again for each mention, even when its value is cached."""
    caller: Caller = request.scope["state"]["caller"]
    return caller
