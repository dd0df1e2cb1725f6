"""``molops init`` and how every command finds its workspace."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ._cli import assert_one_line_error, clean_env, molops, version_numbers, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def small_csv(tmp_path) -> Path:
    return write_csv(
        tmp_path / "in" / "small.csv", ["smiles", "y"], [["CCO", "1.0"], ["CCN", "2.0"], ["c1ccccc1", "3.0"]]
    )


def _ingest_args(path: Path) -> list[str]:
    return [
        "data",
        "ingest",
        str(path),
        "--dataset",
        "small",
        "--smiles-col",
        "smiles",
        "--target-col",
        "y",
        "--json",
    ]


def _no_workspace_above(folder: Path) -> None:
    assert not any((p / "molops.toml").exists() for p in (folder, *folder.parents)), (
        f"a molops.toml above {folder} makes this test meaningless"
    )


def test_init_creates_a_commented_workspace(tmp_path):
    ws = tmp_path / "a" / "lab"
    data = molops("init", ws, "--json").json()
    assert data == {"workspace": str(ws.resolve()), "config": str(ws.resolve() / "molops.toml")}
    config = (ws / "molops.toml").read_text(encoding="utf-8")
    assert "[ingest]" in config and "[workspace]" in config
    assert config.lstrip().startswith("#")
    assert (ws / ".molops" / "locks").is_dir()
    listing = molops("data", "list", "--workspace", ws, "--json").json()
    assert listing == {"datasets": []}


def test_init_twice_is_a_one_line_error(workspace):
    before = (workspace / "molops.toml").read_bytes()
    res = molops("init", workspace)
    assert_one_line_error(res, str(workspace.resolve()), "already a molops workspace", code=2)
    assert (workspace / "molops.toml").read_bytes() == before


def test_init_with_a_tracking_database_that_does_not_answer_writes_nothing(tmp_path):
    """A refused connection (a closed loopback port: no server needed) or a SQLite file in a missing
    folder: one line naming the URI and the cause, at once, and no workspace."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"postgresql://molops@127.0.0.1:{s.getsockname()[1]}/ml"
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    for uri, cause in [(closed, "the database does not answer"), (missing, "does not exist")]:
        res = molops("init", tmp_path / "ws", "--tracking-uri", uri, "--json", timeout=60)
        assert_one_line_error(res, f"--tracking-uri {uri!r}", cause, code=2)
        assert not (tmp_path / "ws").exists()


def test_human_init_message(tmp_path):
    res = molops("init", tmp_path / "h").ok()
    text = " ".join(res.stdout.split())  # rich wraps human output at the terminal width
    assert text.startswith(f"created workspace {(tmp_path / 'h').resolve()} ")


@pytest.mark.parametrize("where", ["root-option", "command-option", "short-option"])
def test_ingest_with_explicit_workspace(workspace, small_csv, tmp_path, where):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = _ingest_args(small_csv)
    if where == "root-option":
        argv = ["--workspace", workspace, *args]
    elif where == "command-option":
        argv = [*args, "--workspace", workspace]
    else:
        argv = [*args, "-w", workspace]
    report = molops(*argv, cwd=elsewhere).json()
    assert (report["dataset"], report["version"], report["accepted"]) == ("small", 1, 3)
    assert (workspace / "datasets" / "small" / "table" / "_delta_log").is_dir()
    assert not (elsewhere / "datasets").exists()
    assert version_numbers(workspace, "small") == [1]


def test_ingest_with_environment_variable(workspace, small_csv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(MOLOPS_WORKSPACE=str(workspace))
    report = molops(*_ingest_args(small_csv), cwd=elsewhere, env=env).json()
    assert (report["version"], report["accepted"]) == (1, 3)
    listing = molops("data", "list", "--json", cwd=elsewhere, env=env).json()
    assert [(d["name"], d["latest_version"], d["molecules"]) for d in listing["datasets"]] == [
        ("small", 1, 3)
    ]


def test_ingest_from_a_subdirectory_of_the_workspace(workspace, small_csv):
    deep = workspace / "notebooks" / "2024" / "q3"
    deep.mkdir(parents=True)
    report = molops(*_ingest_args(small_csv), cwd=deep).json()
    assert (report["version"], report["accepted"]) == (1, 3)
    assert not (deep / "datasets").exists()
    listing = molops("data", "list", "--json", cwd=deep).json()
    assert [d["name"] for d in listing["datasets"]] == ["small"]
    assert version_numbers(workspace, "small") == [1]


def test_explicit_workspace_wins_over_environment(tmp_path, small_csv):
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a).ok()
    molops("init", b).ok()
    env = clean_env(MOLOPS_WORKSPACE=str(b))
    molops(*_ingest_args(small_csv), "--workspace", a, cwd=tmp_path, env=env).json()
    assert [d["name"] for d in molops("data", "list", "-w", a, "--json").json()["datasets"]] == ["small"]
    assert molops("data", "list", "-w", b, "--json").json() == {"datasets": []}


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "list"],
        ["data", "ingest", "--builtin", "freesolv"],
        ["data", "versions", "freesolv", "--json"],
    ],
    ids=["list", "ingest", "versions"],
)
def test_no_workspace_anywhere_is_a_one_line_error(tmp_path, argv):
    cwd = tmp_path / "nowhere" / "sub"
    cwd.mkdir(parents=True)
    _no_workspace_above(cwd)
    res = molops(*argv, cwd=cwd, env=clean_env())
    assert_one_line_error(
        res,
        "no molops workspace",
        str(cwd.resolve()),
        "--workspace",
        "MOLOPS_WORKSPACE",
        "molops init",
        code=2,
    )
    assert list(cwd.iterdir()) == []


def test_workspace_option_pointing_at_a_plain_directory(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    res = molops("data", "list", "--workspace", plain)
    assert_one_line_error(res, str(plain.resolve()), "not a molops workspace", "molops init", code=2)


def test_environment_variable_pointing_at_a_plain_directory(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    res = molops("data", "list", cwd=tmp_path, env=clean_env(MOLOPS_WORKSPACE=str(plain)))
    assert_one_line_error(res, str(plain.resolve()), "not a molops workspace", code=2)
