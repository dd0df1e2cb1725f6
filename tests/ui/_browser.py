"""Debian's Chromium under Playwright for the browser tests: never a downloaded browser.

Without Chromium or Playwright the browser tests are skipped with a loud summary line; under
``MOLOPS_REQUIRE_BACKENDS=1`` (set by ``.ci/run``, which installs the ``chromium`` package) they fail
instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: Read once at import: the suite's autouse fixture removes MOLOPS_* variables inside each test.
REQUIRED = os.environ.get("MOLOPS_REQUIRE_BACKENDS", "") not in ("", "0")
#: Also write one screenshot of each page into this folder (``docs/ui`` refreshes the docs' pictures).
DOCS_SHOTS = os.environ.get("MOLOPS_UI_SCREENSHOTS", "")
PREFIX = "BROWSER UNAVAILABLE: "
CANDIDATES = ("chromium", "chromium-browser")


def unavailable(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{PREFIX}{what} (MOLOPS_REQUIRE_BACKENDS is set, so this is an error)", pytrace=False)
    pytest.skip(f"{PREFIX}{what}")


def chromium_path() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None
