"""Real shared backends for the backend tests, started on loopback by the tests themselves.

``postgres``: a throwaway PostgreSQL cluster (``_servers.postgres_cluster``, shared with the
benchmarks: Debian's ``postgresql`` package, ``initdb`` into a temporary directory, ``pg_ctl`` on
127.0.0.1 with a free port and password authentication over TCP), one per test session;
``pg_database`` is a fresh database in it per test.

Without the server binaries or the driver the backend tests are skipped, and the run ends with a
loud line saying so; under ``MOLOPS_REQUIRE_BACKENDS=1`` (set by ``.ci/run``) a missing backend is a
failure instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from _loud_skip import LoudSkip

from ._s3 import s3, s3_server  # noqa: F401 - the object-store fixtures (issue 15)
from ._servers import BackendUnavailable, Postgres, postgres_cluster

BACKENDS = LoudSkip("BACKEND UNAVAILABLE: ", "BACKEND TESTS SKIPPED")
unavailable = BACKENDS.unavailable


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    BACKENDS.summary(terminalreporter)


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster on 127.0.0.1 for this session (each xdist worker starts its own)."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except BackendUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def pg_database(postgres: Postgres) -> Iterator[str]:
    """A new, empty database for one test; its name."""
    name = postgres.create_database()
    yield name
    with contextlib.closing(postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
