"""Model exploring: every (model, featurizer) candidate with default parameters, cross-validated on
the same downscaled set and the same folds, ranked best first; and the default candidates.

Like tuning it takes arrays (through a features callback) and returns pydantic rows a caller can log.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from molops.errors import MolopsError
from molops.features.base import GRAPH
from molops.models.base import MODELS, get_model
from molops.models.crossval import (
    MIN_SUBSAMPLE,
    Progress,
    TuningError,
    as_inputs,
    as_targets,
    check_settings,
    cross_validate,
    tuning_rows,
)
from molops.models.splits import kfold

#: The model-exploring grid: rf, lightgbm and gp on Morgan counts and on RDKit 2D descriptors.
#: On FreeSolv at fraction 0.2 (128 molecules, 3 folds) these six take about 6 s together on two
#: idle cores. The MLP is left out: with default parameters it took 58 s on Morgan counts and 16 s on
#: descriptors there (below 100 training molecules it cannot early-stop, so each of its 5 members
#: runs up to 500 epochs per fold), and it ranked below the trees and the GP on so few molecules.
DEFAULT_GRID: tuple[tuple[str, str], ...] = (
    ("rf", "morgan:counts=true"),
    ("lightgbm", "morgan:counts=true"),
    ("gp", "morgan:counts=true"),
    ("rf", "rdkit2d"),
    ("lightgbm", "rdkit2d"),
    ("gp", "rdkit2d"),
)


class ComparisonRow(BaseModel):
    """One candidate of :func:`compare`: its cross-validated scores, or the error that stopped it."""

    model_config = ConfigDict(frozen=True)

    model: str
    featurizer: str
    #: mean and standard deviation over the folds of the held-out RMSE
    cv_rmse: float
    cv_rmse_std: float
    #: mean over the folds of the held-out Spearman correlation
    cv_spearman: float
    fold_rmse: list[float]
    #: wall-clock seconds of the cross-validation (fitting and predicting every fold)
    seconds: float
    error: str | None = None


def _mean_or_nan(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def compare(
    candidates: Sequence[tuple[str, str]],
    features: Callable[[str], Any],
    y: Any,
    *,
    fraction: float = 0.2,
    folds: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
    min_subsample: int = MIN_SUBSAMPLE,
) -> list[ComparisonRow]:
    """Cross-validate every (model, featurizer) candidate with default parameters; best first.

    Every candidate sees the same downscaled set (``tuning_rows(y, fraction, seed, min_subsample)``)
    and the same *folds*, so their scores compare fairly. ``features(spec)`` gives the full
    dataset's X for a featurizer and is called once per distinct featurizer; for models that take
    SMILES the featurizer is ``"graph"`` and ``features("graph")`` gives the SMILES. A candidate
    that raises (unknown model, featurizer or a failed fit) becomes a row with its ``error`` and NaN
    scores, ranked last. ``progress(done, total)`` is called after each candidate.
    """
    ya = as_targets(y)
    rows = tuning_rows(ya, fraction, seed, min_subsample)
    check_settings(folds, len(rows))
    ys = ya[rows]
    splits = list(kfold(len(rows), folds, seed))
    matrices: dict[str, Any] = {}  # featurizer → subsample X, or the exception features() raised

    def subsample_X(spec: str) -> Any:
        if spec not in matrices:
            try:
                matrices[spec] = np.asarray(features(spec))
            except Exception as exc:
                matrices[spec] = exc
        found = matrices[spec]
        if isinstance(found, Exception):
            raise TuningError(f"featurizer {spec!r} failed: {type(found).__name__}: {found}")
        return found

    out: list[ComparisonRow] = []
    for i, (name, spec) in enumerate(candidates):
        started = time.perf_counter()
        try:
            if name not in MODELS:
                get_model(name)  # raises InvalidModelError naming the choices
            Xa = as_inputs(MODELS.get(name), subsample_X(spec), len(ya), spec)
            started = time.perf_counter()  # the featurizer's time is not the model's
            scores = cross_validate(name, {}, Xa[rows], ys, splits)
        except Exception as exc:
            error = str(exc) if isinstance(exc, MolopsError) else f"{type(exc).__name__}: {exc}"
            out.append(
                ComparisonRow(
                    model=name,
                    featurizer=spec,
                    cv_rmse=math.nan,
                    cv_rmse_std=math.nan,
                    cv_spearman=math.nan,
                    fold_rmse=[],
                    seconds=time.perf_counter() - started,
                    error=error,
                )
            )
        else:
            rmses = [s["rmse"] for s in scores]
            out.append(
                ComparisonRow(
                    model=name,
                    featurizer=spec,
                    cv_rmse=float(np.mean(rmses)),
                    cv_rmse_std=float(np.std(rmses)),
                    cv_spearman=_mean_or_nan([s["spearman"] for s in scores]),
                    fold_rmse=rmses,
                    seconds=time.perf_counter() - started,
                )
            )
        if progress is not None:
            progress(i + 1, len(candidates))
    return sorted(out, key=lambda r: (r.error is not None, math.isnan(r.cv_rmse), r.cv_rmse))


def default_candidates(available: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """The default (model, featurizer) grid of :func:`compare`.

    :data:`DEFAULT_GRID` (rf, lightgbm and gp on Morgan counts and on RDKit 2D descriptors), keeping
    only featurizers whose name is in *available* (all when None), plus ``("dmpnn", "graph")`` when
    the D-MPNN model is registered and chemprop is importable (about 30 s on FreeSolv at 0.2).
    """
    names = None if available is None else {spec.partition(":")[0] for spec in available}
    grid = [
        (model, spec)
        for model, spec in DEFAULT_GRID
        if model in MODELS and (names is None or spec.partition(":")[0] in names)
    ]
    if "dmpnn" in MODELS and importlib.util.find_spec("chemprop") is not None:
        grid.append(("dmpnn", GRAPH))
    return grid
