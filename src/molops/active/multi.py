"""Proposing in a campaign with several objectives: one model per objective, scored together.

The first objective's model is the one a single-objective campaign trains (on the molecules with a
value for it, :func:`~molops.active.inputs.training_set`); each other objective gets a model of the
same recipe trained on the molecules with a value for *it*. Every pool chunk is predicted by all of
them and scored by :mod:`~molops.active.multi_acquisition`; proposals carry each objective's
``predicted_mean_<target>`` and ``predicted_std_<target>`` besides the first objective's
``predicted_mean``/``predicted_std``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molops.active.choose import Picker
from molops.active.errors import CampaignError
from molops.active.inputs import training_set
from molops.active.multi_acquisition import MultiScoring, pick_pareto, scoring_for
from molops.active.recalibrate import fit_surrogate
from molops.active.scan import ChunkScorer
from molops.active.state import CampaignConfig, MultiObjective
from molops.active.store import CampaignStore
from molops.data.dataset import Dataset
from molops.models.base import Surrogate
from molops.models.transforms import TargetTransform


@dataclass
class MultiChunkScorer:
    """Scores one chunk for every objective: *base* is the first objective's scorer (its model
    and the features), the others' models are *models* here or, on an executor, loaded once per
    worker from *model_dirs*. Returns the scores, the first objective's (mean, std) utilities,
    and ``means``/``stds`` of every objective (n × k), as :func:`~molops.active.scan.scan_pool`
    keeps them."""

    base: ChunkScorer
    transforms: list[TargetTransform]
    model_dirs: list[Path]
    scoring: MultiScoring
    models: list[Any] = field(default_factory=list, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "models": []}

    def __call__(self, keys: np.ndarray, smiles: np.ndarray, chunk: int) -> tuple[np.ndarray, Any]:
        if not len(keys):
            return np.zeros(0, dtype=bool), None
        X, ok = self.base._inputs(keys, smiles)
        if not ok.any():
            return ok, None
        first = self.base.model if self.base.model is not None else _load(str(self.base.model_dir))
        others = self.models or [_load(str(d)) for d in self.model_dirs]
        means, stds = [], []
        for model, transform in zip([first, *others], [self.base.transform, *self.transforms], strict=True):
            mean, std = transform.inverse(*model.predict(X))
            means.append(mean)
            stds.append(std)
        M, S = np.column_stack(means), np.column_stack(stds)
        return ok, (self.scoring.score(M, S), M[:, 0], S[:, 0], {"means": M, "stds": S})


@lru_cache(maxsize=8)
def _load(path: str) -> Surrogate:
    return Surrogate.load(path)


def multi_scorer(
    store: CampaignStore,
    cfg: CampaignConfig,
    ds: Dataset,
    version: int,
    specs: list[str],
    base: ChunkScorer,
    save: bool,
) -> MultiChunkScorer:
    """Fit a model of the campaign's recipe for each objective after the first (whose model
    *base* has), on the molecules of dataset *version* with a value for it; with *save*, write
    them next to the first one's for executor workers to load."""
    if cfg.multi is None:
        raise CampaignError(f"campaign {cfg.name!r} has one objective; it has no other models to fit")
    frame = ds.read(version).sort_values("order", kind="stable").reset_index(drop=True)
    transforms, models, dirs = [], [], []
    for number, objective in enumerate(cfg.multi.objectives[1:], start=2):
        rows = (
            frame[frame[objective.target].notna()] if objective.target in frame.columns else frame.iloc[0:0]
        )
        train, X = training_set(
            store,
            cfg.model_copy(update={"objective": objective}),
            ds,
            version,
            specs,
            rows=rows.reset_index(drop=True),
        )
        utility = objective.utility(train[objective.target].to_numpy(dtype=np.float64))
        transform = cfg.recipe.target_transform().fit(utility)
        # the same recalibration as the first objective's model, so every std means the same
        model, _ = fit_surrogate(
            cfg.recipe.surrogate(), X, transform.transform(utility), cfg.recipe.recalibrate
        )
        folder = base.model_dir / f"objective-{number}"
        if save:
            model.save(folder)
        transforms.append(transform)
        models.append(model)
        dirs.append(folder)
    scoring = scoring_for(cfg.multi, measured_values(cfg.multi, frame))
    return MultiChunkScorer(base, transforms, dirs, scoring, models)


def measured_values(multi: MultiObjective, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each objective's values over *frame*'s molecules (NaN where one has none)."""
    nan = np.full(len(frame), np.nan)
    return {t: frame[t].to_numpy(dtype=np.float64) if t in frame.columns else nan for t in multi.targets}


def picker_of(scorer: object) -> Picker | None:
    """The batch picker of a pareto campaign's scorer (None: the single-objective diverse top-N)."""
    if not isinstance(scorer, MultiChunkScorer) or scorer.scoring.kind != "pareto":
        return None
    scoring = scorer.scoring

    def pick(cand: dict[str, np.ndarray], fps: np.ndarray, n: int, similarity: float) -> np.ndarray:
        return pick_pareto(scoring, cand["means"], cand["stds"], n, fps, similarity)

    return pick


def multi_frame(
    multi: MultiObjective, frame: pd.DataFrame, cand: dict[str, np.ndarray], pick: np.ndarray
) -> pd.DataFrame:
    """The proposals *frame* with each objective's predicted mean and std in its own units (after
    ``predicted_std``) and a reason in terms of all of them."""
    means, stds = cand["means"][pick], cand["stds"][pick]
    columns: dict[str, np.ndarray] = {}
    for i, o in enumerate(multi.objectives):
        columns[f"predicted_mean_{o.target}"] = o.utility(means[:, i])  # back to the target's units
        columns[f"predicted_std_{o.target}"] = stds[:, i].astype(np.float64)
    reasons = []
    for j, score in enumerate(frame["acquisition_score"].to_numpy(dtype=np.float64)):
        values = ", ".join(
            f"{o.target} {columns[f'predicted_mean_{o.target}'][j]:.3g} ± {stds[j, i]:.2g}"
            for i, o in enumerate(multi.objectives)
        )
        if multi.acquisition == "desirability":
            reasons.append(f"desirability {score:.2f} (optimistic): {values}")
        elif score > 0:
            reasons.append(f"pareto: would add {score:.3g} to the front's hypervolume (optimistic): {values}")
        else:
            reasons.append(f"pareto: {-score:.2g} behind the front (optimistic), the closest left: {values}")
    at = list(frame.columns).index("predicted_std") + 1
    head, tail = frame.iloc[:, :at], frame.iloc[:, at:]
    return pd.concat([head, pd.DataFrame(columns, index=frame.index), tail], axis=1).assign(reason=reasons)
