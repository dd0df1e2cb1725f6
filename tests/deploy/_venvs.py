"""The deploy tests' own venvs (`.venv-deploy`, `.venv-airflow`), made by the Makefile's targets:
an install that fails is a failure in CI and a skip with its reason on a laptop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def made(venv: str, requirements: str) -> Path:
    """The bin folder of *venv* once `make -s VENV/.installed` has built it from *requirements*."""
    done = subprocess.run(
        ["make", "-s", f"{venv}/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        reason = f"could not install {venv} ({requirements}): {done.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return ROOT / venv / "bin"
