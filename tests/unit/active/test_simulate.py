"""Retrospective simulation: the oracle library, sizes, the top-k metric, and that learning helps."""

from __future__ import annotations

import datamol as dm
import numpy as np
import pytest

from molops.active.recipe import Recipe, featurize
from molops.active.simulate import (
    Library,
    SimulationError,
    load_library,
    simulate,
    size_of,
    top_k_indices,
)


@pytest.fixture(scope="module")
def freesolv() -> Library:
    frame = dm.data.freesolv()
    return Library(
        frame["smiles"].tolist(), [f"K{i}" for i in range(len(frame))], frame["expt"].to_numpy(), "freesolv"
    )


def test_size_is_a_fraction_below_one_and_a_count_from_one():
    assert size_of(0.01, 10_446, "--init") == 104
    assert size_of(25, 100, "--batch") == 25
    with pytest.raises(SimulationError, match="--batch must be positive"):
        size_of(0, 100, "--batch")
    with pytest.raises(SimulationError, match=r"--init 0\.001 gives 0 molecules of a library of 100"):
        size_of(0.001, 100, "--init")


def test_top_k_breaks_ties_by_file_order():
    y = np.array([-9.9, -9.9, -8.0, -9.9, -5.0])
    assert top_k_indices(y, 2, maximize=False).tolist() == [0, 1]
    assert top_k_indices(y, 1, maximize=True).tolist() == [4]


def test_load_library_reports_rejected_rows_and_keeps_the_first_of_duplicates(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text(
        "smiles,score\n"
        "CCO,-5.0\n"
        "not a molecule,-6.0\n"
        ",-7.0\n"
        "c1ccccc1O,n/a\n"
        "OCC,-8.0\n"  # ethanol again, written differently: the first value stays
        "[Na+].[O-]C(=O)c1ccccc1,-4.5\n"  # benzoate salt → benzoic acid parent
        "c1ccccc1,abc\n"
    )
    library = load_library(path, "smiles", "score")
    assert library.smiles == ["CCO", "O=C(O)c1ccccc1"]
    assert library.y.tolist() == [-5.0, -4.5]
    assert library.report() == {
        "source": str(path),
        "rows_in": 7,
        "molecules": 2,
        "duplicates": 1,
        "rejected": {
            "unparsable_structure": 1,
            "empty_structure": 1,
            "missing_target": 1,
            "non_numeric_target": 1,
        },
    }


def test_featurize_joins_featurizers_column_wise():
    X, valid = featurize(["CCO", "c1ccccc1"], "morgan:length=64+maccs")
    assert X.shape == (2, 64 + 167) and X.dtype == np.float32 and valid.all()


def test_simulation_rejects_sizes_that_do_not_fit(freesolv):
    with pytest.raises(SimulationError, match=r"64 initial \+ 10 × 64 molecules exceed the library of 642"):
        simulate(freesolv, Recipe(), maximize=True, init=0.1, batch=0.1, iterations=10, repeats=1)


@pytest.mark.slow
def test_a_short_simulation_beats_random_by_a_wide_margin(freesolv):
    kwargs = dict(maximize=False, init=30, batch=30, iterations=4, top_k=0.05, repeats=3, seed=1)
    model = simulate(freesolv, Recipe(model="rf", model_params={"n_estimators": 100}), **kwargs)
    chance = simulate(
        freesolv, Recipe(model="rf", acquisition="random", model_params={"n_estimators": 5}), **kwargs
    )
    assert [p.evaluated for p in model.curve] == [30, 60, 90, 120, 150]
    assert model.protocol["top_k"] == 32 and len(model.repeats) == 3
    # random finds about evaluated/642 of the hits (≈ 0.23 at 150); the model at least twice that
    assert chance.final.top_k_found_mean < 0.4
    assert model.final.top_k_found_mean > max(0.5, 2 * chance.final.top_k_found_mean)
    assert model.curve[0].top_k_found_mean == chance.curve[0].top_k_found_mean  # same initial batches


def test_the_same_seed_gives_the_same_curve(freesolv):
    kwargs = dict(maximize=True, init=20, batch=20, iterations=2, repeats=2, seed=5)
    recipe = Recipe(model="rf", model_params={"n_estimators": 20}, max_similarity=0.8)
    assert simulate(freesolv, recipe, **kwargs).repeats == simulate(freesolv, recipe, **kwargs).repeats


#: The smallest D-MPNN worth fitting: the tests check the plumbing, not the model.
TINY_DMPNN = {"n_members": 2, "epochs": 3, "hidden": 32, "ffn_hidden": 32, "accelerator": "cpu"}


@pytest.mark.slow
def test_a_smiles_model_replays_the_loop_on_the_standardised_smiles(freesolv):
    recipe = Recipe(model="dmpnn", model_params=TINY_DMPNN)
    assert recipe.check().canonical().featurizer == "graph"
    X, valid = featurize(freesolv.smiles[:5], "graph")
    assert X.dtype == object and list(X) == freesolv.smiles[:5] and valid.all()
    kwargs = dict(maximize=False, init=30, batch=30, iterations=2, top_k=0.05, repeats=1, seed=1)
    result = simulate(freesolv, recipe, **kwargs)
    assert [p.evaluated for p in result.curve] == [30, 60, 90]
    assert result.recipe["featurizer"] == "graph" and result.library["invalid_features"] == 0


def test_repeats_run_apart_give_the_curves_of_one_run(freesolv):
    kwargs = dict(maximize=True, init=20, batch=20, iterations=1, seed=3)
    recipe = Recipe(model="rf", model_params={"n_estimators": 10})
    together = simulate(freesolv, recipe, repeats=3, **kwargs).repeats
    apart = [simulate(freesolv, recipe, repeats=1, first_repeat=r, **kwargs).repeats[0] for r in range(3)]
    assert apart == together
