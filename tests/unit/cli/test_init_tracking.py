"""``molops init --tracking-uri`` checks that the store can be used before it writes anything."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from .conftest import Outcome, Run


def _closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused at once, no server needed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refused(res: Outcome, *fragments: str) -> str:
    assert res.code == 2, res
    assert res.stdout == "" and "Traceback" not in res.stderr, res
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --tracking-uri "), res.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_a_sqlite_file_in_a_missing_folder_is_refused_and_nothing_is_written(run: Run, tmp_path):
    uri = f"sqlite:///{tmp_path / 'no' / 'such' / 'mlflow.db'}"
    _refused(run("init", tmp_path / "ws", "--tracking-uri", uri), uri, f"folder {tmp_path / 'no' / 'such'}")
    assert not (tmp_path / "ws").exists()


def test_a_refused_postgres_connection_is_one_sentence_naming_the_uri(run: Run, tmp_path):
    uri = f"postgresql://molops@127.0.0.1:{_closed_port()}/ml"
    line = _refused(run("init", tmp_path / "ws", "--tracking-uri", uri), repr(uri), "does not answer")
    assert "refused" in line.lower()
    assert not (tmp_path / "ws").exists()


def test_an_existing_directory_is_left_as_it_was(run: Run, tmp_path):
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    uri = f"postgresql://molops@127.0.0.1:{_closed_port()}/ml"
    _refused(run("init", folder, "--tracking-uri", uri))
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: "sqlite:///relative/mlflow.db", "absolute path"),
        (lambda d: "sqlite://", "in-memory"),
        (lambda d: f"sqlite:///{_junk(d)}", "is not a SQLite database"),
        (lambda d: f"sqlite:///{d}", "not a file this user can read and write"),
    ],
    ids=["relative", "in-memory", "not-a-database", "a-folder"],
)
def test_unusable_sqlite_files_are_refused(run: Run, tmp_path, make, fragment):
    _refused(run("init", tmp_path / "ws", "--tracking-uri", make(tmp_path)), fragment)
    assert not (tmp_path / "ws").exists()


def _junk(folder: Path) -> Path:
    path = folder / "junk.db"
    path.write_text("not a database\n" * 20)
    return path


@pytest.mark.parametrize("where", ["beside", "inside"], ids=["existing-folder", "the-new-workspace"])
def test_a_usable_sqlite_file_is_written_to_the_config(run: Run, tmp_path, where):
    ws = tmp_path / "ws"
    db = tmp_path / "mlflow.db" if where == "beside" else ws / "mlflow.db"
    res = run("init", ws, "--tracking-uri", f"sqlite:///{db}", "--json")
    assert res.code == 0, res
    config = tomllib.loads((ws / "molops.toml").read_text())
    assert config["tracking"]["uri"] == f"sqlite:///{db}"


def test_an_existing_workspace_is_refused_before_the_database_is_tried(run: Run, tmp_path):
    assert run("init", tmp_path / "ws").code == 0
    before = (tmp_path / "ws" / "molops.toml").read_text()
    res = run("init", tmp_path / "ws", "--tracking-uri", f"postgresql://molops@127.0.0.1:{_closed_port()}/ml")
    assert res.code == 2 and "already a molops workspace" in res.stderr, res
    assert (tmp_path / "ws" / "molops.toml").read_text() == before
