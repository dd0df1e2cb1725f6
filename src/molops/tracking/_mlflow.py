"""MLflow, imported once and quietly, and pointed at the workspace's tracking store.

MLflow is a heavy import (1–2 s) that warns at import time and logs at INFO to stderr, so it is
imported here, lazily, with its import-time warnings silenced and its loggers turned down; the
CLI's fast commands never pay for it. Every other module asks this one for ``mlflow`` and a client.
"""

from __future__ import annotations

import logging
import os
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from molops.errors import MolopsError

if TYPE_CHECKING:  # sqlalchemy is imported where a database is opened, not with this module
    from sqlalchemy.engine import URL

#: The database file of the default tracking store, and the default artifact folder.
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


class TrackingError(MolopsError):
    """The tracking store or model registry cannot be reached or does not hold what was asked."""

    exit_code = 2


@cache
def mlflow() -> ModuleType:
    """The ``mlflow`` module, imported quietly (once per process)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    with warnings.catch_warnings():
        # MLflow warns at import about type hints of its own GenAI classes, and SQLAlchemy about
        # loader options MLflow uses; neither concerns molops models.
        warnings.simplefilter("ignore")
        import mlflow as module
        from mlflow.store.tracking import sqlalchemy_store  # noqa: F401
    # not mlflow.pyfunc: only logging and loading a model need it (``module.pyfunc`` imports it on
    # first use, inside ``Quiet``); registry reads such as ``molops models list`` do without
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # psycopg warns "error ignored terminating <Pipeline>" when an insert MLflow expects may fail (a
    # metric row logged twice: its log_metrics catches the IntegrityError and inserts the new rows
    # alone) aborts SQLAlchemy's pipelined batch; errors themselves still raise where they occur
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    return module


class Quiet:
    """``with Quiet(): ...`` around MLflow calls: their internal warnings and chatter are dropped.

    MLflow emits warnings from inside its calls (SQLAlchemy deprecations, pydantic notices) and
    prints event lines ("Successfully registered model …") that a user cannot act on and that molops
    reports in its own words; errors still raise. molops's own code never runs inside this context.
    """

    def __enter__(self) -> None:
        mlflow()  # imported quietly first
        from mlflow.utils import logging_utils

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")
        self._stream = logging_utils.MLFLOW_LOGGING_STREAM
        self._enabled = self._stream.enabled
        self._stream.enabled = False

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stream.enabled = self._enabled
        self._ctx.__exit__(kind, exc, tb)


def local_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


#: SQLAlchemy URL schemes of database stores that are reached over a network (SQLite is a file).
SERVER_DATABASES = ("postgresql", "mysql", "mssql")
#: libpq's (and MySQL drivers') connect timeout, in seconds, unless the URI sets one: a command
#: should fail in seconds, not after the operating system gives up on a host that drops packets.
CONNECT_TIMEOUT_S = 5


def connect_args(url: URL) -> dict[str, Any]:
    """Driver arguments for every connection molops itself opens to the tracking database *url*
    (a SQLAlchemy URL): :data:`CONNECT_TIMEOUT_S` unless the URI, or for Postgres
    ``PGCONNECT_TIMEOUT`` (which libpq and psycopg read), already sets a timeout."""
    backend = url.get_backend_name()
    if backend not in ("postgresql", "mysql") or "connect_timeout" in url.query:
        return {}
    if backend == "postgresql" and os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT_S}


def engine_for(uri: str, url: URL, named: str) -> Any:
    """A connection-per-use SQLAlchemy engine for the tracking database *url*, with
    :func:`connect_args`; a missing driver is a sentence that calls *uri* *named*."""
    import sqlalchemy as sa

    from molops.redact import redact

    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args(url))
    except ModuleNotFoundError as exc:
        raise TrackingError(
            f"{named} {redact(uri)} needs the database driver {exc.name!r}, which is not "
            "installed; install it with pip install 'molops[postgres]'"
        ) from None


def db_reason(exc: Exception) -> str:
    """A database error's cause on one line: the driver's message when SQLAlchemy wraps one."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


@cache
def check_database(uri: str) -> None:
    """Connect once to a database store, so that one that cannot be reached is one clear sentence.

    MLflow retries a failed connection for about 100 s and then raises a traceback; a missing driver
    is a bare ``ModuleNotFoundError``. Checked once per URI and process (cached when it succeeds).
    """
    if not uri.split("://", 1)[0].startswith(SERVER_DATABASES):
        return
    import sqlalchemy as sa

    from molops.redact import redact

    engine = engine_for(uri, sa.engine.make_url(uri), "the tracking URI")
    try:
        with engine.connect() as conn:
            if uri.startswith("postgresql"):
                # MLflow creates its tables on a store's first use; two processes doing that at once
                # on a new database collide (a duplicate alembic_version table). The first to take
                # this lock creates them, the others wait and find them made.
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK})
                _open_stores(uri)
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK})
    except sa.exc.SQLAlchemyError as exc:
        reason = db_reason(exc)
        raise TrackingError(f"cannot connect to the tracking database {redact(uri)}: {reason}") from None
    finally:
        engine.dispose()


#: The Postgres advisory-lock key (any fixed 64-bit number) held while MLflow's tables are made.
_SCHEMA_LOCK = 0x6D6F6C6F7073


def _open_stores(uri: str) -> None:
    """Open MLflow's tracking and registry stores of *uri*, which creates their tables if missing."""
    mod = mlflow()
    with Quiet():
        store = mod.MlflowClient(tracking_uri=uri, registry_uri=uri)
        store.search_experiments(max_results=1)
        store.search_registered_models(max_results=1)


def client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for *tracking_uri* (whose registry is the same store)."""
    check_database(tracking_uri)
    mod = mlflow()
    with Quiet():
        return mod.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
