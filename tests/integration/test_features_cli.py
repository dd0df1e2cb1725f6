"""``molops features``: featurizers, build (dataset and pool, cold and warm), list, prune, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from molops.chem.standardize import STANDARDIZER_VERSION

from ._cli import assert_one_line_error, molops, tree, write_csv

pytestmark = pytest.mark.integration

MORGAN = "morgan:chirality=false,counts=false,length=2048,radius=2"
REPORT_KEYS = {
    "featurizer",
    "hash",
    "source",
    "n",
    "computed",
    "cached",
    "invalid",
    "no_identity",
    "fetched",
    "seconds",
    "executor",
    "workers",
    "rows_per_s",
}
#: 4 molecules after validation (ethanol twice, one unparsable row)
ROWS = [["CCO", "1.0"], ["c1ccccc1", "2.0"], ["CCN", "3.0"], ["xyz", "4"], ["OCC", "1.5"], ["CCCC", "5"]]


def _build(ws: Path, *args: str) -> dict:
    return molops("features", "build", *args, "--workspace", ws, "--json").json()


@pytest.fixture
def assay(workspace: Path, tmp_path: Path) -> Path:
    path = write_csv(tmp_path / "assay.csv", ["smiles", "pIC50"], ROWS)
    molops(
        "data",
        "ingest",
        path,
        "--dataset",
        "assay",
        "--smiles-col",
        "smiles",
        "--target-col",
        "pIC50",
        "--workspace",
        workspace,
        "--json",
    ).json()
    return workspace


def test_featurizers_json():
    data = molops("features", "featurizers", "--json").json()
    rows = {r["name"]: r for r in data["featurizers"]}
    assert list(rows) == ["atompair", "fcfp", "graph", "maccs", "morgan", "rdkit2d", "torsion"]
    assert (rows["graph"]["kind"], rows["graph"]["dim"]) == ("graph", 72)  # chemprop v2 atom features
    assert {k: rows["morgan"][k] for k in ("kind", "dim", "default_spec")} == {
        "kind": "bits",
        "dim": 2048,
        "default_spec": MORGAN,
    }
    assert (rows["maccs"]["kind"], rows["maccs"]["dim"], rows["maccs"]["default_spec"]) == (
        "bits",
        167,
        "maccs",
    )
    assert (rows["rdkit2d"]["kind"], rows["rdkit2d"]["default_spec"]) == ("dense", "rdkit2d:set=all")
    assert rows["rdkit2d"]["dim"] > 100
    for row in rows.values():
        assert set(row) == {"name", "kind", "dim", "default_spec", "doc"}
        assert row["doc"]
        assert "\n" not in row["doc"]


def test_build_dataset_cold_then_cached(assay):
    cold = _build(assay, "--dataset", "assay", "-f", "morgan")
    assert set(cold) == REPORT_KEYS
    assert {
        k: cold[k] for k in ("featurizer", "source", "n", "computed", "cached", "invalid", "no_identity")
    } == {
        "featurizer": MORGAN,
        "source": "dataset:assay@1",
        "n": 4,
        "computed": 4,
        "cached": 0,
        "invalid": 0,
        "no_identity": 0,
    }
    assert isinstance(cold["seconds"], float)
    assert cold["seconds"] >= 0
    assert cold["executor"] == "local"
    warm = _build(assay, "--dataset", "assay", "-f", "morgan")
    assert (warm["n"], warm["computed"], warm["cached"], warm["invalid"]) == (4, 0, 4, 0)
    assert warm["hash"] == cold["hash"]
    # a parameterised spec is another cache
    other = _build(assay, "-d", "assay", "-f", "morgan:radius=3,length=1024")
    assert other["featurizer"] == "morgan:chirality=false,counts=false,length=1024,radius=3"
    assert (other["computed"], other["cached"]) == (4, 0)
    assert other["hash"] != cold["hash"]


def test_build_human_output(assay):
    res = molops("features", "build", "-d", "assay", "-f", "maccs", "--workspace", assay).ok()
    assert "maccs on dataset:assay@1: 4 molecules, 4 computed, 0 from cache, 0 invalid" in res.stdout
    assert "Traceback" not in res.stderr


def test_build_pool(workspace, tmp_path):
    pool = tmp_path / "pool.smi"
    pool.write_text("smiles\nCCO ethanol\nc1ccccc1\nnot_a_smiles\nCCCCCC hexane\nOCC\n# comment\n\nCCN\n")
    cold = _build(workspace, "--pool", pool, "-f", "morgan")
    assert set(cold) == REPORT_KEYS
    assert {k: cold[k] for k in ("source", "n", "computed", "cached", "no_identity", "invalid")} == {
        "source": "pool:pool.smi",
        "n": 6,
        "computed": 4,
        "cached": 1,  # ethanol's second spelling
        "no_identity": 1,
        "invalid": 1,
    }
    warm = _build(workspace, "--pool", pool, "-f", "morgan")
    assert {k: warm[k] for k in ("n", "computed", "cached", "no_identity", "invalid")} == {
        "n": 6,
        "computed": 0,
        "cached": 5,
        "no_identity": 1,
        "invalid": 1,
    }
    assert len(list((workspace / "pools").glob("*/identity.parquet"))) == 1
    csv_pool = tmp_path / "pool.csv"
    write_csv(csv_pool, ["id", "SMI"], [["1", "CCO"], ["2", "CC(=O)O"]])
    res = _build(workspace, "--pool", csv_pool, "--smiles-col", "SMI", "-f", "morgan")
    assert (res["n"], res["computed"], res["cached"]) == (2, 1, 1)


def test_pool_and_dataset_together_is_an_error(assay, tmp_path):
    pool = tmp_path / "pool.smi"
    pool.write_text("CCO\n")
    before = tree(assay)
    res = molops(
        "features", "build", "--dataset", "assay", "--pool", pool, "-f", "morgan", "--workspace", assay
    )
    assert_one_line_error(res, "exactly one of --dataset NAME or --pool FILE", code=2)
    res = molops("features", "build", "-f", "morgan", "--workspace", assay, "--json")
    assert_one_line_error(res, "exactly one of --dataset NAME or --pool FILE", code=2)
    assert tree(assay) == before


def test_unknown_featurizer_or_parameter(assay):
    before = tree(assay)
    res = molops("features", "build", "-d", "assay", "-f", "nope", "--workspace", assay, "--json")
    line = assert_one_line_error(res, "unknown featurizer 'nope'", "morgan", code=2)
    names = "atompair, fcfp, graph, maccs, morgan, rdkit2d, torsion"
    assert line == f"error: unknown featurizer 'nope'; expected one of: {names}"
    res = molops("features", "build", "-d", "assay", "-f", "morgan:foo=1", "--workspace", assay)
    assert_one_line_error(res, "no parameter 'foo'", "radius", code=2)
    res = molops("features", "build", "-d", "assay", "-f", "morgan:radius", "--workspace", assay)
    assert_one_line_error(res, "expected key=value, got 'radius'", code=2)
    res = molops(
        "features", "build", "-d", "assay", "-f", "morgan", "--executor", "dask", "--workspace", assay
    )
    assert_one_line_error(res, "--executor 'dask' is not supported", code=2)
    assert tree(assay) == before


def test_list_and_prune(assay):
    assert molops("features", "list", "--workspace", assay, "--json").json() == {"caches": []}
    built = _build(assay, "-d", "assay", "-f", "morgan")
    _build(assay, "-d", "assay", "-f", "maccs")
    caches = molops("features", "list", "--workspace", assay, "--json").json()["caches"]
    by_spec = {c["spec"]: c for c in caches}
    assert set(by_spec) == {MORGAN, "maccs"}
    morgan = by_spec[MORGAN]
    assert {k: morgan[k] for k in ("hash", "kind", "dim", "rows", "invalid", "shards", "stale")} == {
        "hash": built["hash"],
        "kind": "bits",
        "dim": 2048,
        "rows": 4,
        "invalid": 0,
        "shards": 1,
        "stale": False,
    }
    assert morgan["folder"] == f"{built['hash']}-s{STANDARDIZER_VERSION}"
    assert morgan["bytes"] == sum(tree(assay / "features" / morgan["folder"]).values())

    res = molops("features", "prune", "--featurizer", "morgan", "--workspace", assay, "--json").json()
    assert res == {"removed": [MORGAN], "bytes_freed": morgan["bytes"]}
    assert not (assay / "features" / morgan["folder"]).exists()
    caches = molops("features", "list", "--workspace", assay, "--json").json()["caches"]
    assert [c["spec"] for c in caches] == ["maccs"]
    assert molops("features", "prune", "--workspace", assay, "--json").json() == {
        "removed": [],
        "bytes_freed": 0,
    }
    res = molops("features", "prune", "--all", "--workspace", assay).ok()
    assert res.stdout.startswith("removed 1 cache(s)")
    assert molops("features", "list", "--workspace", assay, "--json").json() == {"caches": []}
    # rebuilding after a prune computes everything again
    again = _build(assay, "-d", "assay", "-f", "morgan")
    assert (again["computed"], again["cached"]) == (4, 0)
