"""Two ``molops data ingest`` processes into one dataset at the same moment both land, in turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import enamine, finish, molops, read_csv, start, versions, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 250  # molecules per file


def _files(folder: Path) -> tuple[Path, Path]:
    rows = enamine()
    a = write_csv(folder / "a.csv", ["smiles", "score"], rows[:N])
    b = write_csv(folder / "b.csv", ["smiles", "score"], rows[N : 2 * N])
    return a, b


@pytest.mark.parametrize("existing", [True, False], ids=["existing-dataset", "new-dataset"])
def test_concurrent_ingests_both_land(workspace, tmp_path, existing):
    a, b = _files(tmp_path / "in")
    base = 0
    if existing:
        seed = write_csv(
            tmp_path / "in" / "seed.csv", ["smiles", "score"], [["CCO", "-1.0"], ["CCN", "-2.0"]]
        )
        molops(
            "data",
            "ingest",
            seed,
            "-d",
            "dock",
            "--smiles-col",
            "smiles",
            "--target-col",
            "score",
            "-w",
            workspace,
            "--json",
        ).json()
        base = 2
    procs = [
        start(
            "data",
            "ingest",
            f,
            "-d",
            "dock",
            "--smiles-col",
            "smiles",
            "--target-col",
            "score",
            "-w",
            workspace,
            "--json",
        )
        for f in (a, b)
    ]
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
