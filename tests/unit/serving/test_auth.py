"""API keys (hashed, with roles) and the rule that an unauthenticated service stays on loopback."""

from __future__ import annotations

import pytest
from fastapi.security import HTTPAuthorizationCredentials
from hypothesis import given
from hypothesis import strategies as st

from molops.config import ApiKey, ServeSection
from molops.serving.auth import ANONYMOUS, KeyRing, hash_key, is_loopback, new_key, presented_key
from molops.serving.server import ServeError, check_exposure


def test_keys_are_random_and_matched_by_hash():
    key = new_key()
    assert key.startswith("mk_") and len(key) > 40 and new_key() != key
    ring = KeyRing([ApiKey(name="lab", role="read", hash=hash_key(key))])
    assert ring.enabled
    caller = ring.caller(key)
    assert caller is not None and (caller.name, caller.role) == ("lab", "read")
    assert ring.caller(key + "x") is None and ring.caller(None) is None and ring.caller("") is None


def test_roles_are_ordered():
    admin, reader = KeyRing([]).caller("anything"), ApiKey(name="r", role="read", hash=hash_key("k"))
    assert admin is ANONYMOUS and KeyRing.allows(admin, "admin")
    read = KeyRing([reader]).caller("k")
    assert KeyRing.allows(read, "read") and not KeyRing.allows(read, "admin")


def test_header_forms():
    bearer = HTTPAuthorizationCredentials(scheme="bearer", credentials="abc ")
    assert presented_key(None, bearer) == "abc"
    assert presented_key(" xyz ", None) == "xyz"
    assert presented_key("xyz", bearer) == "xyz"  # X-API-Key wins
    assert presented_key(None, None) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.org", "192.168.1.2"])
def test_not_loopback(host):
    assert not is_loopback(host)


def test_exposure_rules():
    none, some = KeyRing([]), KeyRing([ApiKey(name="a", hash=hash_key("k"))])
    assert "without authentication" in check_exposure("127.0.0.1", none, insecure=False)
    with pytest.raises(ServeError, match=r"refusing to serve on 0\.0\.0\.0 without API keys"):
        check_exposure("0.0.0.0", none, insecure=False)
    assert "WITHOUT authentication" in check_exposure("0.0.0.0", none, insecure=True)
    assert check_exposure("0.0.0.0", some, insecure=False) is None


def test_config_keys_must_be_hashes():
    with pytest.raises(ValueError, match="hash"):
        ServeSection(keys=[{"name": "a", "role": "read", "hash": "plaintext"}])
    with pytest.raises(ValueError, match="role"):
        ServeSection(keys=[{"name": "a", "role": "root", "hash": hash_key("k")}])


@given(st.text(min_size=1, max_size=80))
def test_any_key_hashes_to_the_config_pattern(key):
    ServeSection(keys=[{"name": "a", "hash": hash_key(key)}])
