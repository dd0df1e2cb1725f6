"""The bundle-level ONNX export (issue 18): parity in the units a service answers in, the tolerance
and --force, int8 quantisation reported honestly, and the parity molecules' sources."""

from __future__ import annotations

import json
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

from _env import restored_env
from molops import Workspace
from molops.errors import InputFileError
from molops.models import get_model
from molops.models.onnx_export import OnnxExportError
from molops.tracking.bundle import ModelBundle
from molops.tracking.onnx_export import TAG, export, export_version, onnx_bundle, read_smiles, serving_bundle
from molops.tracking.registry import ModelRegistry
from molops.tracking.store import Tracking
from molops.tracking.training import TrainRequest, train

from .conftest import QUICK, freesolv, small_bundle

SMILES = freesolv()["smiles"].tolist()
#: molecules the small bundle was not trained on (it took the first 100 the standardiser accepts)
HELD_BACK = SMILES[150:250]


@cache
def mlp_bundle() -> ModelBundle:
    """The small bundle with a 3-member MLP fitted on its features in place of the forest."""
    rf = small_bundle()
    prepared = rf.preparation(applicability=False).batch(SMILES[:120], "smiles")
    y = freesolv()["expt"].to_numpy()[prepared.good]
    with warnings.catch_warnings():  # max_iter reached on a tiny set: not what is tested here
        warnings.simplefilter("ignore")
        mlp = get_model("mlp", n_members=3, hidden_layer_sizes=(32,), max_iter=50).fit(
            prepared.values, rf.info.transform.transform(y)
        )
    info = rf.info.model_copy(update={"model": "mlp", "params": mlp.params.model_dump(mode="json")})
    return ModelBundle(mlp, info, rf.reference)


def test_rf_export_matches_the_bundle_in_user_units():
    bundle = small_bundle()
    result = export(bundle, HELD_BACK)
    report = result.report
    assert report["model"] == "rf" and report["quantize"] is None
    assert report["molecules"] == len(bundle.preparation(False).batch(HELD_BACK, "smiles").good) > 90
    assert report["within_tolerance"] and not report["forced"]
    assert report["max_abs_diff"] == max(report["max_abs_diff_mean"], report["max_abs_diff_std"]) < 1e-5
    X = bundle.preparation(False).batch(HELD_BACK, "smiles").values
    mean, std = bundle.predict_matrix(X)  # standardised targets, un-transformed here
    onnx_mean, onnx_std = onnx_bundle(bundle, result.model).predict_matrix(X)
    assert np.abs(mean).max() > 5  # user units (kcal/mol), not the standardised ones
    np.testing.assert_allclose(onnx_mean, mean, atol=1e-5)
    np.testing.assert_allclose(onnx_std, std, atol=1e-5)


def test_above_tolerance_is_refused_unless_forced():
    with pytest.raises(
        OnnxExportError, match=r"above the tolerance 0; nothing was written \(pass --tolerance"
    ):
        export(small_bundle(), HELD_BACK, tolerance=0.0)
    report = export(small_bundle(), HELD_BACK, tolerance=0.0, force=True).report
    assert report["forced"] and not report["within_tolerance"] and report["max_abs_diff"] > 0


def test_int8_mlp_reports_its_larger_difference():
    bundle = mlp_bundle()
    plain = export(bundle, HELD_BACK).report
    assert plain["max_abs_diff"] < 1e-4
    with pytest.raises(OnnxExportError, match="the ONNX export of 'mlp' differs from the model by up to"):
        export(bundle, HELD_BACK, quantize="int8")
    small = export(bundle, HELD_BACK, quantize="int8", force=True).report
    assert small["quantize"] == "int8" and small["forced"]
    assert small["max_abs_diff"] > 10 * plain["max_abs_diff"]
    assert small["bytes"] < plain["bytes"] / 2


def test_parity_needs_preparable_molecules():
    with pytest.raises(OnnxExportError, match="none of the 2 parity molecules could be prepared"):
        export(small_bundle(), ["xyz", "C1CC"])


def test_parity_molecules_from_a_file(tmp_path):
    smi = tmp_path / "held.smi"
    smi.write_text("# held back\nCCO ethanol\n\nc1ccccc1O\n", encoding="utf-8")
    assert read_smiles(smi) == ["CCO", "c1ccccc1O"]
    csv = tmp_path / "held.csv"
    csv.write_text("id,smiles\n1,CCO\n2,\n3,CCN\n", encoding="utf-8")
    assert read_smiles(csv) == ["CCO", "CCN"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,structure\n1,CCO\n", encoding="utf-8")
    with pytest.raises(
        InputFileError, match=r"bad\.csv: has no 'smiles' column; its columns are id, structure"
    ):
        read_smiles(bad)


def test_serving_bundle_from_the_recorded_files_answers_as_native(tmp_path):
    """``serve --onnx`` builds its bundle from the files recorded beside the graph (never the native
    model); an export recorded without them is served from the native bundle, the same way."""
    ws = Workspace.init(tmp_path / "ws")
    freesolv()[["smiles", "expt"]].iloc[:60].to_csv(tmp_path / "in.csv", index=False)
    ws.dataset("tiny").ingest(tmp_path / "in.csv", smiles_col="smiles", target_col="expt", workers=1)
    with restored_env():
        train(ws, TrainRequest(dataset="tiny", model="rf", params=QUICK))
    registry = ModelRegistry(Tracking.of(ws).uri)
    native, _ = registry.load("tiny-expt:1")
    report = export_version(ws, registry, "tiny-expt:1", tmp_path / "rf.onnx", n_molecules=30)
    assert report["within_tolerance"]
    mv = registry.resolve("tiny-expt:1")
    tag = json.loads(mv.tags[TAG])
    assert tag["serving"] == ["onnx/bundle.json", "onnx/reference.npz"]

    queries = [*SMILES[100:130], "not a smiles", "c1ccccc1O"]
    want = native.predict(queries)
    served = serving_bundle(registry, mv)
    assert served.surrogate.name == "onnx" and served.info == native.info  # calibration included
    np.testing.assert_array_equal(served.reference.fingerprints, native.reference.fingerprints)
    got = served.predict(queries)
    pd.testing.assert_frame_equal(got.drop(columns=["mean", "std"]), want.drop(columns=["mean", "std"]))
    np.testing.assert_allclose(got[["mean", "std"]], want[["mean", "std"]], atol=1e-4)

    # an export recorded before the serving files: the tag names none, the native bundle is loaded
    del tag["serving"]
    registry.client.set_model_version_tag("tiny-expt", "1", TAG, json.dumps(tag))
    old = serving_bundle(registry, registry.resolve("tiny-expt:1"))
    pd.testing.assert_frame_equal(old.predict(queries), got)
