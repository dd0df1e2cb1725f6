"""Debian's Chromium under Playwright for the browser tests: never a downloaded browser.

Without Chromium or Playwright the browser tests are skipped with a loud summary line; under
``MOLOPS_REQUIRE_BACKENDS=1`` (set by ``.ci/run``, which installs the ``chromium`` package) they fail
instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil

from _loud_skip import LoudSkip

#: Also write one screenshot of each page into this folder (``docs/ui`` refreshes the docs' pictures).
DOCS_SHOTS = os.environ.get("MOLOPS_UI_SCREENSHOTS", "")
BROWSER = LoudSkip("BROWSER UNAVAILABLE: ", "BROWSER TESTS SKIPPED")
unavailable = BROWSER.unavailable
CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None
