"""MLflow's artifacts on the object store: where they go by default, and their encryption.

In process, against moto's S3 server on loopback (the two-directory, train-here-serve-there test
is in ``test_postgres_s3.py``): a workspace whose tables are on S3 keeps its artifacts beside them,
an explicit ``[tracking] artifacts`` wins, and every artifact is uploaded with server-side
encryption under the workspace's KMS key, keeping extra upload arguments the user set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from molops.tracking.store import UPLOAD_ARGS_VAR, Tracking, TrackingError, artifact_root, request_encryption
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def _restore_upload_args(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracking sets MLflow's upload variable in this process: put it back as it was afterwards."""
    monkeypatch.delenv(UPLOAD_ARGS_VAR, raising=False)


def test_artifacts_default_beside_the_tables_on_s3(s3: Bucket, tmp_path: Path, monkeypatch) -> None:
    ws = Workspace.init(tmp_path / "ws", storage=s3.url("team"))
    assert artifact_root(ws) == s3.url("team/mlartifacts")
    monkeypatch.setenv("MOLOPS_TRACKING__ARTIFACTS", s3.url("elsewhere/art/"))
    assert artifact_root(Workspace.open(ws.root)) == s3.url("elsewhere/art")
    local = Workspace.init(tmp_path / "local")
    monkeypatch.delenv("MOLOPS_TRACKING__ARTIFACTS")
    assert artifact_root(Workspace.open(local.root)) == (local.root / "mlartifacts").as_uri()


def test_artifacts_are_encrypted_with_the_workspace_kms_key(s3: Bucket, tmp_path: Path, monkeypatch) -> None:
    import boto3

    kms = boto3.client("kms", endpoint_url=s3.server.endpoint, region_name=s3.server.region)
    key_id = kms.create_key(Description="molops artifacts")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("MOLOPS_STORAGE__KMS_KEY_ID", key_id)
    monkeypatch.setenv(UPLOAD_ARGS_VAR, json.dumps({"ContentDisposition": "inline"}))  # the user's own
    ws = Workspace.init(tmp_path / "ws", storage=s3.url("kms"))
    tracking = Tracking.of(ws)
    assert tracking.artifacts == s3.url("kms/mlartifacts")
    run = tracking.client.create_run(tracking.experiment("artifacts-test"))
    src = tmp_path / "note.txt"
    src.write_text("a small artifact\n")
    tracking.client.log_artifact(run.info.run_id, str(src))

    keys = [k for k in s3.keys("kms/mlartifacts/") if k.endswith("/note.txt")]
    assert len(keys) == 1, s3.keys("kms/")
    head = s3.head(keys[0])
    assert head.get("ServerSideEncryption") == "aws:kms", head
    assert key_id in head.get("SSEKMSKeyId", ""), head
    assert head.get("ContentDisposition") == "inline", head


def test_encryption_without_a_key_is_aes256_and_drops_a_stale_key(monkeypatch) -> None:
    monkeypatch.setenv(UPLOAD_ARGS_VAR, json.dumps({"SSEKMSKeyId": "old", "ACL": "private"}))
    request_encryption("")
    assert json.loads(os.environ[UPLOAD_ARGS_VAR]) == {"ACL": "private", "ServerSideEncryption": "AES256"}


@pytest.mark.parametrize("value", ["{not json", "[1, 2]"])
def test_a_malformed_upload_variable_is_one_clear_error(monkeypatch, value: str) -> None:
    monkeypatch.setenv(UPLOAD_ARGS_VAR, value)
    with pytest.raises(TrackingError, match=f"^{UPLOAD_ARGS_VAR} is not a JSON object; expected e.g."):
        request_encryption("key-1")
