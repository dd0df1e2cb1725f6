"""Passwords in URLs: found before they are stored, and masked before a URL is printed or logged.

molops takes a database password only from the environment or a file (libpq's ``PGPASSWORD`` and
``PGPASSFILE``), so a URL it writes to ``molops.toml`` never holds one; a URL that arrives with one
anyway (a hand-edited file, an environment override) still works, but is shown with ``***``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
#: Query parameters that libpq (and so a ``postgresql://`` URL) reads a secret from.
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def has_password(url: str) -> bool:
    """Whether *url* carries a password, in its user part or as a ``password=`` parameter."""
    parts = urlsplit(url)
    if parts.password is not None:
        return True
    return any(key.lower() in _SECRET_PARAMS for key, _ in parse_qsl(parts.query, keep_blank_values=True))


def redact(url: str) -> str:
    """*url* with any password replaced by ``***``; a URL without one is returned unchanged."""
    if not has_password(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = urlencode(
        [
            (key, MASK if key.lower() in _SECRET_PARAMS else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
