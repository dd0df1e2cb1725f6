"""A team's workspace on both shared backends: datasets on S3, runs and the registry on Postgres.

Two directories initialised with the same ``--storage s3://…`` and ``--tracking-uri postgresql://…``
and nothing else in common (MLflow's artifacts default to ``{storage}/mlartifacts``): a dataset
ingested and a model trained from A are listed from B, and B predicts with A's model and serves it
over a real socket, its predictions landing in the bucket's prediction log. Every artifact object
was uploaded with server-side encryption, and neither secret (the S3 key, the Postgres password)
appears in any output or file of either directory.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from integration._cli import clean_env, molops, write_csv
from integration.test_serve_cli import serving

from ._s3 import Bucket
from .conftest import Postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "freesolv-expt"


def test_a_model_trained_in_a_is_served_from_b(
    s3: Bucket, postgres: Postgres, pg_database: str, tmp_path: Path
) -> None:
    storage, tracking = s3.url("team"), postgres.url(pg_database)
    env = clean_env(**postgres.env())  # with the AWS variables the s3 fixture set
    a, b = tmp_path / "a", tmp_path / "b"
    outputs = []

    def run(*args: object, ws: Path):
        result = molops(*args, "-w", ws, env=env, timeout=300)
        outputs.append(result)
        return result

    for ws in (a, b):
        outputs.append(molops("init", ws, "--storage", storage, "--tracking-uri", tracking, env=env).ok())
    run("data", "ingest", "--builtin", "freesolv", "--json", ws=a).json()
    trained = run(
        "train", "-d", "freesolv", "-m", "rf", "--params", '{"n_estimators": 10}', "--json", ws=a
    ).json()
    assert (trained["model_version"], trained["alias"]) == (1, "champion")

    datasets = run("data", "list", "--json", ws=b).json()["datasets"]
    assert [(d["name"], d["latest_version"]) for d in datasets] == [("freesolv", 1)]
    models = run("models", "list", "--json", ws=b).json()["models"]
    assert [(m["name"], m["aliases"]) for m in models] == [(NAME, {"champion": 1})]
    lineage = run("models", "lineage", NAME, "1", "--json", ws=b).json()
    assert (lineage["dataset"], lineage["dataset_version"]) == ("freesolv", 1)

    src = write_csv(tmp_path / "in.csv", ["smiles"], [["CCO"], ["c1ccccc1O"]])
    predicted = run("predict", "-m", NAME, src, tmp_path / "out.csv", "--json", ws=b).json()
    assert (predicted["predicted"], predicted["model_version"]) == (2, 1)

    with serving(b, tmp_path, env=postgres.env()) as server:
        response = httpx.post(server.url + "/v1/predict", json={"smiles": ["CCO", "CCN"]}, timeout=60)
        assert response.status_code == 200, response.text
        served = response.json()
        server.stop()
    served_logs = server.stdout.read_text() + server.stderr.read_text()
    assert [(r["smiles"], r["model_version"]) for r in served["results"]] == [("CCO", 1), ("CCN", 1)]
    assert all(r["mean"] is not None for r in served["results"]), served

    keys = s3.keys("team/")
    artifacts = [k for k in keys if k.startswith("team/mlartifacts/")]
    assert any(k.endswith("MLmodel") for k in artifacts), keys
    for key in artifacts:
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key
    assert any(k.startswith("team/datasets/freesolv/table/_delta_log/") for k in keys), keys
    assert any(k.startswith("team/predictions/") for k in keys), keys
    assert not (a / "mlartifacts").exists() and not (b / "mlartifacts").exists()
    assert not (a / "datasets").exists() and not (a / "mlflow.db").exists() and not (b / "mlflow.db").exists()
    for secret in (s3.server.secret_key, postgres.password):
        for result in outputs:
            assert secret not in result.stdout + result.stderr, str(result)
        assert secret not in served_logs
        for path in [*a.rglob("*"), *b.rglob("*")]:
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
