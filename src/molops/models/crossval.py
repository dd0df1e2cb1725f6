"""The downscaled set and its k-fold cross-validation, shared by tuning and model exploring.

Tuning (:mod:`~molops.models.tuning`) and model exploring (:mod:`~molops.models.comparison`) both
score on a stratified subsample of the data (:func:`tuning_rows`) with the same folds, so their
numbers compare; this module checks their inputs and cross-validates one configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from molops.errors import MolopsError
from molops.features.base import GRAPH
from molops.models.base import Surrogate, get_model
from molops.models.metrics import regression_metrics
from molops.models.splits import Split, stratified_subsample

#: The downscaled set has at least this many molecules (or all of them, when there are fewer), so
#: every fold of the cross-validation still trains on a meaningful number of molecules.
MIN_SUBSAMPLE = 100

#: progress(done, total)
Progress = Callable[[int, int], None]


class TuningError(MolopsError):
    """A tuning or comparison cannot run: bad settings, a stored study made for other data or
    another model, or every trial failed."""

    exit_code = 1


def tuning_rows(
    y: Sequence[float] | np.ndarray, fraction: float = 0.2, seed: int = 0, minimum: int = MIN_SUBSAMPLE
) -> np.ndarray:
    """Sorted row indices of the downscaled set: a stratified subsample of ``fraction`` of *y*.

    The subsample has at least ``min(n, minimum)`` rows: 20 % of 300 molecules would leave 60, and
    three folds of 40 training molecules rank hyperparameters mostly by noise.
    """
    if not 0 < fraction <= 1:
        raise TuningError(f"the tuning fraction must be in (0, 1]; got {fraction:g}")
    n = len(y)
    if n == 0:
        raise TuningError("cannot tune or compare models on an empty dataset")
    effective = min(1.0, max(fraction, minimum / n))
    return stratified_subsample(y, effective, seed)


def check_settings(folds: int, n_rows: int) -> None:
    """Refuse fewer than 2 folds, or fewer than 2 molecules per fold."""
    if folds < 2:
        raise TuningError(f"cross-validation needs at least 2 folds; got {folds}")
    if n_rows < 2 * folds:
        raise TuningError(
            f"{folds}-fold cross-validation needs at least {2 * folds} molecules; "
            f"the downscaled set has {n_rows}"
        )


def as_targets(y: Any) -> np.ndarray:
    """*y* as a float vector, one value per molecule."""
    ya = np.asarray(y, dtype=float)
    if ya.ndim != 1:
        raise TuningError(f"y must be one value per molecule; got an array of shape {ya.shape}")
    return ya


def as_inputs(cls: type[Surrogate], X: Any, n: int, featurizer: str | None = None) -> np.ndarray:
    """X checked against what the model takes: a 2-D feature matrix, or a 1-D array of SMILES."""
    what = f"featurizer {featurizer!r}" if featurizer else "X"
    if cls.inputs == "smiles":
        Xa = np.asarray(X, dtype=object)
        if Xa.ndim != 1:
            raise TuningError(
                f"model {cls.name!r} takes SMILES (pair it with featurizer {GRAPH!r}), but "
                f"{what} gives an array of shape {Xa.shape}"
            )
    else:
        Xa = np.asarray(X)
        if Xa.ndim != 2 or Xa.dtype.kind not in "biuf":
            hint = f" (featurizer {GRAPH!r} is for SMILES models)" if featurizer == GRAPH else ""
            raise TuningError(
                f"model {cls.name!r} takes a numeric feature matrix, but {what} gives an "
                f"array of shape {Xa.shape} and dtype {Xa.dtype}{hint}"
            )
    if len(Xa) != n:
        raise TuningError(f"{what} has {len(Xa)} rows but y has {n} values")
    return Xa


def cross_validate(
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    splits: list[Split],
    after_fold: Callable[[int, list[float]], None] | None = None,
) -> list[dict[str, float]]:
    """Held-out regression metrics per fold of *name* built from *params*, fitted afresh on each fold."""
    scores: list[dict[str, float]] = []
    for split in splits:
        model = get_model(name, **params).fit(X[split.train], y[split.train])
        mean, _ = model.predict(X[split.test])
        scores.append(regression_metrics(y[split.test], mean))
        if after_fold is not None:
            after_fold(len(scores) - 1, [s["rmse"] for s in scores])
    return scores


#: fit_predict(X_train, y_train, X_test) -> (mean, std) of the test rows, in the user's units
FitPredict = Callable[[Any, np.ndarray, Any], tuple[np.ndarray, np.ndarray]]


def out_of_fold(
    fit_predict: FitPredict, X: Any, y: np.ndarray, splits: Sequence[Split]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, mean, std): every row's prediction by the model fitted on the other folds.

    Held-out predictions are what a std recalibration is fitted on (:mod:`~molops.models.calibration`);
    the rows come out in fold order, each once when *splits* partition the data.
    """
    rows, means, stds = [], [], []
    for split in splits:
        mean, std = fit_predict(X[split.train], y[split.train], X[split.test])
        rows.append(split.test)
        means.append(np.asarray(mean, dtype=float))
        stds.append(np.asarray(std, dtype=float))
    if not rows:
        raise TuningError("out-of-fold predictions need at least one fold")
    return np.concatenate(rows), np.concatenate(means), np.concatenate(stds)
