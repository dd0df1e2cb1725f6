"""Per-atom explanations of every model kind: the weights add up, one per atom, and they point at
the atoms a known target depends on."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molops.explain import (
    ExplainError,
    Explanation,
    check_explainable,
    draw_svg,
    explain,
    method_for,
    write_svgs,
)

from .conftest import HALOGENS, N_TRAIN, bundle, halogens, parents

#: (model, featurizer, target transform) → the method that explains it
KINDS = [
    # a D-MPNN that trains in seconds: the weights add up however well it learned
    pytest.param("dmpnn", "graph", "standardize", "mask_dummy_atom", id="dmpnn"),
    ("rf", "morgan:counts=true", "standardize", "shap_tree"),
    ("lightgbm", "morgan", "standardize", "shap_tree"),
    ("rf", "rdkit2d:set=basic", "none", "shap_tree"),
    ("rf", "atompair:counts=true", "log", "shap_tree"),
    ("gp", "morgan:counts=true", "standardize", "mask_bits"),
    ("mlp", "morgan:radius=1,counts=true", "log-standardize", "mask_bits"),
    ("gp", "rdkit2d:set=basic", "standardize", "mask_dummy_atom"),
]


def held_out() -> list[str]:
    """Parents the models were not trained on."""
    return parents()[0][N_TRAIN:]


def check_adds_up(model, explanations: list[Explanation], smiles: list[str]) -> None:
    predicted = model.predict(smiles)["mean"].to_numpy()
    for explanation, mean in zip(explanations, predicted, strict=True):
        assert explanation.error is None
        mol = Chem.MolFromSmiles(explanation.canonical_smiles)
        assert len(explanation.atom_weights) == mol.GetNumAtoms() == mol.GetNumHeavyAtoms()
        total = explanation.base_value + sum(explanation.atom_weights) + explanation.remainder
        assert math.isclose(total, explanation.prediction, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(explanation.prediction, mean, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize(("kind", "spec", "transform", "method"), KINDS)
def test_weights_add_up_to_the_prediction(kind, spec, transform, method):
    model = bundle(kind, spec, transform, n_train=40 if kind == "dmpnn" else N_TRAIN)
    assert method_for(model) == method

    @settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(held_out()), min_size=1, max_size=3))
    def adds_up(smiles: list[str]) -> None:
        check_adds_up(model, explain(model, smiles), smiles)

    adds_up()


def test_descriptor_columns_of_a_tree_model_are_the_remainder():
    model = bundle("rf", "rdkit2d:set=basic", "none")
    found = explain(model, held_out()[:5])
    # no descriptor column belongs to an atom, so the atoms only share float rounding
    assert all(abs(e.remainder) > 0 for e in found)
    assert all(max(abs(w) for w in e.atom_weights) < 1e-9 for e in found)
    fingerprints = explain(bundle("rf", "morgan:counts=true", "standardize"), held_out()[:5])
    assert all(e.remainder == 0 for e in fingerprints)


@pytest.mark.parametrize("kind", ["rf", "lightgbm", "gp", "mlp"])
def test_halogen_atoms_carry_a_halogen_count(kind):
    """Trained to count halogens on atom-type counts (Morgan radius 0), a model's largest atom weight
    is a halogen in nearly every held-out molecule that has one."""
    model = bundle(kind, "morgan:radius=0,counts=true", "standardize")
    smiles = [s for s in held_out() if halogens(s)][:40]
    hits = 0
    for explanation in explain(model, smiles):
        mol = Chem.MolFromSmiles(explanation.canonical_smiles)
        top = mol.GetAtomWithIdx(int(np.argmax(explanation.atom_weights)))
        hits += top.GetAtomicNum() in HALOGENS
    assert hits >= 0.8 * len(smiles), f"{hits} of {len(smiles)}"


@pytest.mark.slow
def test_dmpnn_halogen_atoms_carry_a_halogen_count():
    model = bundle("dmpnn", n_train=120)
    smiles = [s for s in held_out() if halogens(s)][:40]
    hits = 0
    for explanation in explain(model, smiles):
        mol = Chem.MolFromSmiles(explanation.canonical_smiles)
        hits += mol.GetAtomWithIdx(int(np.argmax(explanation.atom_weights))).GetAtomicNum() in HALOGENS
    assert hits >= 0.8 * len(smiles), f"{hits} of {len(smiles)}"


def test_an_unusable_molecule_gets_an_error_not_an_exception():
    model = bundle("rf", "morgan:counts=true", "standardize")
    good, bad, empty = explain(model, ["CCO", "C1CC", ""])
    assert good.error is None and len(good.atom_weights) == 3
    assert bad.error and "C1CC" not in (bad.canonical_smiles or "") and bad.atom_weights == []
    assert empty.error and empty.prediction is None
    with pytest.raises(ExplainError, match="'C1CC' has no explanation to draw"):
        draw_svg(bad)


def test_similarity_maps_are_svg_files_named_by_inchikey(tmp_path):
    model = bundle("rf", "morgan:counts=true", "standardize")
    found = explain(model, ["Clc1ccccc1O", "nonsense", "Oc1ccccc1Cl"])
    paths = write_svgs(found, tmp_path / "maps")
    assert paths[1] is None
    assert paths[0] == paths[2] == tmp_path / "maps" / f"{found[0].inchikey}.svg"
    text = paths[0].read_text()
    assert text.startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")


def test_a_model_without_a_training_mean_is_refused_before_any_molecule():
    """A masking explanation is measured from the training mean; a model that does not keep one (a
    model class outside the zoo, or pickled before it kept it) gets one sentence naming it."""
    model = pickle.loads(pickle.dumps(bundle("gp", "morgan:counts=true", "standardize")))
    del model.surrogate._y_mean
    with pytest.raises(ExplainError, match="model 'gp' keeps no training mean"):
        check_explainable(model)
    check_explainable(bundle("rf", "morgan:counts=true", "standardize"))  # shap is installed
