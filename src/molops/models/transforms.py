"""Target transforms that travel with a model: fitted on training targets, inverted on predictions.

A model trains on transformed targets; :meth:`TargetTransform.inverse` maps its predicted mean and
standard deviation back to the user's units (for ``log``, the std by the delta method).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel

from molops.errors import UsageError

Kind = Literal["none", "standardize", "log", "log-standardize"]
KINDS: tuple[Kind, ...] = get_args(Kind)


def transform_kind(name: str) -> Kind:
    """*name* as a transform :data:`Kind` (what a recipe or an option holds as a plain string)."""
    for kind in KINDS:
        if kind == name:
            return kind
    raise UsageError(f"target transform {name!r} is not supported; expected one of: {', '.join(KINDS)}")


class TargetTransform(BaseModel):
    """``standardize`` (default), ``log`` (natural log of positive values), both, or none."""

    kind: Kind = "standardize"
    center: float = 0.0
    scale: float = 1.0

    def _log(self) -> bool:
        return self.kind in ("log", "log-standardize")

    def _standardize(self) -> bool:
        return self.kind in ("standardize", "log-standardize")

    def fit(self, y: np.ndarray) -> TargetTransform:
        y = np.asarray(y, dtype=float)
        if self._log():
            if (y <= 0).any():
                raise UsageError(
                    f"a log target transform (--transform {self.kind}) needs positive values; "
                    f"min is {y.min():g}; use --transform standardize or none"
                )
            y = np.log(y)
        if self._standardize():
            std = float(y.std())
            return self.model_copy(update={"center": float(y.mean()), "scale": std if std > 0 else 1.0})
        return self.model_copy(update={"center": 0.0, "scale": 1.0})

    def transform(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if self._log():
            y = np.log(y)
        return (y - self.center) / self.scale

    def inverse(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(mean, dtype=float) * self.scale + self.center
        std = np.asarray(std, dtype=float) * self.scale
        if self._log():
            mean = np.exp(mean)
            std = mean * std  # delta method: d exp(u) = exp(u) du
        return mean, std

    def inverse_samples(self, samples: np.ndarray) -> np.ndarray:
        out = np.asarray(samples, dtype=float) * self.scale + self.center
        return np.exp(out) if self._log() else out
