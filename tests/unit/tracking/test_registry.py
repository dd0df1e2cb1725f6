"""Model references, and the registry on a real SQLite MLflow store: aliases, promotion audit,
rollback, errors that list what exists, lineage and loading."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molops._version import __version__
from molops.features import get_featurizer
from molops.tracking._mlflow import TrackingError, mlflow
from molops.tracking.bundle import ModelBundle
from molops.tracking.registry import ModelRef, ModelRegistry

from .conftest import QUICK

NAME = "tiny-expt"


# -- references (no MLflow) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "name", "alias", "version", "uri"),
    [
        ("m", "m", "champion", None, "models:/m@champion"),
        ("freesolv-expt@challenger", "freesolv-expt", "challenger", None, "models:/freesolv-expt@challenger"),
        ("m:3", "m", None, 3, "models:/m/3"),
        ("  m:12 ", "m", None, 12, "models:/m/12"),
        ("my model@staging_2", "my model", "staging_2", None, "models:/my model@staging_2"),
    ],
)
def test_model_ref_parse(text, name, alias, version, uri):
    ref = ModelRef.parse(text)
    assert (ref.name, ref.alias, ref.version) == (name, alias, version)
    assert ref.uri == uri
    assert ModelRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text", ["", "  ", "@champion", ":3", "m@", "m:", "m:x", "m:-1", "m@a@b", "m:1:2", "m@a:1", "m@a b"]
)
def test_model_ref_parse_rejects(text):
    with pytest.raises(TrackingError, match="expected NAME, NAME@ALIAS or NAME:VERSION"):
        ModelRef.parse(text)


NAMES = st.text(st.characters(blacklist_characters="@:", blacklist_categories=["Cs"]), min_size=1).filter(
    lambda s: s == s.strip() and s != ""
)
ALIASES = st.from_regex(r"[A-Za-z0-9_-]+", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    NAMES, st.one_of(ALIASES.map(lambda a: ("alias", a)), st.integers(0, 10**9).map(lambda v: ("version", v)))
)
def test_model_ref_round_trips(name, pointer):
    kind, value = pointer
    ref = ModelRef(name=name, **{kind: value})
    assert ModelRef.parse(str(ref)) == ref


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_model_ref_parse_never_fails_otherwise(text):
    try:
        ref = ModelRef.parse(text)
    except TrackingError:
        return
    assert ref.name and "@" not in ref.name and ":" not in ref.name
    assert (ref.alias is None) != (ref.version is None)


# -- the registry ---------------------------------------------------------------------------------


def _aliases(registry: ModelRegistry) -> dict[str, int]:
    return registry.show(NAME)["aliases"]


@pytest.mark.slow
def test_first_version_is_champion_later_ones_challenger(tracked, registry):
    assert [tracked.runs[k].alias for k in ("v1", "v2", "v3")] == ["champion", "challenger", "challenger"]
    assert _aliases(registry) == {"challenger": 3, "champion": 1}
    history = registry.history(NAME)
    assert [(h["alias"], h["version"], h["previous"], h["operation"]) for h in history] == [
        ("champion", 1, None, "register"),
        ("challenger", 2, None, "register"),
        ("challenger", 3, 2, "register"),
    ]


@pytest.mark.slow
def test_list_and_show(tracked, registry):
    rows = {r["name"]: r for r in registry.list()}
    assert set(rows) == {NAME, "tiny-old", "tiny-time", "tiny-scaffold"}
    assert rows[NAME]["versions"] == 3
    assert rows[NAME]["latest_version"] == 3
    assert rows[NAME]["aliases"] == {"challenger": 3, "champion": 1}
    assert rows[NAME]["target"] == "expt"
    shown = registry.show(NAME)
    assert shown["tracking_uri"] == registry.tracking_uri
    assert shown["model_uri"] == f"models:/{NAME}@champion"
    assert [v["version"] for v in shown["versions"]] == [1, 2, 3]
    assert [v["aliases"] for v in shown["versions"]] == [["champion"], [], ["challenger"]]
    first = shown["versions"][0]
    assert first["run_id"] == tracked.runs["v1"].run_id
    assert first["metrics"]["rmse"] == pytest.approx(tracked.runs["v1"].metrics["rmse"])
    assert (first["model"], first["dataset"], first["dataset_version"]) == ("rf", "tiny", 2)
    assert first["model_uri"] == f"models:/{NAME}/1"
    assert first["promotions"]["champion"]["operation"] == "register"


@pytest.mark.slow
def test_promote_records_who_when_why_and_previous(registry):
    before = datetime.now(UTC).replace(microsecond=0)
    record = registry.promote(NAME, 3, reason="lower test RMSE")
    assert {k: record[k] for k in ("name", "alias", "version", "previous", "operation", "by", "reason")} == {
        "name": NAME,
        "alias": "champion",
        "version": 3,
        "previous": 1,
        "operation": "promote",
        "by": "tester",
        "reason": "lower test RMSE",
    }
    assert before <= datetime.fromisoformat(record["at"]) <= datetime.now(UTC)
    # the challenger became champion: it no longer holds the challenger alias
    assert _aliases(registry) == {"champion": 3}
    shown = registry.show(NAME)
    promotion = shown["versions"][2]["promotions"]["champion"]
    assert promotion == {k: record[k] for k in ("at", "by", "reason", "previous", "operation")}
    assert shown["history"][-1] == {k: v for k, v in record.items() if k not in ("name", "unchanged")}
    assert int(registry.resolve(NAME).version) == 3


@pytest.mark.slow
def test_list_updated_counts_alias_moves(registry, monkeypatch):
    """MLflow does not count an alias move as an update; "updated" must (ISO 8601, UTC)."""
    from molops.tracking import registry as module

    before = {r["name"]: r["updated"] for r in registry.list()}[NAME]
    assert datetime.fromisoformat(before).utcoffset() is not None
    monkeypatch.setattr(module, "_now", lambda: "2099-01-02T03:04:05+00:00")
    registry.promote(NAME, 3, reason="later")
    after = {r["name"]: r["updated"] for r in registry.list()}[NAME]
    assert after == "2099-01-02T03:04:05+00:00"


@pytest.mark.slow
def test_promoting_a_non_challenger_keeps_the_challenger(registry):
    registry.promote(NAME, 2, reason="x")
    assert _aliases(registry) == {"challenger": 3, "champion": 2}
    registry.promote(NAME, 1, alias="staging")
    assert _aliases(registry) == {"challenger": 3, "champion": 2, "staging": 1}
    assert int(registry.resolve(f"{NAME}@staging").version) == 1


@pytest.mark.slow
def test_promoting_the_current_version_again_changes_and_records_nothing(registry):
    registry.promote(NAME, 2)
    history = registry.history(NAME)
    again = registry.promote(NAME, 2, reason="clicked twice")
    assert again == {"name": NAME, "alias": "champion", "version": 2, "previous": 2, "unchanged": True}
    assert registry.history(NAME) == history
    assert registry.rollback(NAME)["version"] == 1  # the repeat did not hide the real previous version


@pytest.mark.slow
def test_rollback_walks_back(registry):
    registry.promote(NAME, 2)
    registry.promote(NAME, 3)
    back = registry.rollback(NAME, reason="regression in production")
    assert (back["version"], back["previous"], back["operation"]) == (2, 3, "rollback")
    assert back["reason"] == "regression in production"
    assert _aliases(registry)["champion"] == 2
    back = registry.rollback(NAME)
    assert (back["version"], back["previous"]) == (1, 2)
    assert back["reason"] == "rollback from version 2"
    assert _aliases(registry)["champion"] == 1
    with pytest.raises(TrackingError, match="'champion' \\(version 1\\) has no earlier version"):
        registry.rollback(NAME)
    assert _aliases(registry)["champion"] == 1


@pytest.mark.slow
def test_rollback_without_history(registry):
    with pytest.raises(TrackingError, match="has no earlier version to roll back to"):
        registry.rollback(NAME)
    with pytest.raises(TrackingError, match="has no 'staging' alias to roll back"):
        registry.rollback(NAME, alias="staging")
    assert _aliases(registry) == {"challenger": 3, "champion": 1}


@pytest.mark.slow
def test_unknown_names_versions_and_aliases_list_what_exists(registry):
    known = "tiny-expt, tiny-old, tiny-scaffold, tiny-time"
    with pytest.raises(TrackingError, match=f"no registered model 'nope'; registered models: {known}$"):
        registry.resolve("nope")
    with pytest.raises(
        TrackingError, match=r"has no version 9; versions: 1, 2, 3; aliases: challenger→v3, champion→v1$"
    ):
        registry.resolve(f"{NAME}:9")
    with pytest.raises(TrackingError, match=r"has no alias staging; versions: 1, 2, 3"):
        registry.resolve(f"{NAME}@staging")
    with pytest.raises(TrackingError, match="has no version 7"):
        registry.promote(NAME, 7)
    with pytest.raises(TrackingError, match="no registered model 'nope'"):
        registry.promote("nope", 1)
    with pytest.raises(TrackingError, match="has no version 4"):
        registry.lineage(NAME, 4)
    with pytest.raises(TrackingError, match="no registered model 'nope'"):
        registry.show("nope")
    assert _aliases(registry) == {"challenger": 3, "champion": 1}


@pytest.mark.slow
def test_a_store_without_models(registry):
    for name in registry.names():
        registry.client.delete_registered_model(name)
    assert registry.names() == []
    assert registry.list() == []
    with pytest.raises(TrackingError, match="none yet; train one with `molops train`"):
        registry.resolve("m")


@pytest.mark.slow
def test_lineage(tracked, registry):
    run = tracked.runs["v1"]
    info = registry.lineage(NAME, 1)
    assert {k: info[k] for k in ("name", "version", "run_id", "dataset", "dataset_version", "target")} == {
        "name": NAME,
        "version": 1,
        "run_id": run.run_id,
        "dataset": "tiny",
        "dataset_version": 2,
        "target": "expt",
    }
    assert (info["model"], info["featurizer"]) == ("rf", run.featurizer)
    assert info["featurizer_hash"] == get_featurizer(run.featurizer).hash
    assert info["params"] == run.params
    assert info["params"]["n_estimators"] == QUICK["n_estimators"]
    assert (info["split"], info["seed"], info["tuned"]) == ("random", 0, False)
    assert info["code"]["molops_version"] == __version__
    sha = info["code"]["git_sha"]
    assert sha is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", sha)
    assert info["environment"]["molops"] == __version__
    assert info["metrics"]["rmse"] == pytest.approx(run.metrics["rmse"])
    assert registry.lineage(NAME, 3)["seed"] == 1
    old = registry.lineage("tiny-old", 1)
    assert old["dataset_version"] == 1
    assert registry.lineage("tiny-time", 1)["split"] == "time"


@pytest.mark.slow
def test_load_returns_a_bundle_that_predicts(tracked, registry):
    bundle, mv = registry.load(NAME)
    assert isinstance(bundle, ModelBundle)
    assert (mv.name, int(mv.version), mv.run_id) == (NAME, 1, tracked.runs["v1"].run_id)
    assert bundle.info.dataset_version == 2
    assert bundle.info.n_train == tracked.runs["v1"].n_train
    out = bundle.predict(["CCO", "xyz", "c1ccccc1O"])
    assert np.isfinite(out["mean"][[0, 2]]).all()
    assert out["error"][1].startswith("unparsable_structure")
    _, mv = registry.load(f"{NAME}:3")
    assert int(mv.version) == 3


@pytest.mark.slow
def test_load_notes_a_model_trained_by_another_molops_version(registry, monkeypatch, caplog):
    import molops.tracking.registry as registry_module

    with caplog.at_level("WARNING", logger="molops.registry"):
        registry.load(NAME)
    assert caplog.records == []  # trained by this version: nothing to say
    monkeypatch.setattr(registry_module, "__version__", "99.0")
    with caplog.at_level("WARNING", logger="molops.registry"):
        registry.load(NAME)
    [record] = caplog.records
    assert record.getMessage().startswith(f"model {NAME} version 1 was trained with molops {__version__} ")
    assert "is loaded by molops 99.0" in record.getMessage()


@pytest.mark.slow
def test_load_uses_the_registry_store_not_the_global_tracking_uri(tracked, registry, tmp_path):
    mod = mlflow()
    before = mod.get_tracking_uri()
    mod.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        bundle, mv = registry.load("tiny-old")
    finally:
        mod.set_tracking_uri(before)
    assert mv.run_id == tracked.runs["old"].run_id
    assert bundle.info.dataset_version == 1
    assert bundle.info.n_train == tracked.runs["old"].n_train
    assert mod.get_tracking_uri() == before
