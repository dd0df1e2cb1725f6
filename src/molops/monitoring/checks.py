"""The monitoring checks: each turns a window of predictions into a verdict and the figures behind it.

Inputs are plain data (the window's log rows, the model's training reference, labels, the model's
test RMSE), so every check is tested without a workspace. Verdicts order as
``ok < insufficient_data < warn < alert``; a report's verdict is the worst of its checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from molops.config import MonitorSection
from molops.models.reference import (
    DESCRIPTORS,
    TrainingReference,
    descriptor_table,
    fingerprints,
    scaffold_of,
)
from molops.monitoring.drift import excess_rate, shift, unseen_rate

Verdict = Literal["ok", "insufficient_data", "warn", "alert"]
ORDER: dict[str, int] = {"ok": 0, "insufficient_data": 1, "warn": 2, "alert": 3}


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=ORDER.__getitem__) if verdicts else "insufficient_data"


@dataclass
class Check:
    name: str
    verdict: str
    statistic: float | None
    threshold: float | None
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        stat = None if self.statistic is None or not np.isfinite(self.statistic) else round(self.statistic, 4)
        return {
            "name": self.name,
            "verdict": self.verdict,
            "statistic": stat,
            "threshold": self.threshold,
            "detail": self.detail,
            "figures": self.figures,
        }


def _grade(significant_alert: bool, big_alert: bool, significant_warn: bool, big_warn: bool) -> str:
    if significant_alert and big_alert:
        return "alert"
    if significant_warn and big_warn:
        return "warn"
    return "ok"


def _too_few(
    name: str, n: int, needed: int, what: str = "distinct molecules", where: str = "in the window"
) -> Check:
    return Check(name, "insufficient_data", None, None, f"{n} {what} {where}; at least {needed} needed")


@dataclass
class Window:
    """The distinct molecules a model answered in a window (errors excluded), one row each."""

    molecules: pd.DataFrame  # canonical_smiles, inchikey, similarity, in_domain, mean, std
    descriptors: np.ndarray  # rows of `molecules` × DESCRIPTORS
    scaffolds: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame, max_molecules: int, seed: int = 0) -> Window:
        ok = rows[rows["error"].isna() & rows["inchikey"].notna()]
        distinct = ok.drop_duplicates("inchikey", keep="last")
        if len(distinct) > max_molecules:
            distinct = distinct.sample(max_molecules, random_state=seed)
        distinct = distinct.reset_index(drop=True)
        smiles = distinct["canonical_smiles"].astype(str).tolist()
        return cls(
            distinct, descriptor_table(smiles), np.asarray([scaffold_of(s) for s in smiles], dtype=str)
        )

    @classmethod
    def of_molecules(cls, smiles: list[str], inchikeys: list[str], reference: TrainingReference) -> Window:
        """A window of standardised molecules that were not predicted (no mean or std), with their
        similarity and domain flag against *reference*: for calibrating thresholds on one's own data."""
        similarity = reference.similarity(fingerprints(smiles)[0])
        rows = pd.DataFrame(
            {
                "canonical_smiles": smiles,
                "inchikey": inchikeys,
                "similarity": similarity,
                "in_domain": pd.array(similarity >= reference.domain_threshold, dtype="boolean"),
                "mean": np.nan,
                "std": np.nan,
                "error": None,
            }
        )
        return cls.of(rows, max_molecules=max(len(rows), 1))

    def subset(self, rows: np.ndarray) -> Window:
        """The window of these row positions (descriptors and scaffolds are not recomputed)."""
        return Window(
            self.molecules.iloc[rows].reset_index(drop=True), self.descriptors[rows], self.scaffolds[rows]
        )

    def join(self, other: Window) -> Window:
        """This window's molecules followed by *other*'s."""
        return Window(
            pd.concat([self.molecules, other.molecules], ignore_index=True),
            np.concatenate([self.descriptors, other.descriptors]),
            np.concatenate([self.scaffolds, other.scaffolds]),
        )

    def __len__(self) -> int:
        return len(self.molecules)


def descriptor_drift(window: Window, ref: TrainingReference, cfg: MonitorSection) -> Check:
    name = "descriptor_drift"
    if len(window) < cfg.min_molecules:
        return _too_few(name, len(window), cfg.min_molecules)
    m = len(DESCRIPTORS)
    per: dict[str, dict[str, Any]] = {}
    grades = []
    for j, descriptor in enumerate(DESCRIPTORS):
        moved = shift(ref.descriptors[:, j], window.descriptors[:, j])
        per[descriptor] = moved.as_dict()
        grades.append(
            _grade(
                moved.p_value < cfg.alpha_alert / m,
                moved.psi >= cfg.psi_alert,
                moved.p_value < cfg.alpha_warn / m,
                moved.psi >= cfg.psi_warn,
            )
        )
    verdict = worst(grades)
    top = max(per, key=lambda d: per[d]["psi"] if np.isfinite(per[d]["psi"]) else -1)
    detail = f"largest shift: {top} (PSI {per[top]['psi']:.3f}, KS p {per[top]['p_value']:.2g})"
    return Check(name, verdict, per[top]["psi"], cfg.psi_alert, detail, {"descriptors": per})


def similarity_drift(window: Window, ref: TrainingReference, cfg: MonitorSection) -> Check:
    """Window molecules' nearest-training-neighbour similarity against the training molecules' own
    (leave-one-out) nearest-neighbour similarity: what a new molecule from the same source gets."""
    name = "similarity_drift"
    if len(window) < cfg.min_molecules:
        return _too_few(name, len(window), cfg.min_molecules)
    current = window.molecules["similarity"].to_numpy(float)
    moved = shift(ref.neighbour_similarity, current, alternative="greater")  # window lower = its CDF above
    verdict = _grade(
        moved.p_value < cfg.alpha_alert,
        moved.ks >= cfg.similarity_ks_alert,
        moved.p_value < cfg.alpha_warn,
        moved.ks >= cfg.similarity_ks_warn,
    )
    detail = (
        f"median similarity to the training set {np.nanmedian(current):.3f} vs "
        f"{np.median(ref.neighbour_similarity):.3f} among training molecules (KS {moved.ks:.3f})"
    )
    return Check(name, verdict, moved.ks, cfg.similarity_ks_alert, detail, moved.as_dict())


def out_of_domain(window: Window, ref: TrainingReference, cfg: MonitorSection) -> Check:
    name = "out_of_domain"
    if len(window) < cfg.min_molecules:
        return _too_few(name, len(window), cfg.min_molecules)
    flags = window.molecules["in_domain"]
    k, n = int((flags == False).sum()), int(flags.notna().sum())  # noqa: E712 (nullable booleans)
    expected = ref.domain_quantile
    share = k / n if n else 0.0
    p = excess_rate(k, n, expected)
    ratio = share / expected if expected else float("inf")
    verdict = _grade(
        p < cfg.alpha_alert,
        ratio >= cfg.out_of_domain_alert,
        p < cfg.alpha_warn,
        ratio >= cfg.out_of_domain_warn,
    )
    detail = f"{k} of {n} molecules ({share:.1%}) outside the domain; {expected:.1%} expected"
    figures = {"out_of_domain": k, "n": n, "expected_share": expected, "p_value": float(f"{p:.3g}")}
    return Check(name, verdict, share, round(expected * cfg.out_of_domain_alert, 4), detail, figures)


def new_scaffolds(window: Window, ref: TrainingReference, cfg: MonitorSection) -> Check:
    """Share of window molecules whose Bemis–Murcko scaffold no training molecule has, against the
    Good–Turing estimate for the training set itself (its share of scaffolds seen once)."""
    name = "new_scaffolds"
    if len(window) < cfg.min_molecules:
        return _too_few(name, len(window), cfg.min_molecules)
    known = set(ref.scaffolds.tolist())
    k, n = int(sum(s not in known for s in window.scaffolds)), len(window)
    expected = unseen_rate(ref.scaffolds)
    rate = k / n
    p = excess_rate(k, n, expected)
    excess = rate - expected
    verdict = _grade(
        p < cfg.alpha_alert,
        excess >= cfg.new_scaffolds_alert,
        p < cfg.alpha_warn,
        excess >= cfg.new_scaffolds_warn,
    )
    detail = (
        f"{k} of {n} molecules ({rate:.1%}) have a scaffold the training set lacks; {expected:.1%} expected"
    )
    figures = {"new": k, "n": n, "expected_rate": round(expected, 4), "p_value": float(f"{p:.3g}")}
    return Check(name, verdict, rate, round(expected + cfg.new_scaffolds_alert, 4), detail, figures)


def prediction_drift(window: Window, baseline: Window | None, cfg: MonitorSection) -> Check:
    """Predicted means and stds of this window against the window before it (same length)."""
    name = "prediction_drift"
    if len(window) < cfg.min_molecules:
        return _too_few(name, len(window), cfg.min_molecules)
    if baseline is None or len(baseline) < cfg.min_molecules:
        n = 0 if baseline is None else len(baseline)
        return _too_few(name, n, cfg.min_molecules, where="in the previous window (the baseline)")
    figures, grades = {}, []
    for column in ("mean", "std"):
        moved = shift(baseline.molecules[column].to_numpy(float), window.molecules[column].to_numpy(float))
        figures[column] = moved.as_dict()
        grades.append(
            _grade(
                moved.p_value < cfg.alpha_alert / 2,
                moved.psi >= cfg.psi_alert,
                moved.p_value < cfg.alpha_warn / 2,
                moved.psi >= cfg.psi_warn,
            )
        )
    top = max(figures["mean"]["psi"], figures["std"]["psi"])
    detail = (
        f"PSI of predicted means {figures['mean']['psi']:.3f}, of stds {figures['std']['psi']:.3f} "
        "against the previous window"
    )
    return Check(name, worst(grades), top, cfg.psi_alert, detail, figures)


def live_performance(joined: pd.DataFrame, test_rmse: float | None, cfg: MonitorSection) -> list[Check]:
    """Live RMSE against the held-out test RMSE, and 95%-interval coverage, on molecules whose label
    arrived after they were predicted (*joined*: mean, std, label; training molecules excluded)."""
    n = len(joined)
    if n < cfg.min_labels:
        return [
            _too_few("live_performance", n, cfg.min_labels, "labelled predictions"),
            _too_few("calibration", n, cfg.min_labels, "labelled predictions"),
        ]
    err = joined["label"].to_numpy(float) - joined["mean"].to_numpy(float)
    rmse = float(np.sqrt(np.mean(err**2)))
    mae = float(np.mean(np.abs(err)))
    rho = float(pd.Series(joined["mean"]).corr(pd.Series(joined["label"]), method="spearman"))
    figures = {"n": n, "rmse": round(rmse, 4), "mae": round(mae, 4), "spearman": round(rho, 4),
               "test_rmse": test_rmse}  # fmt: skip
    if test_rmse:
        ratio = rmse / test_rmse
        verdict = (
            "alert" if ratio >= cfg.live_error_alert else "warn" if ratio >= cfg.live_error_warn else "ok"
        )
        detail = f"live RMSE {rmse:.3f} on {n} labels = {ratio:.2f} × the held-out test RMSE {test_rmse:.3f}"
        perf = Check("live_performance", verdict, ratio, cfg.live_error_alert, detail, figures)
    else:
        perf = Check(
            "live_performance", "insufficient_data", None, None, "the model has no test RMSE", figures
        )
    std = joined["std"].to_numpy(float)
    inside = np.abs(err) <= 1.96 * np.where(std > 0, std, np.nan)
    k_out = int((~inside).sum())
    coverage = 1 - k_out / n
    p = excess_rate(k_out, n, 0.05)
    verdict = _grade(
        p < cfg.alpha_alert, coverage <= cfg.coverage_alert, p < cfg.alpha_warn, coverage <= cfg.coverage_warn
    )
    detail = f"{coverage:.1%} of {n} labels inside the predicted 95% interval"
    calib = Check(
        "calibration", verdict, coverage, cfg.coverage_alert, detail, {"n": n, "p_value": float(f"{p:.3g}")}
    )
    return [perf, calib]


def processing(rows: pd.DataFrame, cfg: MonitorSection) -> list[Check]:
    """Request latency (p99, served requests) and the share of molecules answered with an error."""
    checks = []
    api = rows[rows["source"] == "api"].drop_duplicates("request_id")["latency_ms"].dropna()
    if len(api) < cfg.min_molecules:
        checks.append(_too_few("latency", len(api), cfg.min_molecules, "served requests"))
    else:
        p50, p99 = (float(np.percentile(api, q)) for q in (50, 99))
        verdict = (
            "alert" if p99 >= cfg.latency_p99_ms_alert else "warn" if p99 >= cfg.latency_p99_ms_warn else "ok"
        )
        detail = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(api)} requests"
        figures: dict[str, Any] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "requests": len(api)}
        checks.append(Check("latency", verdict, p99, cfg.latency_p99_ms_alert, detail, figures))
    if len(rows) < cfg.min_molecules:
        checks.append(_too_few("error_rate", len(rows), cfg.min_molecules, "predicted molecules"))
    else:
        share = float(rows["error"].notna().mean())
        verdict = (
            "alert" if share >= cfg.error_rate_alert else "warn" if share >= cfg.error_rate_warn else "ok"
        )
        reasons = rows["error"].dropna().str.split(":").str[0].value_counts().head(5).to_dict()
        detail = f"{share:.1%} of {len(rows)} molecules answered with an error"
        figures = {"errors": int(rows["error"].notna().sum()), "reasons": reasons}
        checks.append(Check("error_rate", verdict, share, cfg.error_rate_alert, detail, figures))
    return checks
