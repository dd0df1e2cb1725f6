"""Two ``molops data ingest`` processes into one dataset at the same moment both land, in turn.

"At the same moment" is made certain, not hoped for: the test holds the dataset's write lock while
both processes start and read and validate their files, and lets go only once both have closed
their files (what an ingest does just before it asks for the lock). Both are then in flight at
once, each with a result computed against the same latest version, and both must still land.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
import pytest
from filelock import FileLock

from _wait import wait_until

from ._cli import enamine, finish, molops, read_csv, start, versions, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 400  # molecules per file: validating them keeps a file open for a few tenths of a second


def _files(folder: Path) -> tuple[Path, Path]:
    rows = enamine()
    a = write_csv(folder / "a.csv", ["smiles", "score"], rows[:N])
    b = write_csv(folder / "b.csv", ["smiles", "score"], rows[N : 2 * N])
    return a, b


class _Reading:
    """Whether an ingest process has opened its input file and closed it again."""

    def __init__(self, proc: subprocess.Popen[str], path: Path) -> None:
        self.proc, self.path, self.opened, self.closed = proc, path.resolve(), False, False

    def done(self) -> bool:
        assert self.proc.poll() is None, f"it finished while the lock was held: {finish(self.proc)}"
        try:
            files = psutil.Process(self.proc.pid).open_files()
        except psutil.NoSuchProcess:  # it ended between the poll above and now
            raise AssertionError(f"it finished while the lock was held: {finish(self.proc)}") from None
        is_open = any(Path(f.path) == self.path for f in files)
        self.opened = self.opened or is_open
        self.closed = self.closed or (self.opened and not is_open)
        return self.closed


@pytest.mark.parametrize("existing", [True, False], ids=["existing-dataset", "new-dataset"])
def test_concurrent_ingests_both_land(workspace, tmp_path, existing):
    a, b = _files(tmp_path / "in")
    options = ["-d", "dock", "--smiles-col", "smiles", "--target-col", "score", "-w", workspace, "--json"]
    base = 0
    if existing:
        seed = write_csv(
            tmp_path / "in" / "seed.csv", ["smiles", "score"], [["CCO", "-1.0"], ["CCN", "-2.0"]]
        )
        molops("data", "ingest", seed, *options).json()
        base = 2
    with FileLock(str(workspace / ".molops" / "locks" / "dataset-dock.lock")):
        procs = [start("data", "ingest", f, *options) for f in (a, b)]
        reading = [_Reading(p, f) for p, f in zip(procs, (a, b), strict=True)]
        wait_until(
            lambda: all([r.done() for r in reading]),  # a list: each process is looked at every time
            120,
            "both ingests to validate their files",
            interval=0.002,
        )
        # both are in flight now, each waiting to commit on top of the same latest version
    reports = [finish(p).json() for p in procs]

    for r in reports:
        assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
        assert (r["rows_in"], r["accepted"], r["added"], r["updated"], r["unchanged"]) == (N, N, N, 0, False)
    first = 2 if existing else 1
    assert sorted(r["version"] for r in reports) == [first, first + 1]

    infos = versions(workspace, "dock")
    assert [v["version"] for v in infos] == list(range(1, first + 2))  # consecutive, no gaps
    assert {v["lineage"]["source"]["name"] for v in infos[-2:]} == {"a.csv", "b.csv"}
    # the later commit was made on top of the earlier one, not instead of it
    later = max(reports, key=lambda r: r["version"])
    assert infos[-1]["molecules"] == base + 2 * N
    assert infos[-2]["molecules"] == base + N
    assert later["version"] == infos[-1]["version"]

    out = tmp_path / "dock.csv"
    molops("data", "export", "dock", out, "-w", workspace).ok()
    rows = read_csv(out)
    assert len(rows) == base + 2 * N
    assert len({r["inchikey"] for r in rows}) == len(rows)
    by_source = {}
    for r in rows:
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    assert by_source == {"a.csv": N, "b.csv": N, **({"seed.csv": 2} if existing else {})}
    show = molops("data", "show", "dock", "-w", workspace, "--json").json()
    assert show["molecules"] == base + 2 * N
    q = molops("data", "quarantine", "dock", "-w", workspace, "--json").json()
    assert q["quarantined"] == 0
