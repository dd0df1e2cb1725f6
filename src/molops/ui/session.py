"""Browser sessions: a signed cookie that holds the API key, and CSRF tokens bound to it.

A browser cannot easily send ``X-API-Key``, so the login form trades a key for a cookie (HttpOnly,
SameSite=Strict, signed). Every request still checks the key inside against the configured keys, so
a removed key ends its sessions at once; the signature only stops a tampered cookie early. The
signing secret is a random file in the workspace (``.molops/ui-secret``, mode 0600), so every worker
and restart of the app accepts the same cookies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

COOKIE = "molops_ui"
SECRET_FILE = Path(".molops") / "ui-secret"


def load_secret(root: Path) -> bytes:
    """The workspace's signing secret, made once (atomically: two processes agree on one)."""
    path = root / SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs is the secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


def _mac(secret: bytes, purpose: str, text: str) -> str:
    return hmac.new(secret, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def sign_key(secret: bytes, key: str) -> str:
    """The cookie value carrying *key*."""
    payload = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, 'session', payload)}"


def unsign_key(secret: bytes, value: str | None) -> str | None:
    """The key in a cookie value, or None when it is missing, malformed or not signed by *secret*."""
    if not value or "." not in value:
        return None
    payload, mac = value.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(secret, "session", payload)):
        return None
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def csrf_token(secret: bytes, cookie: str) -> str:
    """The token a form must send back: bound to the session, so another site cannot know it."""
    return _mac(secret, "csrf", cookie)


def csrf_ok(secret: bytes, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(secret, cookie or ""), token or "")
