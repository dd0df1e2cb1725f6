"""The workspace's tracking store: where runs, artifacts and registered models live.

By default a SQLite database (``mlflow.db``) and an artifact folder (``mlartifacts/``) inside the
workspace, so a laptop needs no server; ``[tracking] uri`` (or ``MOLOPS_TRACKING__URI``) points
at any MLflow store instead: a ``postgresql://`` database that several workspaces share (a team's
workspace; ``molops init --tracking-uri``), or an MLflow tracking server.

A Postgres password is never part of the URI molops stores: libpq reads it from ``PGPASSWORD`` or
``PGPASSFILE``, and TLS settings (``?sslmode=verify-full&sslrootcert=...``) pass through to it.

Artifacts (model bundles, plots) go to ``[tracking] artifacts``; when that is empty and the tables
are on an object store (``[storage] uri = "s3://…"``), to ``{storage}/mlartifacts``, so that every
workspace sharing the bucket and the database reads the same models with no shared folder. MLflow's
S3 repository (boto3) reads the endpoint, region and credentials from the standard AWS variables
(boto3 honours ``AWS_ENDPOINT_URL``, so ``MLFLOW_S3_ENDPOINT_URL`` is not needed); molops only asks
for server-side encryption on every upload, with the workspace's KMS key when one is set.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from molops.config import CONFIG_FILE
from molops.errors import UsageError
from molops.redact import has_password, redact
from molops.tracking._mlflow import (
    ARTIFACTS_DIR,
    DB_FILE,
    SERVER_DATABASES,
    Quiet,
    TrackingError,
    client,
    db_reason,
    engine_for,
    local_uri,
    mlflow,
)
from molops.workspace import Workspace

#: The Postgres schema Optuna's study tables live in, beside MLflow's tables (in ``public``): both
#: keep an ``alembic_version`` table, so they cannot share one schema.
OPTUNA_SCHEMA = "optuna"
_SCHEMES = ("postgresql", "sqlite", "mysql", "mssql", "http", "https", "file", "databricks")


def is_postgres(uri: str) -> bool:
    return uri.split("://", 1)[0].startswith("postgresql")


def check_uri(uri: str) -> str:
    """*uri*, if it may be written to ``molops.toml``: an MLflow store URI that holds no password."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""  # postgresql+psycopg too
    if scheme not in _SCHEMES:
        raise UsageError(
            f"--tracking-uri {redact(uri)!r} is not an MLflow store URI; expected e.g. "
            "postgresql://USER@HOST:PORT/DB or http://HOST:PORT"
        )
    if has_password(uri):
        raise UsageError(
            f"--tracking-uri {redact(uri)!r} contains a password, which would be stored in molops.toml; "
            "give it in PGPASSWORD or a PGPASSFILE instead"
        )
    return uri


def check_reachable(uri: str, directory: Path) -> None:
    """Fail with one sentence when the tracking store *uri* cannot be used from this machine.

    What ``init`` checks before it writes anything, as it checks ``--storage``: a database server
    must accept a connection (host, port, user, password, database name); a SQLite file must be
    creatable in an existing, writable folder (or *directory*, the workspace ``init`` is about to
    make). MLflow servers and other stores are not contacted.
    """
    import sqlalchemy as sa

    scheme = uri.split("://", 1)[0].split("+", 1)[0]
    if scheme != "sqlite" and scheme not in SERVER_DATABASES:
        return
    try:
        url = sa.engine.make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise UsageError(f"--tracking-uri {redact(uri)!r} is not a valid database URL ({exc})") from None
    if scheme == "sqlite":
        _check_sqlite(uri, url.database, url.query, directory)
    else:
        _check_server(uri, url)


def _check_server(uri: str, url: Any) -> None:
    import sqlalchemy as sa

    engine = engine_for(uri, url, "--tracking-uri")  # every command's connect timeout: init is as quick
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise TrackingError(
            f"--tracking-uri {redact(uri)!r}: the database does not answer ({db_reason(exc)}); check "
            "the host, port, user, database name and the password in PGPASSWORD or PGPASSFILE"
        ) from None
    finally:
        engine.dispose()


def _check_sqlite(uri: str, database: str | None, query: Any, directory: Path) -> None:
    if not database or database == ":memory:":
        raise UsageError(
            f"--tracking-uri {uri!r} is an in-memory database, which keeps no run past the command; "
            "give a file, e.g. sqlite:////srv/molops/mlflow.db"
        )
    if query.get("uri"):  # a sqlite3 URI filename (file:...?mode=...): SQLite itself interprets it
        return
    path = Path(database)
    if not path.is_absolute():
        raise UsageError(
            f"--tracking-uri {uri!r} is relative to the current directory, so each command would use "
            "another file; give an absolute path, e.g. sqlite:////srv/molops/mlflow.db"
        )
    folder = path.parent
    if folder.resolve() == directory.resolve() and not folder.exists():
        return  # the workspace directory that init creates
    if not folder.is_dir():
        raise UsageError(f"--tracking-uri {uri!r}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--tracking-uri {uri!r}: folder {folder} is not writable by this user")
    if not path.exists():
        return
    if not path.is_file() or not os.access(path, os.R_OK | os.W_OK):
        raise UsageError(f"--tracking-uri {uri!r}: {path} is not a file this user can read and write")
    import sqlite3

    try:  # an existing file must be a database: MLflow's first command would fail on it otherwise
        with contextlib.closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"--tracking-uri {uri!r}: {path} is not a SQLite database ({exc})") from None


def write_uri(config_path: Path, uri: str) -> None:
    """Set ``[tracking] uri`` in the ``molops.toml`` that ``molops init`` just wrote.

    A line edit rather than a TOML rewrite, so the file keeps its comments."""
    text = config_path.read_text(encoding="utf-8")
    section = re.search(r"(?ms)^\[tracking\]\n.*?(?=^\[|\Z)", text)
    line = re.compile(r'(?m)^uri = ""$')
    if section is None or not line.search(section.group()):
        raise UsageError(f"{config_path}: no [tracking] uri line to set; add uri = {_toml_string(uri)} there")
    body = line.sub(lambda _: f"uri = {_toml_string(uri)}", section.group(), count=1)
    config_path.write_text(text[: section.start()] + body + text[section.end() :], encoding="utf-8")


def use_uri(ws: Workspace, uri: str) -> Workspace:
    """*ws*, a workspace just made by ``molops init``, with its tracking store set to *uri*."""
    write_uri(ws.root / CONFIG_FILE, check_uri(uri))
    return Workspace.open(ws.root)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def study_storage(ws: Workspace) -> str:
    """Where ``train --tune`` keeps its Optuna studies: the tracking database when that is Postgres
    (in schema ``optuna``, so every workspace sharing it resumes the same studies), else a SQLite
    file in the workspace."""
    uri = ws.config.tracking.uri
    if uri and is_postgres(uri):
        return _postgres_schema(uri, OPTUNA_SCHEMA)
    path = ws.root / ".molops" / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _postgres_schema(uri: str, schema: str) -> str:
    """*uri* with its connections' ``search_path`` set to *schema*, where Optuna's tables are made if
    needed: under an advisory lock, since two first tunings at once would collide making them."""
    import sqlalchemy as sa

    url = sa.engine.make_url(uri)
    options = " ".join(filter(None, [str(url.query.get("options", "")), f"-csearch_path={schema}"]))
    storage = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    engine = engine_for(uri, url, "the tracking URI")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _STUDY_LOCK})
            # looked up first: a user without CREATE on the database can use a schema an admin made
            exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
            if exists.first() is None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                conn.commit()
            import optuna

            made = optuna.storages.RDBStorage(storage, engine_kwargs={"poolclass": sa.pool.NullPool})
            made.engine.dispose()  # it created the tables if they were missing; tuning opens its own
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _STUDY_LOCK})
    except sa.exc.SQLAlchemyError as exc:
        raise TrackingError(
            f"cannot prepare schema {schema!r} for tuning studies in {redact(uri)}: {db_reason(exc)}"
        ) from None
    finally:
        engine.dispose()
    return storage


#: The Postgres advisory-lock key (a fixed 64-bit number) held while Optuna's tables are made.
_STUDY_LOCK = 0x6D6F6C6F7074


#: URL schemes MLflow's S3 artifact repository serves (boto3).
_S3_SCHEMES = ("s3", "s3a", "s3n")
#: MLflow's variable of extra arguments to every S3 upload (a JSON object, given to boto3).
UPLOAD_ARGS_VAR = "MLFLOW_S3_UPLOAD_EXTRA_ARGS"


def artifact_root(ws: Workspace) -> str:
    """Where new experiments keep their artifacts: ``[tracking] artifacts``; else, for a workspace
    whose tables are on S3 (or GCS), ``mlartifacts`` beside them there (a team's workspaces then
    share the models they log); else ``mlartifacts/`` in the workspace directory (Azure: MLflow
    names it ``wasbs://``, so give ``[tracking] artifacts``)."""
    if ws.config.tracking.artifacts:
        return ws.config.tracking.artifacts.rstrip("/")
    storage = ws.storage
    if storage.scheme in _S3_SCHEMES or storage.scheme == "gs":  # az:// is no MLflow artifact URI
        return storage.uri(ARTIFACTS_DIR)
    return (ws.root / ARTIFACTS_DIR).resolve().as_uri()


def request_encryption(kms_key_id: str) -> None:
    """Ask MLflow to request server-side encryption on every artifact it uploads to S3.

    Through ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` in this process's environment (MLflow reads it at each
    upload); extra arguments the user set there (an ACL, say) are kept. Only the key *id* goes
    there, which is not a secret.
    """
    sse: dict[str, str] = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        if kms_key_id
        else {"ServerSideEncryption": "AES256"}
    )
    current = os.environ.get(UPLOAD_ARGS_VAR, "")
    try:
        extra = json.loads(current) if current else {}
    except json.JSONDecodeError:
        extra = None
    if not isinstance(extra, dict):
        raise TrackingError(
            f"{UPLOAD_ARGS_VAR} is not a JSON object; expected e.g. "
            '{"ACL": "bucket-owner-full-control"}, or unset it'
        )
    if not kms_key_id:
        extra.pop("SSEKMSKeyId", None)
    extra.update(sse)
    os.environ[UPLOAD_ARGS_VAR] = json.dumps(extra, sort_keys=True)


@dataclass
class Tracking:
    """An MLflow tracking URI, where new experiments put their artifacts, and a client."""

    uri: str
    artifacts: str
    #: SSE-KMS key id for artifacts uploaded to S3; empty: SSE-S3 (AES256).
    kms_key_id: str = ""

    @classmethod
    def of(cls, ws: Workspace) -> Tracking:
        cfg = ws.config.tracking
        uri = cfg.uri or local_uri(ws.root / DB_FILE)
        return cls(uri, artifact_root(ws), ws.config.storage.kms_key_id)

    def __post_init__(self) -> None:
        if self.artifacts.split("://", 1)[0].lower() in _S3_SCHEMES:
            if importlib.util.find_spec("boto3") is None:  # MLflow's S3 repository would fail mid-run
                raise TrackingError(
                    f"the artifact root {self.artifacts} is on S3, which needs boto3; install it with "
                    "pip install 'molops[s3]'"
                )
            request_encryption(self.kms_key_id)
        mod = mlflow()
        with Quiet():
            mod.set_tracking_uri(self.uri)
            mod.set_registry_uri(self.uri)
        self.client = client(self.uri)

    def experiment(self, name: str, target: str | None = None) -> str:
        """The id of experiment *name*, created (with this store's artifact root) if needed."""
        with Quiet():
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            tags = {"molops.target": target} if target else None
            return str(
                self.client.create_experiment(name, artifact_location=f"{self.artifacts}/{name}", tags=tags)
            )

    @staticmethod
    def signature() -> Any:
        """Output: the prediction table's columns. No input schema: MLflow would refuse a ``SMILES``
        or ``Smiles`` column before the model, which finds the column in any case, sees it."""
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        from molops.tracking.bundle import PREDICTION_COLUMNS  # the model zoo: only when logging

        types = {"mean": "double", "std": "double", "similarity": "double", "in_domain": "boolean"}
        outputs = Schema([ColSpec(types.get(c, "string"), c, required=False) for c in PREDICTION_COLUMNS])
        return ModelSignature(outputs=outputs)
