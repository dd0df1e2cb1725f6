"""ONNX variants of registered model versions: export with a parity check, record, load for serving.

An export converts the bundle's surrogate (:mod:`molops.models.onnx_export`), optionally quantises
it, and predicts held-back molecules both ways through the same bundle code (target transform, std
calibration), in the units a service answers in. It is refused when the largest difference of the
mean or the std exceeds the tolerance (default :data:`DEFAULT_TOLERANCE`, in the target's units)
unless forced. A recorded export is a file of the version's MLflow run (``onnx/model.onnx``, with
its parity report ``onnx/export.json``) and a version tag (``molops.onnx``) that says it exists; a
later export of the same version replaces both.

Beside the graph go the bundle's other parts (``onnx/bundle.json``: standardiser settings,
featurizer, target, transform, calibration; ``onnx/reference.npz``: the applicability reference),
so :func:`serving_bundle` builds the served bundle from the export alone: a D-MPNN is served without
unpickling the native model, so without torch and chemprop. An export recorded before these files
existed is served from the native bundle, as it always was.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molops.errors import InputFileError
from molops.models.onnx_export import OnnxExportError
from molops.tracking._mlflow import Quiet
from molops.tracking.bundle import BundleError, BundleInfo, ModelBundle
from molops.tracking.registry import ModelRegistry
from molops.workspace import Workspace

#: Largest |ONNX − native| / max(1, |native|) accepted for the mean and the std of any molecule (so
#: absolute in the target's units for values within ±1, relative above): far above the float32
#: rounding of tree leaves and layer outputs (~1e-7 relative), far below any difference a chemist
#: would act on. int8 quantisation usually exceeds it (an MLP on FreeSolv: ~0.01–0.1 kcal/mol):
#: pass a larger --tolerance for it, having looked at the reported difference.
DEFAULT_TOLERANCE = 1e-3
#: Molecules of the training dataset version (its last rows) predicted both ways by default.
PARITY_MOLECULES = 200
ARTIFACT_DIR = "onnx"
MODEL_FILE = "model.onnx"
REPORT_FILE = "export.json"
#: the bundle without its surrogate, beside the graph (see the module docstring)
INFO_FILE = "bundle.json"
REFERENCE_FILE = "reference.npz"
TAG = "molops.onnx"


@dataclass
class OnnxExport:
    """An exported graph (serialised) and its parity report."""

    model: bytes
    report: dict[str, Any] = field(default_factory=dict)
    #: the exported bundle, whose description and reference are recorded beside the graph
    bundle: ModelBundle | None = None


def onnx_bundle(bundle: ModelBundle, model: bytes, threads: int | None = None) -> ModelBundle:
    """*bundle* predicting with the ONNX graph *model* instead of its native surrogate."""
    from molops.models.onnx_export.graph_runtime import onnx_surrogate
    from molops.models.onnx_export.runtime import THREADS

    surrogate = onnx_surrogate(model, bundle.info.model, threads or THREADS)
    return ModelBundle(surrogate, bundle.info, bundle.reference)


def held_back_smiles(ws: Workspace, bundle: ModelBundle, n: int = PARITY_MOLECULES) -> list[str]:
    """The last *n* molecules of the dataset version *bundle* was trained on."""
    info = bundle.info
    if info.dataset is None:
        raise OnnxExportError(
            "the model records no training dataset to take parity molecules from; pass --molecules FILE"
        )
    frame = ws.dataset(info.dataset).read(info.dataset_version)
    return [str(s) for s in frame["smiles"].tail(n)]


def read_smiles(path: Path) -> list[str]:
    """SMILES from *path*: a CSV with a ``smiles`` column, or one SMILES per line (first field)."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file; expected a CSV with a 'smiles' column or a .smi file")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        if "smiles" not in frame.columns:
            raise InputFileError(
                f"{path}: has no 'smiles' column; its columns are {', '.join(frame.columns)}"
            )
        return [str(s) for s in frame["smiles"].dropna()]
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def export_version(
    ws: Workspace,
    registry: ModelRegistry,
    ref: str,
    path: Path,
    *,
    molecules: Path | None = None,
    n_molecules: int = PARITY_MOLECULES,
    quantize: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
) -> dict[str, Any]:
    """``molops models export``: export the version *ref* points to, write it to *path* and record it
    with the version; the parity report with where it went."""
    bundle, mv = registry.load(ref)
    smiles = read_smiles(molecules) if molecules else held_back_smiles(ws, bundle, n_molecules)
    result = export(bundle, smiles, quantize=quantize, tolerance=tolerance, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(result.model)
    record(registry, mv.name, int(mv.version), result)
    return {"name": mv.name, "version": int(mv.version), "path": str(path), **result.report}


def export(
    bundle: ModelBundle,
    smiles: list[str],
    *,
    quantize: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
) -> OnnxExport:
    """*bundle*'s model as ONNX, checked on *smiles*; refused above *tolerance* unless *force*."""
    from molops.models.onnx_export.convert import to_onnx
    from molops.models.onnx_export.quantize import quantize as quantize_graph

    graph = to_onnx(bundle.surrogate)
    if quantize:
        graph = quantize_graph(graph, bundle.info.model, quantize)
    model = graph.SerializeToString()
    prepared = bundle.preparation(applicability=False).batch(smiles, "smiles")
    if not prepared.good:
        raise OnnxExportError(
            f"none of the {len(smiles)} parity molecules could be prepared; "
            "pass --molecules with valid SMILES"
        )
    X = prepared.values
    native_mean, native_std = bundle.predict_matrix(X)
    mean, std = onnx_bundle(bundle, model).predict_matrix(X)
    diff_mean = float(np.max(np.abs(mean - native_mean)))
    diff_std = float(np.max(np.abs(std - native_std)))
    # relative where the native value exceeds 1 in magnitude: float32 rounding grows with the value
    # (an MLP extrapolating raw descriptors of an unusual molecule can answer ~1e7)
    scaled = max(
        float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
        for got, want in ((mean, native_mean), (std, native_std))
    )
    report = {
        "model": bundle.info.model,
        "quantize": quantize,
        "molecules": len(prepared.good),
        "max_abs_diff": max(diff_mean, diff_std),
        "max_abs_diff_mean": diff_mean,
        "max_abs_diff_std": diff_std,
        "max_scaled_diff": scaled,
        "tolerance": tolerance,
        "within_tolerance": scaled <= tolerance,
        "forced": False,
        "bytes": len(model),
        "native_bytes": _native_bytes(bundle),
    }
    if not report["within_tolerance"]:
        if not force:
            raise OnnxExportError(
                f"the ONNX export of {bundle.info.model!r} differs from the model by up to "
                f"{report['max_abs_diff']:.3g} (mean {diff_mean:.3g}, std {diff_std:.3g}; relative to "
                f"max(1, |value|): {scaled:.3g}) on {len(prepared.good)} molecules, above the tolerance "
                f"{tolerance:g}; nothing was written "
                "(pass --tolerance or --force to keep it anyway)"
            )
        report["forced"] = True
    return OnnxExport(model, report, bundle)


def _native_bytes(bundle: ModelBundle) -> int:
    import pickle

    return len(pickle.dumps(bundle.surrogate, protocol=pickle.HIGHEST_PROTOCOL))


def record(registry: ModelRegistry, name: str, version: int, result: OnnxExport) -> dict[str, Any]:
    """Store *result* with the model version (its run's ``onnx/`` files and the ``molops.onnx``
    tag); the tag's content, which :func:`load` reads."""
    mv = registry.resolve(f"{name}:{version}")
    if not mv.run_id:
        raise OnnxExportError(
            f"model {name!r} version {version} has no MLflow run to store an ONNX export in"
        )
    tag = {k: result.report[k] for k in ("model", "quantize", "max_abs_diff", "tolerance", "forced", "bytes")}
    tag["artifact"] = f"{ARTIFACT_DIR}/{MODEL_FILE}"
    with tempfile.TemporaryDirectory(prefix="molops-onnx-") as tmp, Quiet():
        folder = Path(tmp) / ARTIFACT_DIR
        folder.mkdir()
        (folder / MODEL_FILE).write_bytes(result.model)
        (folder / REPORT_FILE).write_text(json.dumps(result.report, indent=1), encoding="utf-8")
        if result.bundle is not None:
            info = result.bundle.info.model_dump_json(indent=1)
            (folder / INFO_FILE).write_text(info, encoding="utf-8")
            result.bundle.reference.save(folder / REFERENCE_FILE)
            tag["serving"] = [f"{ARTIFACT_DIR}/{INFO_FILE}", f"{ARTIFACT_DIR}/{REFERENCE_FILE}"]
        registry.client.log_artifacts(mv.run_id, str(folder), ARTIFACT_DIR)
        registry.client.set_model_version_tag(name, str(version), TAG, json.dumps(tag))
    return tag


def _tag(mv: Any) -> dict[str, Any]:
    """The ``molops.onnx`` tag of model version *mv*; an error saying how to make one if it has none."""
    tag = mv.tags.get(TAG) if mv.tags else None
    if not tag:
        raise OnnxExportError(
            f"model {mv.name!r} version {mv.version} has no ONNX export; make one with "
            f"`molops models export {mv.name}:{mv.version} --onnx PATH`, or serve without --onnx"
        )
    return dict(json.loads(tag))


def load(registry: ModelRegistry, mv: Any) -> bytes:
    """The recorded ONNX export of model version *mv*; an error saying how to make one if it has none."""
    artifact = _tag(mv)["artifact"]
    with tempfile.TemporaryDirectory(prefix="molops-onnx-") as tmp, Quiet():
        path = registry.client.download_artifacts(mv.run_id, artifact, tmp)
        return Path(path).read_bytes()


def serving_bundle(registry: ModelRegistry, mv: Any, threads: int | None = None) -> ModelBundle:
    """Model version *mv* as a bundle answering with its recorded ONNX export: from the files
    recorded beside the graph where there are any (the native model is never loaded), else from
    the version's native bundle."""
    tag = _tag(mv)
    if not tag.get("serving"):
        return onnx_bundle(_native_bundle(registry, mv, str(tag.get("model"))), load(registry, mv), threads)
    from molops.models.reference import TrainingReference

    with tempfile.TemporaryDirectory(prefix="molops-onnx-") as tmp, Quiet():
        paths = [
            Path(registry.client.download_artifacts(mv.run_id, a, tmp))
            for a in (tag["artifact"], *tag["serving"])
        ]
        model_path, info_path, reference_path = paths
        info = BundleInfo.model_validate_json(info_path.read_text(encoding="utf-8"))
        _check_featurizer(mv, info)
        reference = TrainingReference.load(reference_path)
        model = model_path.read_bytes()
    from molops.models.onnx_export.graph_runtime import onnx_surrogate
    from molops.models.onnx_export.runtime import THREADS

    return ModelBundle(onnx_surrogate(model, info.model, threads or THREADS), info, reference)


def _check_featurizer(mv: Any, info: BundleInfo) -> None:
    """Refuse features this installation computes differently from training (as a bundle's load
    does); a graph model's export checks its own featuriser when its session starts."""
    if info.inputs != "features":
        return
    from molops.features.base import get_featurizer

    have = get_featurizer(info.featurizer).hash
    if have != info.featurizer_hash:
        raise BundleError(
            f"model {mv.name!r} version {mv.version} was trained on featurizer {info.featurizer} with "
            f"hash {info.featurizer_hash}, but this installation computes hash {have} (a library "
            "version that changes the features); retrain the model"
        )


def _native_bundle(registry: ModelRegistry, mv: Any, kind: str) -> ModelBundle:
    """The native bundle of *mv*, for an export recorded without its serving files; a sentence
    saying what to do when that needs the gnn extra and it is missing."""
    from molops.models.onnx_export.graph_runtime import GRAPH_KINDS

    if kind in GRAPH_KINDS:
        from molops.models.zoo._lightning import INSTALL_GNN, gnn_installed

        if not gnn_installed():
            raise OnnxExportError(
                f"model {mv.name!r} version {mv.version}'s ONNX export was recorded by an older molops "
                f"without its serving files, so serving it loads the native {kind!r} model, which needs "
                f"torch and chemprop; export it again (`molops models export {mv.name}:{mv.version} "
                f"--onnx PATH`) or {INSTALL_GNN}"
            )
    bundle, _ = registry.load(f"{mv.name}:{mv.version}")
    return bundle
