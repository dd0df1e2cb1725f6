"""Tests that need something outside Python (a database server, an object store, a browser).

Where it is missing they are skipped, and the run ends with one loud line per kind saying so;
under ``MOLOPS_REQUIRE_BACKENDS=1`` (set by ``.ci/run``) a missing one is a failure instead, so CI
cannot pass without running them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NoReturn

import pytest

#: Read once at import: the suite's autouse fixture removes MOLOPS_* variables inside each test.
REQUIRED = os.environ.get("MOLOPS_REQUIRE_BACKENDS", "") not in ("", "0")


@dataclass(frozen=True)
class LoudSkip:
    """One kind of missing dependency. Its skip reasons start with *prefix*, so the summary finds
    them (also from xdist workers, whose reports reach the controller but whose module state does
    not); the summary line starts with *heading*."""

    prefix: str
    heading: str

    def unavailable(self, what: str) -> NoReturn:
        """Skip the test because *what* is missing, or fail it when backends are required."""
        if REQUIRED:
            pytest.fail(
                f"{self.prefix}{what} (MOLOPS_REQUIRE_BACKENDS is set, so this is an error)", pytrace=False
            )
        pytest.skip(f"{self.prefix}{what}")

    def summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """The loud line at the end of the run: how many tests were skipped for each reason."""
        reasons: dict[str, int] = {}
        for report in terminalreporter.stats.get("skipped", []):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            if self.prefix in reason:
                what = reason.split(self.prefix, 1)[1]
                reasons[what] = reasons.get(what, 0) + 1
        for what, n in sorted(reasons.items()):
            terminalreporter.write_line(
                f"{self.heading} ({n}): {what}; CI runs them (MOLOPS_REQUIRE_BACKENDS=1)", red=True, bold=True
            )
