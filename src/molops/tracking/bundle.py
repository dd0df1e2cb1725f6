"""The model bundle: everything needed to turn a SMILES into a prediction, in one folder.

A bundle holds the standardiser settings, the featurizer spec (and hash), the fitted surrogate,
the target transform and the training reference (for the applicability domain and drift). It is
the payload of the MLflow pyfunc model (:mod:`molops.tracking.pyfunc_model`), and serving, batch
prediction and campaigns load it directly, so every path predicts exactly the same way.

Layout of a bundle folder::

    bundle.json        what the model is: featurizer, target, transform, std calibration, lineage
    surrogate/         the fitted model (Surrogate.save)
    reference.npz      the training reference (TrainingReference.save)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from molops._types import StrPath
from molops._version import __version__
from molops.chem.standardize import StandardizerSettings, StructureFormat
from molops.errors import MolopsError
from molops.features.base import GRAPH, get_featurizer
from molops.features.graph import chemprop_version
from molops.models.base import Surrogate
from molops.models.calibration import Calibrator
from molops.models.reference import TrainingReference
from molops.models.transforms import TargetTransform
from molops.tracking.preparation import Preparation, Prepared, is_missing

BUNDLE_FORMAT = 1
#: Molecules per surrogate call when predicting a large batch (bounds memory).
PREDICT_CHUNK = 4096
#: Columns of every prediction table, in order.
PREDICTION_COLUMNS = (
    "smiles",
    "canonical_smiles",
    "inchikey",
    "mean",
    "std",
    "similarity",
    "in_domain",
    "error",
)


class BundleError(MolopsError):
    """A bundle folder is missing, incomplete or written by an incompatible molops."""

    exit_code = 2


class BundleInfo(BaseModel):
    """``bundle.json``: what the bundled model is and what it was trained on."""

    model_config = ConfigDict(extra="allow")

    format: int = BUNDLE_FORMAT
    model: str
    params: dict[str, Any]
    inputs: str = "features"
    featurizer: str
    featurizer_hash: str
    target: str
    transform: TargetTransform
    standardizer: dict[str, Any]
    dataset: str | None = None
    dataset_version: int | None = None
    n_train: int
    #: the std recalibration fitted on held-out predictions; None: the model's own std (also every
    #: bundle written before recalibration existed)
    calibration: Calibrator | None = None
    molops_version: str = __version__


def settings_to_dict(settings: StandardizerSettings) -> dict[str, Any]:
    data = asdict(settings)
    data["allowed_elements"] = sorted(settings.allowed_elements)
    return data


def settings_from_dict(data: dict[str, Any]) -> StandardizerSettings:
    return StandardizerSettings(**{**data, "allowed_elements": frozenset(data["allowed_elements"])})


class ModelBundle:
    """A fitted surrogate with its featurizer, standardiser, target transform and training reference."""

    def __init__(self, surrogate: Surrogate, info: BundleInfo, reference: TrainingReference) -> None:
        self.surrogate = surrogate
        self.info = info
        self.reference = reference
        self._featurizer = None if info.inputs == "smiles" else get_featurizer(info.featurizer)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: StrPath) -> Path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.surrogate.save(folder / "surrogate")
        self.reference.save(folder / "reference.npz")
        (folder / "bundle.json").write_text(self.info.model_dump_json(indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: StrPath) -> ModelBundle:
        folder = Path(path)
        try:
            info = BundleInfo.model_validate_json((folder / "bundle.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleError(f"{folder}: not a molops model bundle (no bundle.json)") from None
        if info.format > BUNDLE_FORMAT:
            raise BundleError(
                f"{folder}: bundle format {info.format} is newer than this molops "
                f"({__version__}) reads; upgrade molops"
            )
        featurizer_hash = get_featurizer(info.featurizer).hash if _checkable(info) else None
        if featurizer_hash is not None and featurizer_hash != info.featurizer_hash:
            raise BundleError(
                f"{folder}: the model was trained on featurizer {info.featurizer} with hash "
                f"{info.featurizer_hash}, but this installation computes hash {featurizer_hash} "
                "(a library version that changes the features); retrain the model"
            )
        return cls(
            Surrogate.load(folder / "surrogate"), info, TrainingReference.load(folder / "reference.npz")
        )

    # -- predicting ----------------------------------------------------------------------------
    def predict_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) in the user's units for features from the cache (or a 1-D array of parent
        SMILES, for a model that takes SMILES), the std recalibrated when the bundle has a
        calibration: here, so batch prediction, serving and the pyfunc model all apply it."""
        mean, std = self.info.transform.inverse(*self.surrogate.predict(X))
        if self.info.calibration is not None:
            std = self.info.calibration.apply(std)
        return mean, std

    def preparation(self, applicability: bool = True) -> Preparation:
        """How this bundle prepares molecules (picklable: a service runs it in child processes)."""
        featurizer = None if self._featurizer is None else self._featurizer.spec
        return Preparation(settings_from_dict(self.info.standardizer), featurizer, applicability)

    def predict(
        self, smiles: Sequence[Any], *, applicability: bool = True, fmt: StructureFormat = "smiles"
    ) -> pd.DataFrame:
        """One row per input, in order (:data:`PREDICTION_COLUMNS`); a bad input gets an ``error``.

        *fmt* ``molblock`` takes MDL mol blocks (an SDF's records) instead of SMILES.
        """
        columns = self.predict_columns(smiles, applicability=applicability, fmt=fmt)
        frame = pd.DataFrame(columns, columns=list(PREDICTION_COLUMNS))
        frame["in_domain"] = pd.array(columns["in_domain"], dtype="boolean")
        return frame

    def predict_columns(
        self,
        smiles: Sequence[Any],
        *,
        applicability: bool = True,
        fmt: StructureFormat = "smiles",
        prepared: Prepared | None = None,
    ) -> dict[str, list[Any]]:
        """:meth:`predict` as plain lists per column (NaN where no value): what the service answers
        with, without a DataFrame's per-call cost (about a millisecond, on a one-molecule request).

        *prepared* is the batch already prepared elsewhere (a service's child processes) with
        :meth:`preparation`; without it the molecules are prepared here.
        """
        smiles = list(smiles)
        if prepared is None:
            prepared = self.preparation(applicability).batch(smiles, fmt)
        errors, good = list(prepared.errors), prepared.good
        mean = np.full(len(smiles), np.nan)
        std = np.full(len(smiles), np.nan)
        for start in range(0, len(good), PREDICT_CHUNK):
            rows = good[start : start + PREDICT_CHUNK]
            m, s = self.predict_matrix(prepared.values[start : start + PREDICT_CHUNK])
            mean[rows], std[rows] = m, s
        similarity = np.full(len(smiles), np.nan)
        if applicability and good and prepared.fingerprints is not None:
            similarity[good] = self.reference.similarity(prepared.fingerprints)
        in_domain = [None if np.isnan(v) else bool(v >= self.reference.domain_threshold) for v in similarity]
        return {
            "smiles": [None if is_missing(s) or fmt != "smiles" else str(s) for s in smiles],
            "canonical_smiles": prepared.parents,
            "inchikey": prepared.inchikeys,
            "mean": mean.tolist(),
            "std": std.tolist(),
            "similarity": similarity.tolist(),
            "in_domain": in_domain,
            "error": errors,
        }

    def describe(self) -> dict[str, Any]:
        return {
            **json.loads(self.info.model_dump_json()),
            "n_reference": len(self.reference),
            "domain_threshold": self.reference.domain_threshold,
        }


def _checkable(info: BundleInfo) -> bool:
    """Whether this installation can check the bundle's featurizer hash: always for feature models;
    for graph models once chemprop is installed (without it the model itself says what to install)
    and when the bundle recorded a hash (bundles before the graph featurizer stored ``graph``)."""
    if info.inputs == "features":
        return True
    return info.featurizer_hash != GRAPH and chemprop_version() is not None
