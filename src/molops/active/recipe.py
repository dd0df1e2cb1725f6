"""The active-learning recipe: which features, model, acquisition and batch diversity to use.

A recipe is plain data (it is stored with a campaign and printed with every simulation), and
``check`` refuses a model/acquisition pair that cannot work before anything is computed.
Several featurizers may be joined with ``+`` (e.g. ``atompair+morgan:counts=true``): their
columns are concatenated, which lets a tree ensemble use both views of a molecule. A model that
takes SMILES (the D-MPNN) builds its own features from the molecular graph: its recipe's featurizer
is the pseudo-featurizer ``graph``, and its inputs are the standardised SMILES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from molops.active.acquisition import Acquisition, get_acquisition
from molops.compute.local import Executor, LocalExecutor
from molops.features.base import GRAPH, get_featurizer
from molops.features.work import featurize_smiles
from molops.models.base import MODELS, InvalidModelError, Surrogate, featurizer_mismatch, get_model
from molops.models.calibration import Method
from molops.models.transforms import TargetTransform, transform_kind

Progress = Callable[[int, int], None]

#: molops' default recipe (``campaign create`` and ``campaign simulate`` without --model/--acquisition):
#: a GP with one Tanimoto kernel on atom pairs + Morgan counts and one on RDKit 2D descriptors,
#: weighed by likelihood (``gp-split``), with its model's default acquisition (a GP's: UCB, β = 1).
#: Figures (MolPAL's Enamine 10k benchmark, FreeSolv and solubility both ways) are in
#: docs/benchmarks.md (issues 6 and 19). For pools where descriptors cost too much, drop
#: ``+rdkit2d`` (the plain Tanimoto GP).
DEFAULT_MODEL = "gp-split"
DEFAULT_MODEL_PARAMS: dict[str, Any] = {}
DEFAULT_FEATURIZER = "atompair+morgan:counts=true+rdkit2d"
#: The acquisition of a recipe whose model is unknown (``check`` refuses it anyway); a known model
#: brings its own (``Surrogate.default_acquisition``).
DEFAULT_ACQUISITION = "greedy"
DEFAULT_MAX_SIMILARITY = 1.0
#: No std recalibration by default: on FreeSolv campaigns ``auto`` (fitted on out-of-fold
#: predictions of the training set) made the proposals' calibration worse in the first three
#: iterations and better only later, at 3-4x the training CPU (docs/benchmarks.md, "Std
#: recalibration in campaigns"); ``campaign create --recalibrate auto`` asks for it.
DEFAULT_RECALIBRATE: Method = "none"


class Recipe(BaseModel):
    """Features → model → acquisition → batch selection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    featurizer: str = DEFAULT_FEATURIZER
    model: str = DEFAULT_MODEL
    model_params: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_MODEL_PARAMS))
    #: filled from the model when not given (:meth:`_model_acquisition`), so it is always a spec
    acquisition: str = DEFAULT_ACQUISITION
    max_similarity: float = Field(
        DEFAULT_MAX_SIMILARITY, gt=0, le=1, description="batch diversity: 1 = top-N, lower = more diverse"
    )
    transform: str = "standardize"
    #: the surrogate's std recalibration on held-out predictions (:mod:`~molops.active.recalibrate`)
    recalibrate: Method = DEFAULT_RECALIBRATE

    @model_validator(mode="before")
    @classmethod
    def _model_acquisition(cls, data: Any) -> Any:
        """A recipe that names no acquisition takes its model's default. A stored recipe (a
        campaign's, always canonical) names the one it was created with, so it keeps it."""
        if isinstance(data, dict) and data.get("acquisition") is None:
            data = {**data, "acquisition": default_acquisition(data.get("model", DEFAULT_MODEL))}
        return data

    @property
    def takes_smiles(self) -> bool:
        """Whether the model reads standardised SMILES (and builds its own graph features)."""
        return self.model in MODELS and MODELS.get(self.model).inputs == "smiles"

    def featurizer_specs(self) -> list[str]:
        """The canonical spec of each joined featurizer (validated); none for a SMILES model."""
        if self.takes_smiles:
            return []
        return [get_featurizer(part).spec for part in self.featurizer.split("+") if part.strip()]

    def acquisition_fn(self) -> Acquisition:
        return get_acquisition(self.acquisition)

    def surrogate(self) -> Surrogate:
        return get_model(self.model, **self.model_params)

    def target_transform(self) -> TargetTransform:
        """The (unfitted) target transform the recipe names."""
        return TargetTransform(kind=transform_kind(self.transform))

    def check(self) -> Recipe:
        """Validate every part; raise a one-sentence error naming the part that cannot work."""
        if self.model not in MODELS:
            raise InvalidModelError(f"unknown model {self.model!r}; expected one of: {', '.join(MODELS)}")
        surrogate = self.surrogate()
        given = self.model_fields_set
        # a SMILES model's default featurizer (the recipe default's) is not the user's choice
        featurizer = self.featurizer if "featurizer" in given or not self.takes_smiles else None
        mismatch = featurizer_mismatch(self.model, featurizer, default_model="model" not in given)
        if mismatch is not None:
            raise InvalidModelError(mismatch)
        if not self.takes_smiles and not self.featurizer_specs():
            raise InvalidModelError(f"recipe featurizer {self.featurizer!r} names no featurizer")
        self.acquisition_fn().check(surrogate.provides, self.model)
        self.target_transform()
        return self

    def canonical(self) -> Recipe:
        """This recipe with each part written in its canonical form."""
        return self.model_copy(
            update={
                "featurizer": GRAPH if self.takes_smiles else "+".join(self.featurizer_specs()),
                "acquisition": self.acquisition_fn().spec,
                "model_params": self.surrogate().params.model_dump(),
            }
        )


def default_acquisition(model: object) -> str:
    """The acquisition SPEC *model* declares; the fallback for a name that is no model."""
    if isinstance(model, str) and model in MODELS:
        return MODELS.get(model).default_acquisition
    return DEFAULT_ACQUISITION


def featurize(
    smiles: list[str],
    featurizer: str,
    executor: Executor | None = None,
    *,
    chunk_rows: int = 1000,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense float32 features of standardised *smiles* for a ``+``-joined spec, and a validity mask.

    For the ``graph`` pseudo-featurizer the "features" are the SMILES themselves (an object array).
    """
    if featurizer == GRAPH:
        return np.asarray(smiles, dtype=object), np.ones(len(smiles), dtype=bool)
    executor = executor or LocalExecutor(1)
    specs = [get_featurizer(part).spec for part in featurizer.split("+") if part.strip()]
    blocks: list[np.ndarray] = []
    valid = np.ones(len(smiles), dtype=bool)
    total = len(specs) * len(smiles)
    done = 0
    for spec in specs:
        kind = get_featurizer(spec).kind
        units = ((spec, smiles[i : i + chunk_rows]) for i in range(0, len(smiles), chunk_rows))
        parts: list[np.ndarray] = []
        for start, (data, errors) in zip(
            range(0, len(smiles), chunk_rows), executor.map(featurize_smiles, units), strict=True
        ):
            parts.append(np.unpackbits(data, axis=1) if kind == "bits" else data)
            for row in errors:
                valid[start + row] = False
            done += len(data)
            if progress:
                progress(done, total)
        width = get_featurizer(spec).dim
        block = np.vstack(parts) if parts else np.zeros((0, width))
        blocks.append(block[:, :width].astype(np.float32, copy=False))
    X = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
    X[~valid] = 0.0
    return X, valid
