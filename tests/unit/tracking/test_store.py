"""``init --tracking-uri``'s checks and the line it writes, and where tuning studies go (no server)."""

from __future__ import annotations

import tomllib

import pytest

from molops.errors import UsageError
from molops.tracking.store import check_uri, study_storage, use_uri
from molops.workspace import Workspace


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://bob@db.lab:5432/molops?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        "postgresql+psycopg://bob@db.lab/molops",
        "http://mlflow:5000",
    ],
)
def test_uri_is_written_into_the_tracking_section(tmp_path, uri):
    ws = use_uri(Workspace.init(tmp_path / "ws"), uri)
    assert ws.config.tracking.uri == uri
    text = (ws.root / "molops.toml").read_text()
    assert tomllib.loads(text)["tracking"]["uri"] == uri
    assert "# MLflow tracking URI" in text  # the comments stay


@pytest.mark.parametrize(
    "uri", ["postgresql://bob:hunter2@db/ml", "postgresql://bob@db/ml?password=hunter2", "http://a:hunter2@h"]
)
def test_a_password_is_refused_and_not_repeated(uri):
    with pytest.raises(UsageError, match="PGPASSWORD or a PGPASSFILE") as info:
        check_uri(uri)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("uri", ["db.lab/molops", "s3://bucket/x", ""])
def test_not_a_store_uri_is_refused(uri):
    with pytest.raises(UsageError, match="not an MLflow store URI"):
        check_uri(uri)


def test_tuning_studies_stay_in_the_workspace_without_postgres(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    assert study_storage(ws) == f"sqlite:///{ws.root / '.molops' / 'optuna.db'}"
