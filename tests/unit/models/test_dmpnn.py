"""chemprop's D-MPNN (``dmpnn``): SMILES in, mean and std out; checkpoints, resume, pickling."""

from __future__ import annotations

import pickle
import subprocess
import sys
from functools import cache

import numpy as np
import pytest

pytest.importorskip("chemprop")  # the suite installs the gnn extra; this only guards a bare install

import torch

from molops.models import MODELS, InvalidModelError, Surrogate, get_model
from molops.models.zoo import dmpnn

from .conftest import FAR_SMILES, freesolv

#: small, fast networks: a few seconds per fit on one core
SMALL = {
    "hidden": 64,
    "ffn_hidden": 64,
    "batch_size": 8,
    "max_lr": 3e-3,
    "final_lr": 3e-4,
    "aggregation": "sum",
}


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def tiny() -> tuple[np.ndarray, np.ndarray]:
    """Forty FreeSolv molecules: SMILES and hydration free energies (kcal/mol)."""
    df = freesolv().iloc[:40]
    return df["smiles"].to_numpy(), df["expt"].to_numpy()


@cache
def fitted() -> dmpnn.DMPNN:
    """A two-member ensemble trained to overfit tiny(); shared, do not refit."""
    X, y = tiny()
    return get_model("dmpnn", n_members=2, epochs=40, **SMALL).fit(X, y)  # type: ignore[return-value]


def test_registered_and_takes_smiles():
    assert "dmpnn" in MODELS
    cls = MODELS.get("dmpnn")
    assert cls.name == "dmpnn" and cls.inputs == "smiles"
    assert {"mean", "std", "samples"} <= cls.provides
    assert get_model("dmpnn").describe()["inputs"] == "smiles"


def test_importing_the_models_does_not_import_torch():
    code = (
        "import sys, molops.models; assert 'dmpnn' in molops.models.MODELS; print(sorted("
        "m for m in ('torch', 'lightning', 'chemprop') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_without_chemprop_it_says_what_to_install(monkeypatch):
    model = get_model("dmpnn")
    monkeypatch.setitem(sys.modules, "chemprop", None)  # as if not installed
    with pytest.raises(InvalidModelError, match=r"install the gnn extra: pip install 'molops\[gnn\]'"):
        get_model("dmpnn")
    with pytest.raises(InvalidModelError, match=r"pip install 'molops\[gnn\]'"):
        model.fit(*tiny())


def test_params_are_validated():
    with pytest.raises(InvalidModelError, match="has no parameter 'n_layers'"):
        get_model("dmpnn", n_layers=2)
    with pytest.raises(InvalidModelError, match="'aggregation'"):
        get_model("dmpnn", aggregation="max")
    with pytest.raises(InvalidModelError, match="needs n_members >= 2"):
        get_model("dmpnn", n_members=1)
    with pytest.raises(InvalidModelError, match="resume=True needs a checkpoint_dir"):
        get_model("dmpnn", resume=True)
    with pytest.raises(InvalidModelError, match="'devices'"):
        get_model("dmpnn", devices=0)
    get_model("dmpnn", uncertainty="mve", n_members=1, devices=1, accelerator="cpu")


def test_bad_inputs_are_one_clear_sentence():
    model = get_model("dmpnn")
    X, y = tiny()
    cases = [
        ((np.zeros((40, 8)), y), "takes SMILES: X must be a 1-D sequence of SMILES strings; got shape"),
        ((np.arange(40.0), y), r"40 of 40 values of X are not strings \(row 0: 0.0 of type float\)"),
        ((["CCO", "C1CC", "CCN"], y[:3]), r"row 1 of X, 'C1CC', is not a SMILES RDKit can parse"),
        ((["CCO", "", "CCN"], y[:3]), r"row 1 of X, '', is not a SMILES"),
        (([], []), "X has no SMILES"),
        (("CCO", [1.0]), "not one string"),
        ((X, y[:39]), "X has 40 SMILES but y has 39 values"),
        ((X, np.full(40, np.nan)), "y has 40 NaN or infinite values"),
        ((X[:1], y[:1]), "at least 2 training molecules"),
    ]
    for args, message in cases:
        with pytest.raises(InvalidModelError, match=message):
            model.fit(*args)
    with pytest.raises(InvalidModelError, match="not fitted; call fit"):
        model.predict(X)


@pytest.mark.slow
def test_can_overfit_a_tiny_set():
    X, y = tiny()
    mean, std = fitted().predict(X)
    assert mean.shape == std.shape == (40,)
    assert mean.dtype == std.dtype == np.float64
    assert rmse(mean, y) < 0.25 * y.std()
    assert np.isfinite(std).all() and (std > 0).all()


@pytest.mark.slow
def test_predicts_new_molecules_in_batches_and_rejects_bad_smiles(monkeypatch):
    model = fitted()
    mean, std = model.predict(FAR_SMILES)
    assert mean.shape == std.shape == (len(FAR_SMILES),)
    assert np.isfinite(mean).all() and (std > 0).all()
    monkeypatch.setattr(dmpnn, "PREDICT_BATCH", 4)  # 6 molecules → batches of 4 and 2
    batched = model.predict(FAR_SMILES)
    np.testing.assert_allclose(batched[0], mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched[1], std, rtol=1e-5, atol=1e-4)
    with pytest.raises(InvalidModelError, match=r"row 2 of X, 'not a smiles'"):
        model.predict(["CCO", "CCN", "not a smiles"])
    with pytest.raises(InvalidModelError, match="not strings"):
        model.predict(np.zeros(3))


@pytest.mark.slow
def test_ensemble_samples_are_member_predictions():
    model = fitted()
    every = model.member_predictions(FAR_SMILES)
    assert every.shape == (2, len(FAR_SMILES))
    mean, std = model.predict(FAR_SMILES)
    np.testing.assert_allclose(every.mean(axis=0), mean)
    np.testing.assert_allclose(every.std(axis=0), std)
    drawn = model.sample(FAR_SMILES, 4, seed=0)
    assert drawn.shape == (4, len(FAR_SMILES))
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, np.concatenate([every, every])))


@pytest.mark.slow
def test_save_load_round_trip_predicts_identically(tmp_path):
    model = fitted()
    X, _ = tiny()
    loaded = Surrogate.load(model.save(tmp_path / "dmpnn"))
    assert type(loaded) is type(model) and loaded.params == model.params and loaded.fitted
    for a, b in zip(model.predict(X), loaded.predict(X), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.sample(X, 3, seed=1), loaded.sample(X, 3, seed=1))
    twin = pickle.loads(pickle.dumps(model.clone()))
    assert not twin.fitted and twin.params == model.params


@pytest.mark.slow
def test_mve_head_gives_a_finite_positive_std_quietly(tmp_path, monkeypatch, capfd):
    X, y = tiny()
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    one = get_model("dmpnn", uncertainty="mve", n_members=1, epochs=15, **SMALL).fit(X, y)
    mean, std = one.predict(X)
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()
    assert rmse(mean, y) < y.std()
    assert capfd.readouterr() == ("", "")  # no progress bar, device summary or model summary
    assert list(tmp_path.iterdir()) == []  # no lightning_logs or checkpoints in the working directory

    two = get_model("dmpnn", uncertainty="mve", n_members=2, epochs=3, **SMALL).fit(X, y)
    means, variances = two._member_outputs(X)
    assert variances is not None and (variances > 0).all()
    mean, std = two.predict(X)
    np.testing.assert_allclose(std**2, variances.mean(axis=0) + means.var(axis=0))
    draws = two.sample(X, 5, seed=0)
    assert draws.shape == (5, 40) and np.isfinite(draws).all()


@pytest.mark.slow
def test_checkpoints_and_resume(tmp_path):
    X, y = tiny()
    # val_fraction 0.25 of 40 molecules: a 10-molecule validation split picks the best epoch
    params = {"n_members": 2, "val_fraction": 0.25, "checkpoint_dir": str(tmp_path), **SMALL}
    first = get_model("dmpnn", epochs=3, **params).fit(X, y)
    for member in ("member-0", "member-1"):
        assert {p.name for p in (tmp_path / member).iterdir()} == {"last.ckpt", "best.ckpt"}
    logs = first.training_log_
    assert [(log["start_epoch"], log["epochs"], log["n_val"]) for log in logs] == [(0, 3, 10)] * 2
    assert all(log["best_val_loss"] is not None for log in first.training_log_)

    resumed = get_model("dmpnn", epochs=5, resume=True, **params).fit(X, y)
    assert [(log["start_epoch"], log["epochs"]) for log in resumed.training_log_] == [(3, 5)] * 2
    assert resumed.training_log_[0]["resumed_from"] == str(tmp_path / "member-0" / "last.ckpt")
    mean, std = resumed.predict(X)
    assert np.isfinite(mean).all() and (std > 0).all()

    with pytest.raises(InvalidModelError, match="other hyperparameters"):
        get_model("dmpnn", epochs=6, resume=True, **{**params, "hidden": 32}).fit(X, y)

    # without a validation split best.ckpt is the last epoch
    get_model("dmpnn", epochs=1, val_fraction=0.0, checkpoint_dir=str(tmp_path / "noval"), **SMALL).fit(X, y)
    for member in ("member-0", "member-1"):
        assert {p.name for p in (tmp_path / "noval" / member).iterdir()} == {"last.ckpt", "best.ckpt"}


@pytest.mark.slow
def test_seed_makes_it_deterministic():
    X, y = tiny()
    first = get_model("dmpnn", epochs=2, seed=3, **SMALL).fit(X, y).predict(X)
    again = get_model("dmpnn", epochs=2, seed=3, **SMALL).fit(X, y).predict(X)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without a GPU")
def test_accelerator_falls_back_to_cpu_without_a_gpu():
    assert get_model("dmpnn").accelerator_ == "cpu"
    assert get_model("dmpnn", accelerator="cpu").accelerator_ == "cpu"
    with pytest.raises(InvalidModelError, match="accelerator='gpu' but torch sees no GPU"):
        get_model("dmpnn", accelerator="gpu").fit(*tiny())


def test_search_space_builds_valid_models():
    optuna = pytest.importorskip("optuna")
    trial = optuna.trial.FixedTrial(
        {"depth": 4, "hidden": 200, "ffn_layers": 2, "dropout": 0.1, "max_lr": 1e-3, "batch_size": 32}
    )
    params = dmpnn.DMPNN.search_space(trial)
    assert get_model("dmpnn", **params).params.hidden == 200


@pytest.mark.slow
def test_rdkit2d_descriptors_join_the_encoding_and_travel_with_the_model():
    X, y = tiny()
    model = get_model("dmpnn", descriptors="rdkit2d", n_members=2, epochs=30, seed=1, **SMALL).fit(X, y)
    net = model._networks()[0][0]
    width = len(model._xd_mean)
    assert width > 100 and net.predictor.input_dim == 64 + width  # descriptors beside the 64-d encoding
    mean, std = model.predict(X)
    assert rmse(mean, y) < 0.5 * float(np.std(y)) and (std > 0).all()
    # the training scaling is stored with the model: a pickled copy predicts identically, and a
    # molecule outside the training range is clipped rather than blowing up the head
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(X)[0], mean, rtol=1e-5)
    far = again.predict(np.array(FAR_SMILES))[0]
    assert np.isfinite(far).all()


def test_graphs_are_built_by_loader_processes_only_for_large_gpu_predictions(monkeypatch):
    from molops.models.zoo import _graph_data as data

    monkeypatch.setattr(data.os, "cpu_count", lambda: 16)
    assert data.loader_workers(None, "cuda", 20_000) == 8
    assert data.loader_workers(None, "cuda", 1_000) == 0  # a few batches: not worth starting them
    assert data.loader_workers(None, "cpu", 20_000) == 0  # the network needs the cores
    assert data.loader_workers(3, "cpu", 10) == 3  # what the user asked for, always
    monkeypatch.setattr(data.os, "cpu_count", lambda: 2)
    assert data.loader_workers(None, "cuda", 20_000) == 1


def test_predictions_are_identical_to_those_on_chemprops_graphs(monkeypatch):
    """Prediction batches are built by molops' batched featuriser; the networks see exactly the
    tensors chemprop's featuriser and collate would give them, so every member predicts the same."""
    from chemprop.data import Datum, collate_batch
    from rdkit import Chem

    from molops.features.graph import GraphFeaturizer
    from molops.models.zoo._graph_data import descriptor_matrix, standardised

    X, y = tiny()
    model = get_model("dmpnn", descriptors="rdkit2d", epochs=2, seed=3, **SMALL).fit(X, y)
    smiles = np.concatenate([X, FAR_SMILES, ["C", "[Na+].[Cl-]", "F/C=C/F", "N->[Cu+2]"]])
    monkeypatch.setattr(dmpnn, "PREDICT_BATCH", 16)  # several batches, the last one short
    nets, _ = model._networks()
    featurizer = GraphFeaturizer().chemprop_featurizer()
    expected = []
    for start in range(0, len(smiles), 16):
        batch = collate_batch(
            [
                Datum(featurizer(Chem.MolFromSmiles(s)), None,
                      standardised(descriptor_matrix([s]), *model._scaling())[0], None, 1.0, None, None)
                for s in smiles[start : start + 16]
            ]
        )  # fmt: skip
        with torch.inference_mode():
            expected.append(np.stack([net(batch.bmg, None, batch.X_d).float().numpy()[:, 0] for net in nets]))
    want = np.concatenate(expected, axis=1).astype(np.float64) * model._y_scale + model._y_mean
    np.testing.assert_array_equal(model.member_predictions(smiles), want)
    # built in a loader process instead (the dataset and its collate function pickle): the same
    model.params = model.params.model_copy(update={"num_workers": 1})
    np.testing.assert_array_equal(model.member_predictions(smiles), want)


def test_fit_reports_every_epoch_of_every_member():
    """The CLI draws its bar from these calls; the model itself prints nothing."""
    X, y = tiny()
    calls: list[tuple[int, int]] = []
    get_model("dmpnn", n_members=2, epochs=2, **SMALL).fit(X, y, progress=lambda *a: calls.append(a))
    # start, then per member: each epoch, and the member's end (its last epoch again)
    assert calls == [(0, 4), (1, 4), (2, 4), (2, 4), (3, 4), (4, 4), (4, 4)]


def test_reporting_epochs_reaches_fits_deeper_down():
    """``molops train`` reaches the fit through the training recipe, which passes no callback."""
    X, y = tiny()
    calls: list[tuple[int, int]] = []
    with dmpnn.reporting_epochs(lambda *a: calls.append(a)):
        get_model("dmpnn", uncertainty="mve", n_members=1, epochs=2, **SMALL).fit(X, y)
    get_model("dmpnn", uncertainty="mve", n_members=1, epochs=1, **SMALL).fit(X, y)  # outside: unheard
    assert calls == [(0, 2), (1, 2), (2, 2), (2, 2)]
