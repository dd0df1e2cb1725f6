"""A table piped to another program (``molops features featurizers | grep ...``) keeps each row on one
line: rich laid out a pipe as 80 columns and folded the rows that grep and awk read.

One run (it imports every featurizer); $COLUMNS's width is checked in tests/unit/cli/test_output_width.py.
"""

from __future__ import annotations

import pytest

from ._cli import clean_env, molops

pytestmark = pytest.mark.integration


def test_featurizers_table_has_one_line_per_featurizer_through_a_pipe():
    env = {k: v for k, v in clean_env().items() if k != "COLUMNS"}
    stdout = molops("features", "featurizers", env=env).ok().stdout  # stdout is a pipe
    rows = [line.strip("│").split("│") for line in stdout.splitlines() if line.startswith("│")]
    assert len(rows) >= 5, stdout
    # a folded row continues on lines whose name cell is empty
    assert all(len(cells) == 5 and cells[0].strip() for cells in rows), stdout
    morgan = next(cells for cells in rows if cells[0].strip() == "morgan")
    assert morgan[3].strip() == "morgan:chirality=false,counts=false,length=2048,radius=2", morgan
    assert max(len(line) for line in stdout.splitlines()) > 80  # the case that used to fold
