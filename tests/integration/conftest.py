"""Fixtures of the integration tests: each goes through the real ``molops`` CLI in a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ._cli import molops


@pytest.fixture(autouse=True)
def _clean_molops_env(monkeypatch):
    """Subprocesses inherit no MOLOPS_* setting from the environment the suite runs in."""
    for name in list(os.environ):
        if name.startswith("MOLOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A fresh workspace made by ``molops init``."""
    ws = tmp_path / "ws"
    molops("init", ws).ok()
    return ws
