"""The bundle-level ONNX export (issue 18): parity in the units a service answers in, the tolerance
and --force, int8 quantisation reported honestly, and the parity molecules' sources."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest

from molops.errors import InputFileError
from molops.models import get_model
from molops.models.onnx_export import OnnxExportError
from molops.tracking.bundle import ModelBundle
from molops.tracking.onnx_export import export, onnx_bundle, read_smiles

from .conftest import freesolv, small_bundle

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
