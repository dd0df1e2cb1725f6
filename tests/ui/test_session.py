"""The session cookie and CSRF tokens, and `molops ui` itself: it refuses to expose a keyless app, and
serves the pages until interrupted."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys

import httpx

from _wait import wait_until
from molops import Workspace
from molops.ui.session import SECRET_FILE, csrf_ok, csrf_token, load_secret, sign_key, unsign_key


def test_the_secret_is_made_once_private_and_kept(tmp_path):
    secret = load_secret(tmp_path)
    assert len(secret) == 32 and load_secret(tmp_path) == secret
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert not list((tmp_path / SECRET_FILE).parent.glob("*.tmp-*"))


def test_a_cookie_carries_its_key_and_a_changed_one_carries_nothing(tmp_path):
    secret = load_secret(tmp_path)
    cookie = sign_key(secret, "mk_abc")
    assert unsign_key(secret, cookie) == "mk_abc"
    payload, mac = cookie.rsplit(".", 1)
    assert unsign_key(secret, sign_key(secret, "mk_abd").rsplit(".", 1)[0] + "." + mac) is None
    assert unsign_key(b"another secret", cookie) is None
    assert unsign_key(secret, payload) is None and unsign_key(secret, None) is None


def test_a_csrf_token_belongs_to_one_session(tmp_path):
    secret = load_secret(tmp_path)
    one, two = sign_key(secret, "mk_one"), sign_key(secret, "mk_two")
    assert csrf_ok(secret, one, csrf_token(secret, one))
    assert not csrf_ok(secret, two, csrf_token(secret, one))
    assert not csrf_ok(secret, one, "") and not csrf_ok(secret, None, csrf_token(secret, one))


def test_molops_ui_refuses_a_public_address_without_keys(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    cli = [sys.executable, "-m", "molops.cli.main", "--workspace", str(ws.root), "ui", "--host", "0.0.0.0"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0 without API keys" in done.stderr


def test_molops_ui_serves_the_pages_until_interrupted(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli = [sys.executable, "-m", "molops.cli.main", "--workspace", str(ws.root), "ui", "--port", str(port)]
    process = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:

        def index() -> httpx.Response | None:
            assert process.poll() is None, process.communicate()[1]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ui/", timeout=5)
            except httpx.TransportError:
                return None

        page = wait_until(index, 120, "molops ui to answer")
        assert page.status_code == 200 and "anonymous (read-only)" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert "read-only: nobody can log in" in stderr and f"http://127.0.0.1:{port}/ui/" in stderr
