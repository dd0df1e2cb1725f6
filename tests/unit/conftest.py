"""Shared fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

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
