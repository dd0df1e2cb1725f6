"""What code and environment produced a model."""

from __future__ import annotations

import platform
import re
from pathlib import Path

from molops._version import __version__
from molops.tracking import environment
from molops.tracking.environment import PACKAGES, code_version, git_sha, package_versions

CHECKOUT = Path(environment.__file__).resolve().parents[3]


def test_code_version_keys():
    info = code_version()
    assert info["molops_version"] == __version__
    assert info["python"] == platform.python_version()
    if (CHECKOUT / ".git").exists():
        assert set(info) == {"molops_version", "python", "git_sha"}
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", info["git_sha"])
        assert info["git_sha"] == git_sha()
    else:
        assert set(info) == {"molops_version", "python"}


def test_package_versions_has_molops_and_the_core_libraries():
    found = package_versions()
    assert found["molops"] == __version__
    assert {"rdkit", "numpy", "scikit-learn", "mlflow", "pyarrow"} <= set(found)
    assert set(found) <= set(PACKAGES)
    assert all(isinstance(v, str) and v for v in found.values())
