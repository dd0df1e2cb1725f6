"""The workspace's tracking store: where runs, artifacts and registered models live.

By default a SQLite database (``mlflow.db``) and an artifact folder (``mlartifacts/``) inside the
workspace, so a laptop needs no server; ``[tracking] uri`` (or ``MOLOPS_TRACKING__URI``) points
at any MLflow tracking server instead, e.g. one backed by Postgres and object storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from molops.tracking._mlflow import ARTIFACTS_DIR, DB_FILE, Quiet, client, local_uri, mlflow
from molops.workspace import Workspace


@dataclass
class Tracking:
    """An MLflow tracking URI, where new experiments put their artifacts, and a client."""

    uri: str
    artifacts: str

    @classmethod
    def of(cls, ws: Workspace) -> Tracking:
        cfg = ws.config.tracking
        uri = cfg.uri or local_uri(ws.root / DB_FILE)
        artifacts = cfg.artifacts or (ws.root / ARTIFACTS_DIR).resolve().as_uri()
        return cls(uri, artifacts)

    def __post_init__(self) -> None:
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
