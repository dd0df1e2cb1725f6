"""Fixtures of the integration tests: each goes through the real ``molops`` CLI in a subprocess.

``trained``: one workspace with two trainings of FreeSolv (champion v1, challenger v2), built once
per run and shared by the xdist workers; ``copy`` is a private copy of it for tests that change it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._cli import molops, write_csv

NAME = "freesolv-expt"
PARAMS = '{"n_estimators": 20}'
#: rows 2 (unparsable), 4 (empty) and 6 (a field too many) cannot be predicted
ROWS = [["CCO", "a"], ["xyz", "b"], ["c1ccccc1O", "c"], ["", "d"], ["CC(=O)[O-].[Na+]", "e"]]


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A fresh workspace made by ``molops init``."""
    ws = tmp_path / "ws"
    molops("init", ws).ok()
    return ws


def _train(ws: Path) -> dict:
    return molops("train", "-d", "freesolv", "-m", "rf", "--params", PARAMS, "-w", ws, "--json").json()


@dataclass
class Trained:
    ws: Path
    first: dict  # `molops train --json` of version 1
    second: dict  # ... of version 2
    src: Path  # ROWS as a CSV file, plus one malformed row
    predicted: dict  # `molops predict -m NAME src out.csv --json`
    out: Path


def _build(root: Path) -> dict:
    ws = root / "ws"
    molops("init", ws).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", ws, "--json").json()
    first, second = _train(ws), _train(ws)
    src = write_csv(root / "in.csv", ["smiles", "id"], ROWS)
    with src.open("a") as f:
        f.write("CCCC,f,extra\n")
    out = root / "out.csv"
    predicted = molops("predict", "-m", NAME, src, out, "-w", ws, "--json").json()
    return {"first": first, "second": second, "predicted": predicted}


@pytest.fixture(scope="session")
def trained(build_once) -> Trained:
    """Two trainings of FreeSolv, and the champion's predictions of a file with bad rows; built once
    per run and shared by the xdist workers (a file lock guards the building)."""
    root, built = build_once("models-cli", _build)
    return Trained(
        root / "ws", built["first"], built["second"], root / "in.csv", built["predicted"], root / "out.csv"
    )


@pytest.fixture
def copy(trained, tmp_path) -> Path:
    """A copy of the trained workspace (its runs' artifacts stay where the original put them)."""
    return Path(shutil.copytree(trained.ws, tmp_path / "ws"))
