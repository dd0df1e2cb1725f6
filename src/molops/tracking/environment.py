"""What code and environment produced a model: molops version, git commit, package versions."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

from molops._version import __version__

#: Packages whose versions change what a model computes; recorded with every run.
PACKAGES = (
    "molops",
    "rdkit",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "torch",
    "chemprop",
    "lightning",
    "optuna",
    "mlflow",
    "deltalake",
    "pyarrow",
)


@cache
def git_sha() -> str | None:
    """The commit of the molops source tree when running from a git checkout, else None."""
    source = Path(__file__).resolve().parents[3]
    if not (source / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    if done.returncode != 0 or not sha:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def code_version() -> dict[str, str]:
    """``molops_version``, ``git_sha`` (when known) and ``python``."""
    info = {"molops_version": __version__, "python": platform.python_version()}
    if sha := git_sha():
        info["git_sha"] = sha
    return info
