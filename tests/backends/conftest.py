"""Real shared backends for the backend tests, started on loopback by the tests themselves.

``postgres``: a throwaway PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` into a
temporary directory, ``pg_ctl`` on 127.0.0.1 with a free port and password authentication over
TCP), one per test session; ``pg_database`` is a fresh database in it per test.

Without the server binaries or the driver the backend tests are skipped, and the run ends with a
loud line saying so; under ``MOLOPS_REQUIRE_BACKENDS=1`` (set by ``.ci/run``) a missing backend is a
failure instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._s3 import s3, s3_server  # noqa: F401 - the object-store fixtures (issue 15)

#: Read once at import: the suite's autouse fixture removes MOLOPS_* variables inside each test.
REQUIRED = os.environ.get("MOLOPS_REQUIRE_BACKENDS", "") not in ("", "0")
#: Skip reasons of unavailable backends start with this, so the summary can find them (also from
#: xdist workers, whose reports reach the controller but whose module state does not).
PREFIX = "BACKEND UNAVAILABLE: "


def unavailable(what: str) -> None:
    """Skip the test because a backend is missing, or fail it when backends are required."""
    if REQUIRED:
        pytest.fail(f"{PREFIX}{what} (MOLOPS_REQUIRE_BACKENDS is set, so this is an error)", pytrace=False)
    pytest.skip(f"{PREFIX}{what}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if PREFIX in reason:
            what = reason.split(PREFIX, 1)[1]
            reasons[what] = reasons.get(what, 0) + 1
    for what, n in sorted(reasons.items()):
        terminalreporter.write_line(
            f"BACKEND TESTS SKIPPED ({n}): {what}; CI runs them (MOLOPS_REQUIRE_BACKENDS=1)",
            red=True,
            bold=True,
        )


# -- PostgreSQL -----------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else Debian's layout."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")  # Debian's layout, newest first
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)[::-1]
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """A running cluster: superuser ``user`` with ``password`` over TCP on 127.0.0.1:``port``."""

    port: int
    user: str
    password: str
    host: str = "127.0.0.1"

    def url(self, database: str, **query: str) -> str:
        """A URL without the password (libpq reads it from PGPASSWORD, see :meth:`env`)."""
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}" + (f"?{tail}" if tail else "")

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password}

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            autocommit=True,
        )


class _Cluster:
    """initdb + pg_ctl, as the ``postgres`` system user when running as root (Postgres refuses root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_user: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="molops-pg-"))  # short: the socket path is limited
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.dir)
                unavailable("running as root and there is no 'postgres' user to run PostgreSQL as")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.owner = (account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, check=False, timeout=120
        )

    def start(self, user: str, password: str) -> int:
        pwfile = self.dir / "pwfile"
        pwfile.write_text(password + "\n")
        if self.as_user:
            os.chown(pwfile, *self.owner)
        init = self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        last = ""
        for _ in range(3):  # a free port can be taken between choosing it and binding it
            port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            started = self.run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "start",
            )
            if started.returncode == 0:
                return port
            last = self.log.read_text() if self.log.exists() else started.stderr
        raise AssertionError(f"PostgreSQL did not start:\n{last}")

    def stop(self) -> None:
        if self.data.exists():
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1 for this session (each xdist worker starts its own)."""
    bindir = _pg_bindir()
    if bindir is None:
        unavailable("PostgreSQL not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401 - SQLAlchemy's postgresql:// driver from 2.1 on
    except ImportError:
        unavailable("psycopg not installed (pip install 'molops[postgres]')")
    assert bindir is not None
    cluster = _Cluster(bindir)
    try:
        user, password = "molops", secrets.token_urlsafe(16)
        yield Postgres(port=cluster.start(user, password), user=user, password=password)
    finally:
        cluster.stop()


@pytest.fixture
def pg_database(postgres: Postgres) -> Iterator[str]:
    """A new, empty database for one test; its name."""
    name = f"t_{secrets.token_hex(6)}"
    with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield name
    with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
