"""The surrogate-model interface: every model predicts a mean *and* an uncertainty.

Constructors only validate and store parameters (scikit-learn's habit), fitting happens in
:meth:`Surrogate.fit`, and :meth:`Surrogate.clone` gives an unfitted copy. Each model declares what
it provides (``mean``, ``std``, ``samples``), so an active-learning campaign can refuse an
acquisition function the model cannot serve, with a message saying why.
"""

from __future__ import annotations

import json
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Self, cast

import numpy as np
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar  # TypeVar defaults (PEP 696) need Python 3.13's typing

from molops.errors import MolopsError
from molops.features.base import GRAPH
from molops.registry import Registry, build_params

Capability = Literal["mean", "std", "samples"]
#: What a model's ``fit``/``predict`` take as X: a feature matrix from the cache, or SMILES (graph models
#: featurize inside, e.g. chemprop's D-MPNN), given as a 1-D array of standardised parent SMILES.
Inputs = Literal["features", "smiles"]


class ModelParams(BaseModel):
    """Base of every model's parameters: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: Covariant: parameters are frozen, so a model of a subclass's parameters is one of the base's; the
#: default makes a bare ``Surrogate`` mean "any parameters".
ParamsT = TypeVar("ParamsT", bound=ModelParams, covariant=True, default=ModelParams)


class InvalidModelError(MolopsError):
    """A model name or parameter is unknown or invalid, or a model is used before it is fitted."""

    exit_code = 2


class Surrogate(ABC, Generic[ParamsT]):
    """``fit(X, y)``, then ``predict(X) -> (mean, std)``; ``sample`` where the model can.

    Generic in its parameters' class, so a model reads ``self.params.seed`` with its own type.
    """

    name: ClassVar[str]
    Params: ClassVar[type[ModelParams]] = ModelParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})
    inputs: ClassVar[Inputs] = "features"
    #: The acquisition SPEC a recipe uses with this model when it names none: what suits a model
    #: depends on how far its std can be trusted (a GP's posterior, not a forest's tree spread).
    default_acquisition: ClassVar[str] = "greedy"

    def __init__(self, **params: Any) -> None:
        # Params is ParamsT's class at run time; a ClassVar cannot name a type variable, hence the cast.
        self.params: ParamsT = cast(
            ParamsT, build_params(self.Params, "model", self.name, params, InvalidModelError)
        )
        self.fitted = False

    # -- the interface -------------------------------------------------------------------------
    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        """Fit on features *X* (n × d) and targets *y* (n,); returns self."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation, each of shape (n,)."""

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """Draws from the predictive distribution, shape (n_samples, n).

        The default draws independent Gaussians from (mean, std); ensembles override it with
        their members' predictions, which keeps correlations between molecules.
        """
        mean, std = self.predict(X)
        rng = np.random.default_rng(seed)
        return mean[None, :] + std[None, :] * rng.standard_normal((n_samples, len(mean)))

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Parameters for an Optuna *trial*: the model's documented tuning space."""
        return {}

    # -- conveniences --------------------------------------------------------------------------
    def clone(self) -> Self:
        """An unfitted model with the same parameters."""
        return type(self)(**self.params.model_dump())

    def check_fitted(self) -> None:
        if not self.fitted:
            raise InvalidModelError(f"model {self.name!r} is not fitted; call fit(X, y) first")

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory *path* (``model.pkl`` and ``model.json``)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(
            json.dumps(
                {"name": self.name, "params": self.params.model_dump(), "fitted": self.fitted}, indent=1
            )
        )
        with (folder / "model.pkl").open("wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return folder

    @staticmethod
    def load(path: str | Path) -> Surrogate:
        """Read a model written by :meth:`save`."""
        with (Path(path) / "model.pkl").open("rb") as fh:
            model = pickle.load(fh)
        if not isinstance(model, Surrogate):
            raise InvalidModelError(f"{path}: does not hold a molops surrogate model")
        return model

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params.model_dump(),
            "provides": sorted(self.provides),
            "inputs": self.inputs,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({params})"


MODELS: Registry[type[Surrogate]] = Registry("model")


def get_model(name: str, **params: Any) -> Surrogate:
    """An unfitted model from the registry."""
    if name not in MODELS:
        raise InvalidModelError(f"unknown model {name!r}; expected one of: {', '.join(MODELS)}")
    return MODELS.get(name)(**params)


def featurizer_mismatch(model: str, featurizer: str | None, *, default_model: bool = False) -> str | None:
    """Why *featurizer* (several may be joined with '+') cannot feed *model*, or None: a graph model
    given a vector featurizer, or a vector model given ``graph``. One wording for every command."""
    name = f"{'the default model' if default_model else 'model'} {model!r}"
    parts = [part.strip() for part in (featurizer or "").split("+") if part.strip()]
    if MODELS.get(model).inputs == "smiles":
        if parts and parts != [GRAPH]:
            return (
                f"{name} builds its own features from the molecular graph; leave out --featurizer "
                f"{featurizer!r} or pass {GRAPH!r}"
            )
    elif GRAPH in parts:
        return (
            f"{name} needs a feature matrix; featurizer {GRAPH!r} is only for models that take SMILES, "
            "such as dmpnn"
        )
    return None


def ensemble_stats(predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread over the first axis of (members × n) predictions."""
    return predictions.mean(axis=0), predictions.std(axis=0)
