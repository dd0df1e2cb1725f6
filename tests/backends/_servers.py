"""Throwaway shared backends on loopback: a PostgreSQL cluster and moto's S3 server.

Used by the backend tests' fixtures (``conftest.py``, ``_s3.py``) and by
``benchmarks/shared_workspace.py``, so both start them the same way; nothing here imports pytest.
A backend that cannot run on this machine raises :class:`BackendUnavailable` (the tests turn it
into a loud skip, the benchmark into an error message).

PostgreSQL: Debian's ``postgresql`` package (``initdb`` into a temporary directory, ``postgres``
on 127.0.0.1 with a free port and password authentication over TCP), run as the ``postgres`` user
when running as root. S3: ``python -m moto.server`` in a process of its own (a deltalake call that
holds the GIL while it waits for the server would otherwise wait forever), with a random secret key.

Both servers run under molops's parent-death guard (``molops/active/oracle_guard.py``, the one
``campaign run`` puts its oracles under): a test session killed with SIGKILL has no teardown, and
without the guard its servers would keep running (``pg_ctl start`` even detaches the postmaster).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _wait import wait_until


class BackendUnavailable(Exception):
    """This machine cannot run the backend (not installed, or no user to run it as)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _guard_script() -> Path:
    """molops's oracle guard, found without importing ``molops.active`` (pandas, RDKit, ...)."""
    spec = importlib.util.find_spec("molops")
    assert spec is not None and spec.origin is not None, "molops is not installed"
    return Path(spec.origin).parent / "active" / "oracle_guard.py"


def start_guarded(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start *argv* under the guard, which dies with this process and takes *argv*'s process
    group with it (SIGKILL); the returned process is the guard, leader of that group, and exits
    as *argv* does. Call it from the thread that lives as long as the server (the main thread):
    the kernel's parent-death signal follows the thread that started the guard."""
    guarded = [sys.executable, "-S", str(_guard_script()), str(os.getpid()), *argv]
    return subprocess.Popen(guarded, start_new_session=True, **popen)


def stop_guarded(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """End a guarded server: SIGTERM to the guard kills its whole group; then reap it."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


# -- PostgreSQL -----------------------------------------------------------------------------------


def pg_bindir() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: ``pg_config --bindir``, else Debian's layout."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")  # Debian's layout, newest first
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)[::-1]
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "postgres").is_file()), None)


@dataclass
class Postgres:
    """A running cluster: superuser ``user`` with ``password`` over TCP on 127.0.0.1:``port``."""

    port: int
    user: str
    password: str
    host: str = "127.0.0.1"
    pid: int = 0  # the postmaster's, so that a test can watch the server itself

    def url(self, database: str, **query: str) -> str:
        """A URL without the password (libpq reads it from PGPASSWORD, see :meth:`env`)."""
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}" + (f"?{tail}" if tail else "")

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password}

    def connect(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            autocommit=True,
        )

    def create_database(self) -> str:
        """A new, empty database; its name."""
        name = f"t_{secrets.token_hex(6)}"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        return name


class _Cluster:
    """initdb + postgres, as the ``postgres`` system user when running as root (Postgres refuses root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_user: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="molops-pg-"))  # short: the socket path is limited
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.dir)
                raise BackendUnavailable(
                    "running as root and there is no 'postgres' user to run PostgreSQL as"
                ) from None
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.owner = (account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, check=False, timeout=120
        )

    def start(self, user: str, password: str) -> tuple[int, int]:
        """initdb, then the postmaster under the guard (not ``pg_ctl start``, whose postmaster
        outlives everything); its port and pid once it accepts connections."""
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
            port = free_port()
            # runuser keeps the process group, so the guard's SIGKILL of the group reaches the
            # postmaster; its children leave on their own when it dies (they watch it).
            argv = [*self.as_user, str(self.bindir / "postgres"), "-D", str(self.data)]
            argv += ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(self.dir)]
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
            with self.log.open("ab") as log:
                self.proc = start_guarded(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            wait_until(lambda: self.proc.poll() is not None or self._ready(), 120, "PostgreSQL to start")
            if self.proc.poll() is None:
                return port, int(self._pidfile()[0])
            last = self.log.read_text(errors="replace")
        raise AssertionError(f"PostgreSQL did not start:\n{last}")

    def _pidfile(self) -> list[str]:
        try:
            return (self.data / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return []

    def _ready(self) -> bool:
        """Whether the postmaster says it accepts connections (its status line, as pg_ctl reads it)."""
        lines = self._pidfile()
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def stop(self) -> None:
        if self.proc is not None:
            pid = self._pidfile()[:1]
            if self.proc.poll() is None and pid:  # an immediate shutdown, which waits for its children
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid[0]), signal.SIGQUIT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=60)
            stop_guarded(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1, stopped and deleted on exit."""
    bindir = pg_bindir()
    if bindir is None:
        raise BackendUnavailable("PostgreSQL not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401 - SQLAlchemy's postgresql:// driver from 2.1 on
    except ImportError:
        raise BackendUnavailable("psycopg not installed (pip install 'molops[postgres]')") from None
    cluster = _Cluster(bindir)
    try:
        user, password = "molops", secrets.token_urlsafe(16)
        port, pid = cluster.start(user, password)
        yield Postgres(port=port, user=user, password=password, pid=pid)
    finally:
        cluster.stop()


# -- S3 (moto) ------------------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    region: str = "us-east-1"
    access_key: str = "molops-test-access"
    secret_key: str = field(default_factory=lambda: "molops-secret-" + secrets.token_hex(12))
    pid: int = 0  # the server's (its guard's child), so that a test can watch it

    def env(self) -> dict[str, str]:
        """The AWS variables every S3 client (deltalake, pyarrow, boto3) reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a free port), terminated on exit."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"no S3-compatible server: {exc.name} is not installed (pip install 'moto[server]')"
        ) from None
    with tempfile.TemporaryFile() as log:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        proc = start_guarded(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: proc.poll() is not None or _answers(port), 60, "moto's server to listen")
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"moto's server exited ({proc.returncode}): {log.read()[-2000:]!r}")
            yield S3Server(endpoint=f"http://127.0.0.1:{port}", pid=_only_child(proc.pid))
        finally:
            stop_guarded(proc)


def _only_child(pid: int) -> int:
    """The process that process *pid* started (the guard starts one)."""
    import psutil

    children = psutil.Process(pid).children()
    assert len(children) == 1, f"process {pid} has children {children}, expected one"
    return int(children[0].pid)
