"""Workspace: init, open, find (explicit → $MOLOPS_WORKSPACE → cwd upward), names, layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from molops import Workspace
from molops.config import CONFIG_FILE, TEMPLATE, MolopsConfig
from molops.errors import (
    ConfigError,
    DatasetNotFoundError,
    InvalidNameError,
    WorkspaceExistsError,
    WorkspaceNotFoundError,
)
from molops.workspace import ENV_VAR, check_name


# -- init / open -------------------------------------------------------------------------------
def test_init_writes_the_commented_template(tmp_path):
    ws = Workspace.init(tmp_path / "a" / "b")
    root = (tmp_path / "a" / "b").resolve()
    assert ws.root == root
    text = (root / CONFIG_FILE).read_text(encoding="utf-8")
    assert text == TEMPLATE
    assert text.startswith("# molops workspace configuration")
    assert sum(line.startswith("#") for line in text.splitlines()) >= 10
    assert (root / ".molops" / "locks").is_dir()
    assert ws.config == MolopsConfig()


def test_init_into_an_existing_workspace_is_refused(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[ingest]\nworkers = 3\n", encoding="utf-8")
    with pytest.raises(WorkspaceExistsError, match="already a molops workspace"):
        Workspace.init(tmp_path)
    # the existing configuration is left alone
    assert (tmp_path / CONFIG_FILE).read_text(encoding="utf-8") == "[ingest]\nworkers = 3\n"


def test_init_into_an_existing_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    Workspace.init(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_open_reads_the_config(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[ingest]\naggregation = 'median'\n", encoding="utf-8")
    ws = Workspace.open(tmp_path)
    assert ws.config.ingest.aggregation == "median"
    assert ws.root == tmp_path.resolve()


def test_open_a_directory_without_a_workspace(tmp_path):
    with pytest.raises(WorkspaceNotFoundError) as info:
        Workspace.open(tmp_path)
    message = str(info.value)
    assert str(tmp_path.resolve()) in message
    assert f"no {CONFIG_FILE}" in message
    assert "molops init" in message


def test_open_with_an_unknown_key_names_the_key_and_the_file(tmp_path):
    Workspace.init(tmp_path)
    config = tmp_path / CONFIG_FILE
    config.write_text(TEMPLATE.replace("workers = 0", "workers = 0\nwrokers = 2"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Workspace.open(tmp_path)
    message = str(info.value)
    assert "unknown key 'ingest.wrokers'" in message
    assert str(config.resolve()) in message


def test_open_with_an_invalid_value(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[ingest]\nworkers = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid value for 'ingest\.workers'"):
        Workspace.open(tmp_path)


def test_env_overrides_apply_when_opening(tmp_path, monkeypatch):
    Workspace.init(tmp_path)
    monkeypatch.setenv("MOLOPS_INGEST__WORKERS", "6")
    assert Workspace.open(tmp_path).config.ingest.workers == 6


# -- find --------------------------------------------------------------------------------------
@pytest.fixture
def three(tmp_path):
    """Three workspaces: explicit, env and cwd, plus a directory deep inside the cwd one."""
    roots = {name: Workspace.init(tmp_path / name).root for name in ("explicit", "env", "cwd")}
    deep = roots["cwd"] / "x" / "y" / "z"
    deep.mkdir(parents=True)
    return roots, deep


def test_find_prefers_the_explicit_path(three, monkeypatch):
    roots, deep = three
    monkeypatch.setenv(ENV_VAR, str(roots["env"]))
    assert Workspace.find(roots["explicit"], cwd=deep).root == roots["explicit"]
    assert Workspace.find(str(roots["explicit"]), cwd=deep).root == roots["explicit"]


def test_find_then_uses_the_environment(three, monkeypatch):
    roots, deep = three
    monkeypatch.setenv(ENV_VAR, str(roots["env"]))
    assert Workspace.find(None, cwd=deep).root == roots["env"]


def test_find_then_walks_up_from_the_cwd(three):
    roots, deep = three
    assert Workspace.find(None, cwd=deep).root == roots["cwd"]
    assert Workspace.find(None, cwd=roots["cwd"]).root == roots["cwd"]


def test_find_defaults_to_the_process_cwd(three, monkeypatch):
    roots, deep = three
    monkeypatch.chdir(deep)
    assert Workspace.find().root == roots["cwd"]


def test_find_stops_at_the_nearest_workspace(tmp_path):
    outer = Workspace.init(tmp_path / "outer").root
    inner = Workspace.init(outer / "inner").root
    (inner / "sub").mkdir()
    assert Workspace.find(cwd=inner / "sub").root == inner
    assert Workspace.find(cwd=outer).root == outer


def test_find_does_not_fall_back_when_the_explicit_path_is_wrong(three, tmp_path, monkeypatch):
    roots, deep = three
    monkeypatch.setenv(ENV_VAR, str(roots["env"]))
    with pytest.raises(WorkspaceNotFoundError):
        Workspace.find(tmp_path / "nothing-here", cwd=deep)


def test_find_does_not_fall_back_when_the_env_path_is_wrong(three, tmp_path, monkeypatch):
    _, deep = three
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nothing-here"))
    with pytest.raises(WorkspaceNotFoundError):
        Workspace.find(None, cwd=deep)


def test_find_with_no_workspace_anywhere(tmp_path):
    start = tmp_path / "empty"
    start.mkdir()
    above = [p for p in start.resolve().parents if (p / CONFIG_FILE).is_file()]
    assert not above, f"precondition: no {CONFIG_FILE} above the temporary directory, found {above}"
    with pytest.raises(WorkspaceNotFoundError) as info:
        Workspace.find(None, cwd=start)
    message = str(info.value)
    assert str(start.resolve()) in message
    assert "--workspace" in message
    assert ENV_VAR in message
    assert "molops init" in message


def test_find_ignores_a_directory_named_like_the_config(tmp_path):
    (tmp_path / "a" / CONFIG_FILE).mkdir(parents=True)
    root = Workspace.init(tmp_path).root
    assert Workspace.find(cwd=tmp_path / "a").root == root


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a", "sol", "SOL-2024", "lab_results.v2", "0abc", "a" * 64, "a.b-c_d"])
def test_valid_names(name, ws):
    assert check_name(name) == name
    assert ws.dataset(name).name == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../evil", "a/b", "a\\b", ".hidden", "-x", "_x", "a b", "a" * 65, "é", "x\n", "x:y", "~"],
)
def test_invalid_dataset_names_are_rejected(name, ws):
    with pytest.raises(InvalidNameError) as info:
        ws.dataset(name)
    assert str(info.value).startswith(f"dataset name {name!r} is not allowed")


def test_check_name_mentions_the_kind():
    with pytest.raises(InvalidNameError, match=r"^model name 'a b' is not allowed"):
        check_name("a b", kind="model")


# -- layout ------------------------------------------------------------------------------------
def test_storage_uri_defaults_to_the_root(ws):
    assert ws.storage_uri == str(ws.root)


def test_storage_uri_relative_to_the_root(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[workspace]\nstorage = 'tables/here'\n", encoding="utf-8")
    ws = Workspace.open(tmp_path)
    assert ws.storage_uri == str(tmp_path.resolve() / "tables" / "here")
    assert ws.dataset("sol").store.root == f"{ws.storage_uri}/datasets/sol"


def test_storage_uri_may_be_a_url(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("[workspace]\nstorage = 's3://bucket/ws/'\n", encoding="utf-8")
    ws = Workspace.open(tmp_path)
    assert ws.storage_uri == "s3://bucket/ws"
    store = ws.dataset("sol").store
    assert store.data_uri == "s3://bucket/ws/datasets/sol/table"
    assert store.quarantine_uri == "s3://bucket/ws/datasets/sol/quarantine"


def test_storage_section_wins_over_the_deprecated_workspace_key(tmp_path):
    Workspace.init(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(
        "[workspace]\nstorage = 'old'\n[storage]\nuri = 's3://bucket/team'\nkms_key_id = 'k-1'\n",
        encoding="utf-8",
    )
    ws = Workspace.open(tmp_path)
    assert ws.storage_uri == "s3://bucket/team"
    assert ws.storage_options == {
        "aws_conditional_put": "etag",
        "aws_server_side_encryption": "aws:kms",
        "aws_sse_kms_key_id": "k-1",
    }
    assert ws.dataset("sol").store.storage.options == ws.storage_options
    assert ws.prediction_spill_dir == ws.root / "predictions-spill"  # local, beside nothing remote


def test_storage_uri_from_the_environment(ws, monkeypatch):
    monkeypatch.setenv("MOLOPS_STORAGE__URI", "s3://bucket/from-env")
    assert Workspace.open(ws.root).storage_uri == "s3://bucket/from-env"


def test_local_storage_has_no_object_store_options(ws):
    assert ws.storage_options == {}
    assert ws.storage.is_local
    assert ws.prediction_spill_dir == ws.root / "predictions-spill"


def test_init_writes_a_local_storage_path(tmp_path):
    ws = Workspace.init(tmp_path / "ws", storage="tables")
    assert 'uri = "tables"' in (ws.root / CONFIG_FILE).read_text(encoding="utf-8")
    assert ws.storage_uri == str(ws.root / "tables")
    assert ws.config.tracking.uri == ""  # only [storage] uri was set


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", r"scheme 'ftp' is not supported; expected a local path or s3://BUCKET/PREFIX"),
        ("s3://KEY:hunter2@bucket/x", r"contains credentials; give them in the environment"),
        ("s3:///x", r"names no bucket; expected s3://BUCKET/PREFIX"),
    ],
)
def test_init_refuses_a_bad_storage_url_before_creating_anything(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Workspace.init(tmp_path / "ws", storage=url)
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "ws").exists()


def test_lock_dir_is_local_and_recreated(ws):
    assert ws.lock_dir == ws.root / ".molops" / "locks"
    (ws.root / ".molops" / "locks").rmdir()
    assert ws.lock_dir.is_dir()


def test_dataset_needs_not_exist_and_uses_the_ingest_config(ws):
    ds = ws.dataset("sol")
    assert not ds.exists()
    assert ds.latest_version() is None
    assert ds.config is ws.config.ingest
    assert ds.store.root == f"{ws.storage_uri}/datasets/sol"
    with pytest.raises(DatasetNotFoundError, match="'sol'"):
        ds.read()


def test_datasets_lists_only_datasets_with_versions(ws, write):
    assert ws.datasets() == []
    (Path(ws.storage_uri) / "datasets" / "half-made").mkdir(parents=True)
    assert ws.datasets() == []
    path = write("m.csv", "smiles,y\nCCO,1\n")
    ws.dataset("zeta").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    ws.dataset("alpha").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert ws.datasets() == ["alpha", "zeta"]


def test_existing_dataset_answers_a_typo_with_the_datasets_there_are(ws, write):
    with pytest.raises(DatasetNotFoundError, match=r"^no dataset 'assay' in .*; datasets: none yet$"):
        ws.existing_dataset("assay")
    ws.dataset("assay").ingest(write("a.csv", "smiles,y\nCCO,1\n"), smiles_col="smiles", target_col="y")
    ws.dataset("other").ingest(write("b.csv", "smiles,y\nCCN,1\n"), smiles_col="smiles", target_col="y")
    assert ws.existing_dataset("assay").name == "assay"
    with pytest.raises(DatasetNotFoundError) as info:
        ws.existing_dataset("asay")
    assert str(info.value) == f"no dataset 'asay' in {ws.root}; datasets: assay, other"
