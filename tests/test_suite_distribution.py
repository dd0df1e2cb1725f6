"""`make test` spreads the suite over xdist workers so that a module's fixtures are built once.

Many modules share an expensive module-scoped fixture (a two-node Ray cluster, a live service, a
trained workspace). Distributed test by test, each worker builds it, and builds it again each time
it comes back to the module; `--dist loadgroup` does exactly that under pytest 9.2 without a word
(pytest-xdist issue 1386). This runs a small suite with the Makefile's own pytest options and
counts the builds.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODULE = """
import os
import pytest

@pytest.fixture(scope="module")
def expensive():
    with open("builds.txt", "a") as f:
        f.write(f"{os.getpid()}\\n")

@pytest.mark.parametrize("i", range(6))
def test_uses_it(expensive, i):
    pass
"""


def _makefile_pytest_options() -> list[str]:
    """The options of the test target's pytest command, as the Makefile spells them."""
    (line,) = [ln for ln in (ROOT / "Makefile").read_text().splitlines() if "-m pytest" in ln]
    return shlex.split(line.split("-m pytest", 1)[1])


@pytest.mark.slow
def test_the_makefiles_distribution_builds_a_module_fixture_once(tmp_path):
    options = [opt for opt in _makefile_pytest_options() if not opt.startswith("--durations")]
    assert "-n" in options, options
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this repository's settings
    (tmp_path / "test_one.py").write_text(MODULE)
    (tmp_path / "test_two.py").write_text(MODULE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *options, "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 passed" in done.stdout, done.stdout
    builds = (tmp_path / "builds.txt").read_text().split()
    assert len(builds) == 2, f"two modules, {len(builds)} builds of their module fixture ({options})"


def test_the_slowest_modules_named_for_ordering_exist():
    """tests/conftest.py starts SLOW_FIRST's modules first; a renamed one would silently drop out."""
    from conftest import SLOW_FIRST

    missing = [module for module in SLOW_FIRST if not (ROOT / module).is_file()]
    assert not missing, f"SLOW_FIRST names modules that do not exist: {missing}"
