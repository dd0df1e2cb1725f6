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
import os
from collections.abc import Iterator

import pytest

from ._s3 import s3, s3_server  # noqa: F401 - the object-store fixtures (issue 15)
from ._servers import BackendUnavailable, Postgres, postgres_cluster

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
