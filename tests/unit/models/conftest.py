"""FreeSolv features, quick model settings and fitted models shared by the model tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from molops.data.builtin import BUILTINS
from molops.features import get_featurizer
from molops.models import Surrogate, get_model

#: small settings so every model fits FreeSolv in about a second on one core
QUICK: dict[str, dict] = {
    "rf": {"n_estimators": 60, "n_jobs": 1},
    "lightgbm": {"n_members": 3, "n_estimators": 150, "learning_rate": 0.1, "n_jobs": 1},
    "gp": {},
    "mlp": {"n_members": 3, "hidden_layer_sizes": (64,)},
}

#: large drug-like and natural-product molecules, unlike FreeSolv's small neutral compounds
FAR_SMILES = [
    "CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2OC(=O)C)C)O)OC(=O)C)"
    "OC(=O)c5ccccc5)(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)c6ccccc6)c7ccccc7)O)(C)C",  # paclitaxel
    "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",  # imatinib
    "CC(C)C[C@H](NC(=O)[C@H](CC(=O)N)NC(=O)[C@@H](N)Cc1ccc(O)cc1)C(=O)N[C@@H](CCCNC(N)=N)C(=O)O",
    "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",  # celecoxib
    "CN1CCN(C2=Nc3cc(Cl)ccc3Nc3ccccc32)CC1",  # clozapine
    "OC[C@H]1O[C@@H](O[C@]2(CO)O[C@H](CO)[C@@H](O)[C@@H]2O)[C@H](O)[C@@H](O)[C@@H]1O",  # sucrose
]


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_far: np.ndarray


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """pytest -n 2 on two cores: one BLAS thread per worker, or BLAS threads fight (50× slower eigh)."""
    with threadpool_limits(limits=1):
        yield


@cache
def freesolv() -> pd.DataFrame:
    return pd.read_csv(BUILTINS["freesolv"].path())


@cache
def features(spec: str) -> np.ndarray:
    return get_featurizer(spec).transform(freesolv()["smiles"].tolist()).values


@cache
def split(spec: str = "morgan:counts=true") -> Split:
    """A seeded 80/20 split of FreeSolv, and the far molecules, featurised by *spec*."""
    X, y = features(spec), freesolv()["expt"].to_numpy()
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    far = get_featurizer(spec).transform(FAR_SMILES).values
    return Split(X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]], far)


@cache
def fitted(name: str, spec: str = "morgan:counts=true") -> Surrogate:
    """*name* with QUICK settings, fitted on the training part of split(spec); shared, do not refit."""
    data = split(spec)
    return get_model(name, **QUICK[name]).fit(data.X_train, data.y_train)


@pytest.fixture
def tiny() -> tuple[np.ndarray, np.ndarray]:
    """Twelve FreeSolv molecules with distinct Morgan bit vectors."""
    X, y = features("morgan"), freesolv()["expt"].to_numpy()
    _, first = np.unique(X, axis=0, return_index=True)
    rows = np.sort(first)[:12]
    return X[rows], y[rows]
