"""Fixtures of the integration tests: each goes through the real ``molops`` CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import molops


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A fresh workspace made by ``molops init``."""
    ws = tmp_path / "ws"
    molops("init", ws).ok()
    return ws
