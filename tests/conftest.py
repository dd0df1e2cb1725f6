"""Fixtures for the whole suite."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

#: ``build_once(name, make)``: (folder, what ``make(folder)`` returned as JSON).
BuildOnce = Callable[[str, Callable[[Path], Any]], tuple[Path, Any]]


@pytest.fixture(autouse=True)
def _clean_molops_env(monkeypatch):
    """No test, nor any subprocess it starts, sees MOLOPS_* settings from the environment."""
    for name in list(os.environ):
        if name.startswith("MOLOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def build_once(tmp_path_factory, worker_id) -> BuildOnce:
    """Build an expensive fixture once per test run, shared by the xdist workers.

    ``make(folder)`` fills an empty folder and returns a JSON-able description of what it built;
    the first worker to ask builds it under a file lock, the others wait and read the description.
    """
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent

    def build(name: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
        root = shared / name
        with FileLock(str(shared / f"{name}.lock")):
            done = root / "built.json"
            if not done.is_file():
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir()
                done.write_text(json.dumps(make(root)), encoding="utf-8")
            return root, json.loads(done.read_text(encoding="utf-8"))

    return build
