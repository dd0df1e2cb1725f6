"""The deploy tests' own venvs (`.venv-deploy`, `.venv-airflow`), made by the Makefile's targets:
an install that fails is a failure in CI and a skip with its reason on a laptop.

Several xdist workers may ask for the same venv at once (the deploy tests are spread over the
workers, not kept on one): a file lock per venv lets one of them run make while the others wait,
then find the venv made.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]


def _lock(venv: str) -> FileLock:
    """The lock of *venv* in this checkout (outside it: a lock file would show in git status)."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return FileLock(str(Path(tempfile.gettempdir()) / f"molops-{checkout}-{venv.lstrip('.')}.lock"))


def made(venv: str, requirements: str) -> Path:
    """The bin folder of *venv* once `make -s VENV/.installed` has built it from *requirements*."""
    with _lock(venv):
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
