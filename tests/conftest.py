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

#: Modules that take a minute or more, slowest first (each a unit of `make test`'s loadscope): they
#: start first, so that none of them is left running alone on one worker at the end of the run.
SLOW_FIRST = (
    "tests/deploy/test_image.py",  # skipped unless MOLOPS_IMAGE_TEST=1 (.ci/run); then minutes
    "tests/deploy/test_airflow_dag.py",
    "tests/backends/test_e2e_shared.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_monitor_cli.py",
    "tests/integration/test_onnx_dmpnn_cli.py",
    "tests/deploy/test_kubeflow_pipeline.py",
    "tests/unit/compute/test_ray.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SLOW_FIRST modules first, the rest in collection order (the same on every xdist
    worker, as xdist requires)."""
    rank = {module: i for i, module in enumerate(SLOW_FIRST)}
    root = config.rootpath

    def key(item: pytest.Item) -> int:
        module = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        return rank.get(module, len(rank))

    items.sort(key=key)  # stable: the order within a module is kept


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
