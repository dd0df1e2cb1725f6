"""ModelBundle: standardise → featurize → predict → applicability domain, and its folder format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molops.features import get_featurizer
from molops.tracking.bundle import PREDICTION_COLUMNS, BundleError, ModelBundle

from .conftest import SPEC, freesolv, small_bundle

#: FreeSolv molecules the bundle was trained on, and two it was not
KNOWN = ["CN(C)C(=O)c1ccc(cc1)OC", "CS(=O)(=O)Cl", "CC(C)C=C", "CCc1cnccn1", "CCCCCCCO"]
PACLITAXEL = (
    "CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2OC(=O)C)C)O)OC(=O)C)"
    "OC(=O)c5ccccc5)(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)c6ccccc6)c7ccccc7)O)(C)C"
)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return small_bundle()


def test_known_molecules_are_training_molecules():
    assert freesolv()["smiles"].tolist()[:5] == KNOWN


def test_predict_returns_the_columns_in_input_order(bundle):
    inputs = [*reversed(KNOWN), PACLITAXEL]
    out = bundle.predict(inputs)
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert out["smiles"].tolist() == inputs
    assert out["error"].isna().all()
    assert np.isfinite(out["mean"]).all()
    assert (out["std"] > 0).all()
    keys = [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in inputs]
    assert out["inchikey"].tolist() == keys
    # training molecules are their own nearest neighbours and inside the domain
    np.testing.assert_array_equal(out["similarity"][:5], np.ones(5))
    assert out["in_domain"][:5].tolist() == [True] * 5
    far = out.iloc[-1]
    assert far["similarity"] < 0.5
    assert far["in_domain"] == (far["similarity"] >= bundle.reference.domain_threshold)
    # one molecule alone predicts the same as within a batch
    alone = bundle.predict([inputs[2]])
    assert alone["mean"][0] == out["mean"][2]


def test_bad_inputs_get_an_error_and_nan_while_others_succeed(bundle):
    inputs = [
        "CCO",
        "xyz",
        "",
        None,
        "[Na+].[Cl-]",
        "c1ccccc1",
        "C1CC",
        "   ",
        float("nan"),
        "[Fe]",
        "O",
        pd.NA,
    ]
    out = bundle.predict(inputs)
    assert len(out) == len(inputs)
    # the input is echoed; a missing cell (None, NaN, pd.NA) stays missing rather than 'nan'
    missing = [i for i, v in enumerate(inputs) if not isinstance(v, str)]
    assert out["smiles"].isna().to_numpy().nonzero()[0].tolist() == missing
    assert out["smiles"].dropna().tolist() == [v for v in inputs if isinstance(v, str)]
    reasons = [e.split(":")[0] if isinstance(e, str) else None for e in out["error"]]
    assert reasons == [
        None,
        "unparsable_structure",
        "empty_structure",
        "empty_structure",
        "inorganic",
        None,
        "unparsable_structure",
        "empty_structure",
        "empty_structure",
        "disallowed_element",
        "inorganic",
        "empty_structure",
    ]
    failed = out["error"].notna()
    assert out.loc[failed, ["mean", "std", "similarity"]].isna().all().all()
    assert out.loc[failed, ["canonical_smiles", "inchikey"]].isna().all().all()
    assert out.loc[failed, "in_domain"].isna().all()
    assert np.isfinite(out.loc[~failed, ["mean", "std", "similarity"]].to_numpy()).all()
    assert out.loc[~failed, "canonical_smiles"].tolist() == ["CCO", "c1ccccc1"]


def test_empty_input(bundle):
    out = bundle.predict([])
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    assert len(out) == 0


def test_salts_standardise_to_the_parent(bundle):
    out = bundle.predict(["CC(=O)[O-].[Na+]", "CC(=O)O", "CCN.Cl", "CCN", "  CCO  ", "OCC"])
    assert out["error"].isna().all()
    for salt, parent in ((0, 1), (2, 3), (4, 5)):
        a, b = out.iloc[salt], out.iloc[parent]
        assert a["canonical_smiles"] == b["canonical_smiles"]
        assert a["inchikey"] == b["inchikey"]
        assert (a["mean"], a["std"], a["similarity"]) == (b["mean"], b["std"], b["similarity"])
    assert out["canonical_smiles"].tolist()[::2] == ["CC(=O)O", "CCN", "CCO"]


def test_without_applicability(bundle):
    out = bundle.predict(["CCO", "xyz"], applicability=False)
    assert np.isfinite(out["mean"][0])
    assert out["similarity"].isna().all()
    assert out["in_domain"].isna().all()


def test_predict_matrix_equals_predict(bundle):
    out = bundle.predict([*KNOWN, "CC(=O)[O-].[Na+]"])
    X = get_featurizer(SPEC).transform(out["canonical_smiles"].tolist()).values
    mean, std = bundle.predict_matrix(X)
    np.testing.assert_allclose(mean, out["mean"], rtol=1e-12)
    np.testing.assert_allclose(std, out["std"], rtol=1e-12)


def test_molblock_input(bundle):
    blocks = [Chem.MolToMolBlock(Chem.MolFromSmiles(s)) for s in ("CCO", "c1ccccc1O")]
    out = bundle.predict([*blocks, "not a mol block", ""], fmt="molblock")
    assert out["smiles"].isna().all()  # the input column echoes SMILES only
    assert out["canonical_smiles"].tolist()[:2] == ["CCO", "Oc1ccccc1"]
    assert out["error"][:2].isna().all()
    assert out["error"][2:].notna().all()
    by_smiles = bundle.predict(["CCO", "c1ccccc1O"])
    np.testing.assert_array_equal(out["mean"][:2], by_smiles["mean"])


def test_save_and_load_predict_identically(bundle, tmp_path):
    folder = bundle.save(tmp_path / "bundle")
    assert {p.name for p in folder.iterdir()} == {"bundle.json", "surrogate", "reference.npz"}
    back = ModelBundle.load(folder)
    inputs = [*KNOWN, "xyz", PACLITAXEL, None]
    pd.testing.assert_frame_equal(back.predict(inputs), bundle.predict(inputs))
    assert back.info == bundle.info
    described = back.describe()
    assert described["featurizer"] == get_featurizer(SPEC).spec
    assert described["n_reference"] == len(bundle.reference)
    assert described["domain_threshold"] == bundle.reference.domain_threshold


def _edit(folder, **changes):
    path = folder / "bundle.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_featurizer_hash_mismatch_on_load(bundle, tmp_path):
    folder = bundle.save(tmp_path / "bundle")
    _edit(folder, featurizer_hash="0" * 16)
    with pytest.raises(BundleError, match=r"hash 0{16}.*retrain the model"):
        ModelBundle.load(folder)


def test_load_refuses_a_newer_format_and_a_missing_bundle(bundle, tmp_path):
    with pytest.raises(BundleError, match="not a molops model bundle"):
        ModelBundle.load(tmp_path / "nothing")
    folder = bundle.save(tmp_path / "bundle")
    _edit(folder, format=99)
    with pytest.raises(BundleError, match=r"bundle format 99 is newer.*upgrade molops"):
        ModelBundle.load(folder)


ALPHABET = st.sampled_from(
    [*"CNOScnos()[]=#123@+-.H/\\%*", "Cl", "Br", "[Na+]", "[Fe]", "c1ccccc1", "\x00", " ", "\n", "é"]
)
STRUCTURES = st.one_of(
    st.text(max_size=20),
    st.lists(ALPHABET, max_size=20).map("".join),
    st.sampled_from(["CCO", "c1ccccc1O", "CC(=O)[O-].[Na+]", "O", ""]),
    st.none(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STRUCTURES, max_size=8))
def test_predict_never_raises(inputs):
    out = small_bundle().predict(inputs)
    assert len(out) == len(inputs)
    assert list(out.columns) == list(PREDICTION_COLUMNS)
    finite = np.isfinite(out["mean"].to_numpy(dtype=float))
    assert (out["error"].isna().to_numpy() == finite).all()
    assert (np.isfinite(out["std"].to_numpy(dtype=float)) == finite).all()
    assert (out["canonical_smiles"].notna().to_numpy() == finite).all()


def test_pyfunc_inputs():
    from molops.tracking.pyfunc_model import smiles_of

    assert smiles_of(pd.DataFrame({"id": [1, 2], "smiles": ["CCO", "CCN"]})) == ["CCO", "CCN"]
    assert smiles_of(pd.DataFrame({"SMI": ["CCO"]})) == ["CCO"]
    assert smiles_of(pd.Series(["CCO", "CCN"])) == ["CCO", "CCN"]
    assert smiles_of({"smiles": ("CCO",)}) == ["CCO"]
    assert smiles_of("CCO") == ["CCO"]
    assert smiles_of(["CCO", "CCN"]) == ["CCO", "CCN"]
    with pytest.raises(ValueError, match="expected a 'smiles' column"):
        smiles_of(pd.DataFrame({"a": ["CCO"], "b": [1]}))


def test_graph_models_check_their_featurizer_hash_once_they_recorded_one(bundle, monkeypatch):
    from molops.tracking import bundle as module

    graph = bundle.info.model_copy(
        update={"inputs": "smiles", "featurizer": "graph", "featurizer_hash": get_featurizer("graph").hash}
    )
    assert module._checkable(graph) and module._checkable(bundle.info)
    assert not module._checkable(graph.model_copy(update={"featurizer_hash": "graph"}))  # an older bundle
    monkeypatch.setattr(module, "chemprop_version", lambda: None)  # the model will say what to install
    assert not module._checkable(graph)
