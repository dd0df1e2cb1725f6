"""Several objectives: reading ``--objective`` specs, the desirability and pareto scores, batch
picking along the front, and old single-objective campaign files still loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from molops.active.multi_acquisition import measured_front, pick_pareto, scoring_for
from molops.active.objectives import ObjectiveSpecError, objectives_of, parse_objective
from molops.active.state import CampaignConfig, MultiObjective, Objective


def test_specs_read_direction_weight_and_constraints() -> None:
    assert parse_objective("score:min") == Objective(target="score", maximize=False)
    o = parse_objective("solubility:max:weight=0.5")
    assert (o.target, o.maximize, o.weight, o.constraint) == ("solubility", True, 0.5, False)
    o = parse_objective("herg:MAX:below=5,above=1")
    assert (o.below, o.above, o.constraint) == (5.0, 1.0, True)
    first, multi = objectives_of(["score:min", "qed:max"], "desirability", 0.5)
    assert first.target == "score" and multi is not None
    assert multi.targets == ["score", "qed"] and multi.acquisition == "desirability" and multi.kappa == 0.5
    assert objectives_of(["score:min"]) == (Objective(target="score", maximize=False), None)


@pytest.mark.parametrize(
    ("specs", "fragment"),
    [
        (["score"], "--objective 'score': expected TARGET:min or TARGET:max"),
        (["score:lowest"], "the direction must be min or max, not 'lowest'"),
        (["score:min:weight"], "'weight' is not an option"),
        (["score:min:colour=red"], "'colour=red' is not an option"),
        (["score:min:weight=heavy"], "weight must be a number; got 'heavy'"),
        (["score:min:weight=0"], "weight must be above 0"),
        (["score:min:below=nan"], "below must be a number"),
        (["x:max:below=1,above=2"], "below= must be above above="),
        (["score:min", "score:max"], "names 'score' twice"),
        (["score:min:below=3"], "a campaign with one objective takes its direction"),
        (["a:min", "b:max:threshold=2"], "threshold= (what counts as a hit) is for the first objective only"),
        (["a:min", "b:max"], "--multi-acquisition 'nsga'"),
        (["a:min:below=1", "b:max:above=2"], "at least one with a direction to optimise"),
        (["a:min", "b:max", "c:max", "d:max"], "got a, b, c, d"),
    ],
)
def test_bad_specs_are_one_sentence_naming_them(specs: list[str], fragment: str) -> None:
    acquisition = "nsga" if "nsga" in fragment else "pareto"
    with pytest.raises(ObjectiveSpecError) as err:
        objectives_of(specs, acquisition)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def _multi(*specs: str, kind: str = "pareto", kappa: float = 0.0) -> MultiObjective:
    multi = objectives_of(list(specs), kind, kappa)[1]
    assert multi is not None
    return multi


def test_desirability_is_the_weighted_geometric_mean_of_normal_cdfs() -> None:
    multi = _multi("a:max", "b:min:weight=3", kind="desirability")
    measured = {"a": np.array([0.0, 1.0, 2.0]), "b": np.array([5.0, 4.0, 3.0])}
    scoring = scoring_for(multi, measured)
    mean = np.array([[1.5, -4.0]])  # utilities: b is minimised, so -4 means b = 4
    got = scoring.score(mean, np.full((1, 2), 0.1))
    d_a = norm.cdf((1.5 - 1.0) / np.std([0.0, 1.0, 2.0]))
    d_b = norm.cdf((-4.0 - -4.0) / np.std([-5.0, -4.0, -3.0]))
    assert got[0] == pytest.approx((d_a * d_b**3) ** (1 / 4))


def test_a_below_constraint_is_a_smooth_step_of_the_predicted_value() -> None:
    multi = _multi("a:max", "herg:max:below=5", kind="desirability", kappa=1.0)
    scoring = scoring_for(multi, {"a": np.array([0.0, 1.0]), "herg": np.array([4.0, 6.0])})
    std = np.array([[1.0, 0.5], [1.0, 0.5], [1.0, 0.5]])
    mean = np.array([[1.0, 3.0], [1.0, 5.0], [1.0, 7.0]])
    logd = scoring.log_desirability(mean, std)[:, 1]
    np.testing.assert_allclose(np.exp(logd), norm.cdf((5 - mean[:, 1]) / 0.5 + 1.0), rtol=1e-9)
    assert np.all(np.diff(scoring.score(mean, std)) < 0)  # further above 5: less desirable


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(0.01, 2))
def test_desirability_rises_with_each_objective(a: float, b: float, step: float) -> None:
    multi = _multi("a:max", "b:min", kind="desirability", kappa=1.0)
    scoring = scoring_for(multi, {"a": np.array([-1.0, 0.0, 1.0]), "b": np.array([1.0, 0.0, -1.0])})
    std = np.full((3, 2), 0.3)
    mean = np.array([[a, b], [a + step, b], [a, b + step]])
    s = scoring.score(mean, std)
    assert s[1] >= s[0] and s[2] >= s[0]


def test_pareto_scores_the_improvement_then_the_shortfall() -> None:
    multi = _multi("x:max", "y:max")
    measured = {"x": np.array([0.0, 1.0, 0.5]), "y": np.array([1.0, 0.0, 0.5])}
    scoring = scoring_for(multi, measured)
    # normalised: (0,1), (1,0), (.5,.5) all on the front; reference -0.1
    mean = np.array([[1.0, 1.0], [0.5, 0.5], [0.25, 0.25]])
    s = scoring.score(mean, np.zeros((3, 2)))
    # the box of (1, 1) above the reference is 1.1² = 1.21; the front already holds
    # 0.1 × 1.1 + 0.5 × 0.6 + 0.5 × 0.1 = 0.46 of it
    assert s[0] == pytest.approx(1.21 - 0.46, rel=1e-9)
    assert s[1] == 0.0  # on the front: adds nothing and is not behind
    assert s[2] == pytest.approx(-0.25)  # 0.25 short of (0.5, 0.5) in both


def test_measured_front_needs_every_objective_and_the_constraints() -> None:
    objectives = _multi("x:max", "y:max", "tox:min:below=1").objectives
    measured = {
        "x": np.array([3.0, 1.0, 2.0, 5.0, 0.0]),
        "y": np.array([1.0, 3.0, 0.5, 5.0, 0.0]),
        "tox": np.array([0.0, 0.0, 0.0, 2.0, np.nan]),
    }
    # (5,5) breaks the constraint, the last lacks tox: the front is the first two
    assert measured_front(objectives, measured).tolist() == [True, True, False, False, False]


def test_pareto_batch_spreads_along_the_front() -> None:
    multi = _multi("x:max", "y:max")
    scoring = scoring_for(multi, {"x": np.array([0.0, 1.0]), "y": np.array([1.0, 0.0])})
    # a tight cluster just beyond the x-end of the front, and one candidate beyond its y-end:
    # greedy top-2 takes two of the cluster; the believer takes one of each
    mean = np.array([[1.3, 0.3], [1.29, 0.3], [1.28, 0.29], [0.2, 1.1]])
    fps, std = np.zeros((4, 128), np.uint8), np.zeros_like(mean)
    assert sorted(pick_pareto(scoring, mean, std, 2, fps, 1.0).tolist()) == [0, 3]
    assert sorted(pick_pareto(scoring, mean, std, 4, fps, 1.0).tolist()) == [0, 1, 2, 3]


def test_an_old_campaign_file_loads_with_one_objective() -> None:
    old = {
        "name": "c",
        "dataset": "d",
        "pool": "/p.csv",
        "objective": {"target": "score", "maximize": False, "threshold": -9.0},
        "recipe": {},
        "created": "2026-01-01T00:00:00+00:00",
        "created_by": "alice",
        "molops_version": "0.1.0",
    }
    cfg = CampaignConfig.model_validate(old)
    assert cfg.multi is None and cfg.objectives == [cfg.objective]
    assert cfg.objective.weight == 1.0 and not cfg.objective.constraint


def test_a_pareto_campaign_proposes_the_same_batch_in_process_and_on_workers(tmp_path) -> None:
    """Workers load every objective's model from the campaign folder and score the same."""
    import datamol as dm
    import pandas as pd
    from rdkit import Chem
    from rdkit.Chem import Crippen

    from molops import Workspace
    from molops.active import Campaign
    from molops.active.recipe import Recipe
    from molops.compute.local import LocalExecutor

    df = dm.data.freesolv()[["smiles", "expt"]]
    df["logp"] = [Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in df["smiles"]]
    order = np.random.default_rng(1).permutation(len(df))
    df.iloc[order[:50]].to_csv(tmp_path / "measured.csv", index=False)
    df.iloc[order[50:]][["smiles"]].to_csv(tmp_path / "pool.csv", index=False)
    ws = Workspace.init(tmp_path / "ws")
    for target in ("expt", "logp"):
        ws.dataset("fs").ingest(tmp_path / "measured.csv", smiles_col="smiles", target_col=target)
    first, multi = objectives_of(["expt:min", "logp:max"])
    recipe = Recipe(featurizer="morgan", model="rf", model_params={"n_estimators": 30, "n_jobs": 1})
    batches = []
    for name, executor in (("here", None), ("workers", LocalExecutor(2, preload=("molops.active.multi",)))):
        campaign = Campaign.create(
            ws, name, dataset="fs", pool=tmp_path / "pool.csv", objective=first, multi=multi, recipe=recipe,
            batch_size=8,
        )  # fmt: skip
        batches.append(
            pd.DataFrame(campaign.propose(chunk_rows=97, executor=executor, track=False).proposals)
        )
    here, there = batches
    assert list(here["inchikey"]) == list(there["inchikey"])
    np.testing.assert_allclose(here["predicted_mean_logp"], there["predicted_mean_logp"])
    assert (Path(ws.root) / "campaigns" / "workers" / "model" / "objective-2" / "model.pkl").is_file()


def test_desirability_of_constraints_alone_is_refused() -> None:
    """It used to pass create and crash at propose (a front without axes)."""
    with pytest.raises(ObjectiveSpecError, match="at least one with a direction to optimise"):
        objectives_of(["a:min:below=1", "b:max:above=2"], "desirability")
