"""Fixtures for the whole suite."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_molops_env(monkeypatch):
    """No test, nor any subprocess it starts, sees MOLOPS_* settings from the environment."""
    for name in list(os.environ):
        if name.startswith("MOLOPS_"):
            monkeypatch.delenv(name)
