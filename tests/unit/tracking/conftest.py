"""A small fitted bundle (no MLflow) and one tracked workspace with trained versions, shared by the
tracking tests.

Training through MLflow costs a few seconds the first time in a process (importing MLflow, creating
the SQLite store) and about a second per run after that, so every test that needs tracked runs
shares one ``tracked`` workspace, built once per run for all xdist workers. Tests that move aliases
work on a copy of its database (``registry`` fixture).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _env import restored_env
from molops import Workspace
from molops.chem.standardize import Rejected, Standardizer
from molops.config import IngestSection
from molops.data.builtin import BUILTINS
from molops.data.ingest import standardizer_settings
from molops.features import get_featurizer
from molops.models import get_model
from molops.models.reference import TrainingReference
from molops.models.transforms import TargetTransform
from molops.tracking.bundle import BundleInfo, ModelBundle, settings_to_dict

#: The featurizer of the small bundle (the training default).
SPEC = "morgan:counts=true"
#: FreeSolv rows in the tracked workspace's dataset: version 1, then version 2 adds the rest.
V1_ROWS, V2_ROWS = 50, 70
#: Quick model settings for tracked training runs.
QUICK = {"n_estimators": 10, "n_jobs": 1}


@cache
def freesolv() -> pd.DataFrame:
    return pd.read_csv(BUILTINS["freesolv"].path())


@cache
def small_bundle() -> ModelBundle:
    """A 20-tree forest on the first 100 FreeSolv molecules the standardiser accepts; do not mutate."""
    settings = standardizer_settings(IngestSection())
    std = Standardizer(settings)
    parents, keys, y = [], [], []
    for smiles, value in freesolv()[["smiles", "expt"]].itertuples(index=False):
        result = std.standardize(smiles, "smiles")
        if isinstance(result, Rejected):
            continue
        parents.append(result.smiles)
        keys.append(result.inchikey)
        y.append(value)
        if len(y) == 100:
            break
    featurizer = get_featurizer(SPEC)
    X = featurizer.transform(parents).values
    target = np.asarray(y)
    transform = TargetTransform(kind="standardize").fit(target)
    surrogate = get_model("rf", n_estimators=20, n_jobs=1).fit(X, transform.transform(target))
    info = BundleInfo(
        model="rf",
        params=surrogate.params.model_dump(mode="json"),
        inputs=surrogate.inputs,
        featurizer=featurizer.spec,
        featurizer_hash=featurizer.hash,
        target="expt",
        transform=transform,
        standardizer=settings_to_dict(settings),
        dataset="freesolv",
        dataset_version=1,
        n_train=len(target),
    )
    return ModelBundle(surrogate, info, TrainingReference.build(keys, parents, target))


@dataclass
class Tracked:
    ws: Workspace
    runs: dict  # label -> TrainResult

    @property
    def uri(self) -> str:
        from molops.tracking._mlflow import DB_FILE, local_uri

        return local_uri(self.ws.root / DB_FILE)


def _build(root: Path) -> dict[str, dict]:
    """Dataset ``tiny`` (v1: 50 FreeSolv rows, v2: 70) in ``root/ws`` and six trainings of it.

    ``tiny-expt`` v1, v2 (same request: same split) and v3 (seed 1) on the latest version; ``tiny-old``
    on dataset version 1; ``tiny-time`` and ``tiny-scaffold`` with those splits.
    """
    from molops.tracking.training import TrainRequest, train

    ws = Workspace.init(root / "ws")
    frame = freesolv()[["smiles", "expt"]]
    for rows, name in ((slice(0, V1_ROWS), "v1.csv"), (slice(V1_ROWS, V2_ROWS), "v2.csv")):
        frame.iloc[rows].to_csv(root / name, index=False)
        ws.dataset("tiny").ingest(root / name, smiles_col="smiles", target_col="expt", workers=1)
    requests = {
        "v1": {},
        "v2": {},
        "v3": {"seed": 1},
        "old": {"version": 1, "name": "tiny-old"},
        "time": {"split": "time", "name": "tiny-time"},
        # 70 FreeSolv molecules have 14 scaffold groups: 80/10/10 would leave valid empty
        "scaffold": {
            "split": "scaffold",
            "fractions": (0.6, 0.2, 0.2),
            "name": "tiny-scaffold",
            "recalibrate": "isotonic",  # forced: auto keeps none on 14 validation molecules
        },
    }
    with restored_env():  # MLflow's exported URIs would leak into later subprocesses
        return {
            label: train(ws, TrainRequest(dataset="tiny", model="rf", params=QUICK, **extra)).model_dump(
                mode="json"
            )
            for label, extra in requests.items()
        }


@pytest.fixture(scope="session")
def tracked(build_once) -> Tracked:
    """The tracked workspace (see ``_build``): built once per run and shared by the xdist workers
    (a file lock guards the building; tests only read it, or copy its database)."""
    from molops.tracking.training import TrainResult

    root, runs = build_once("tracked", _build)
    return Tracked(Workspace.open(root / "ws"), {k: TrainResult.model_validate(v) for k, v in runs.items()})


@pytest.fixture
def registry(tracked, tmp_path):
    """A ModelRegistry on a copy of the tracked store (the copy shares the original's artifacts)."""
    from molops.tracking._mlflow import local_uri
    from molops.tracking.registry import ModelRegistry

    db = Path(shutil.copy(tracked.ws.root / "mlflow.db", tmp_path / "mlflow.db"))
    return ModelRegistry(local_uri(db), user="tester")
