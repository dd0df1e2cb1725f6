"""Acquisition functions: pure functions of a model's (mean, std) and the best value so far.

Every function scores *utility*, where higher is better whatever the objective: a minimised target
is negated before scoring (``utility = -mean``, ``best = -min(y)``), so EI/PI/UCB are written once.
Each acquisition declares what it needs from the model (``mean``, ``std``, ``samples``); a campaign
checks that against the model's ``provides`` and refuses an incompatible pair before any work.

Specs read like featurizer specs: ``ucb:beta=2``, ``ei:xi=0.01``, ``greedy``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import ndtr
from typing_extensions import TypeVar  # TypeVar defaults (PEP 696) need Python 3.13's typing

from molops.errors import MolopsError
from molops.features.base import parse_spec
from molops.models.base import Capability
from molops.registry import Registry, build_params

#: A floor on std in EI/PI, so a model certain about a molecule does not divide by zero.
_MIN_STD = 1e-12


class AcquisitionError(MolopsError):
    """An acquisition spec is unknown or invalid, or the model cannot serve what it needs."""

    exit_code = 2


class AcquisitionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Covariant: parameters are frozen, so a model of a subclass's parameters is one of the base's; the
#: default makes a bare ``Acquisition`` mean "any parameters".
ParamsT = TypeVar("ParamsT", bound=AcquisitionParams, covariant=True, default=AcquisitionParams)


class Acquisition(ABC, Generic[ParamsT]):
    """``score(mean, std, best, rng)`` → utility per molecule; the batch takes the highest.

    Generic in its parameters' class, so an acquisition reads ``self.params.beta`` with its own type.
    """

    name: ClassVar[str]
    Params: ClassVar[type[AcquisitionParams]] = AcquisitionParams
    needs: ClassVar[frozenset[Capability]] = frozenset({"mean"})
    description: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        # Params is ParamsT's class at run time; a ClassVar cannot name a type variable, hence the cast.
        self.params: ParamsT = cast(
            ParamsT, build_params(self.Params, "acquisition", self.name, params, AcquisitionError)
        )

    @abstractmethod
    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        """Utility of each candidate (higher = acquire first); *mean* and *best* are utilities."""

    @property
    def spec(self) -> str:
        values = self.params.model_dump()
        return self.name + (":" + ",".join(f"{k}={v}" for k, v in values.items()) if values else "")

    def check(self, provides: Iterable[str], model: str) -> None:
        """Raise if a model that *provides* these capabilities cannot serve this acquisition."""
        missing = sorted(self.needs - set(provides))
        if missing:
            raise AcquisitionError(
                f"acquisition {self.spec!r} needs the model's {' and '.join(missing)}, which model "
                f"{model!r} does not provide; pick a model that does, or 'greedy', which needs only the mean"
            )


ACQUISITIONS: Registry[type[Acquisition]] = Registry("acquisition")


def get_acquisition(spec: str) -> Acquisition:
    """The acquisition a SPEC names, e.g. ``ucb:beta=2``."""
    name, params = parse_spec(spec)
    if name not in ACQUISITIONS:
        raise AcquisitionError(f"unknown acquisition {name!r}; expected one of: {', '.join(ACQUISITIONS)}")
    return ACQUISITIONS.get(name)(**params)


@ACQUISITIONS.register("random")
class Random(Acquisition[AcquisitionParams]):
    name = "random"
    needs = frozenset()
    description = "uniform random: the baseline every strategy must beat"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        return rng.random(len(mean))


@ACQUISITIONS.register("greedy")
class Greedy(Acquisition[AcquisitionParams]):
    name = "greedy"
    description = "exploit: the best predicted mean"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(mean, dtype=np.float64)


class UCBParams(AcquisitionParams):
    beta: float = Field(2.0, ge=0, description="weight of exploration: mean + sqrt(beta) * std")


@ACQUISITIONS.register("ucb")
class UCB(Acquisition[UCBParams]):
    name = "ucb"
    Params = UCBParams
    needs = frozenset({"mean", "std"})
    description = "upper confidence bound: mean + sqrt(beta) * std"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        utility: np.ndarray = mean + np.sqrt(self.params.beta) * std
        return utility


class ImprovementParams(AcquisitionParams):
    xi: float = Field(0.01, ge=0, description="margin over the best so far, in target units")


def _z(mean: np.ndarray, std: np.ndarray, best: float, xi: float) -> tuple[np.ndarray, np.ndarray]:
    sigma = np.maximum(std, _MIN_STD)
    improvement = mean - best - xi
    return improvement, improvement / sigma


@ACQUISITIONS.register("ei")
class ExpectedImprovement(Acquisition[ImprovementParams]):
    name = "ei"
    Params = ImprovementParams
    needs = frozenset({"mean", "std"})
    description = "expected improvement over the best so far plus xi (Gaussian predictive)"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        improvement, z = _z(mean, std, best, self.params.xi)
        sigma = np.maximum(std, _MIN_STD)
        pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
        expected: np.ndarray = improvement * ndtr(z) + sigma * pdf
        return expected


@ACQUISITIONS.register("pi")
class ProbabilityOfImprovement(Acquisition[ImprovementParams]):
    name = "pi"
    Params = ImprovementParams
    needs = frozenset({"mean", "std"})
    description = "probability of improving on the best so far by xi (Gaussian predictive)"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        return ndtr(_z(mean, std, best, self.params.xi)[1])


@ACQUISITIONS.register("thompson")
class Thompson(Acquisition[AcquisitionParams]):
    name = "thompson"
    needs = frozenset({"mean", "std"})
    description = "Thompson sampling: one draw per molecule from its Gaussian predictive"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        return mean + std * rng.standard_normal(len(mean))


@ACQUISITIONS.register("uncertainty")
class MaxUncertainty(Acquisition[AcquisitionParams]):
    name = "uncertainty"
    needs = frozenset({"std"})
    description = "pure exploration: the largest predictive std (improves the model, not the hits)"

    def score(self, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(std, dtype=np.float64)


def to_utility(values: np.ndarray, maximize: bool) -> np.ndarray:
    """Target values (or predicted means) as utilities: higher is better."""
    values = np.asarray(values, dtype=np.float64)
    return values if maximize else -values
