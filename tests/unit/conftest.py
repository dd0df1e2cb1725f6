"""Shared fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from molops import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> Path of a new file under tmp_path/in."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
        return path

    return _write


@pytest.fixture
def ray_instance() -> Any:
    """A local Ray (loopback only, two CPUs) shared by consecutive tests that ask for it (test_ray's
    executor tests and the oracle on Ray tasks: one Ray start for them all); it stops before a
    test that does not ask for it (see the hook below)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared Ray after the last of a run of tests using it: no other test may find a Ray
    running in its process (an in-process Ray changes e.g. what tuning trials record)."""
    wants = "ray_instance" in getattr(nextitem, "fixturenames", ())
    if "ray_instance" in getattr(item, "fixturenames", ()) and not wants:
        from molops.compute.ray import shutdown

        shutdown()
