"""FeatureStore: building datasets and pools cold and warm, incrementally, inline and in parallel."""

from __future__ import annotations

import gzip
from typing import ClassVar

import numpy as np
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from molops.errors import ColumnNotFoundError, DatasetNotFoundError
from molops.features import FEATURIZERS, Featurizer, get_featurizer
from molops.features import build as build_module
from molops.features import work as work_module
from molops.features.build import BuildReport

ETHANOL = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
BENZENE = "UHOVQNZJYSORNB-UHFFFAOYSA-N"
BUTANE = "IJDNQMDRQITEOD-UHFFFAOYSA-N"

#: 5 molecules (ethanol twice, one unparsable row)
V1 = "smiles,y\nCCO,1.0\nc1ccccc1,2.0\nCCN,3\nCC(=O)O,4\nxyz,5\nOCC,1.5\nCCCC,6\n"
#: ethanol re-measured, two new molecules
V2 = "smiles,y\nCCO,2.0\nCCCCC,7\nc1ccncc1,8\n"

#: 9 records: 5 distinct molecules (ethanol and benzene twice), 2 without an identity
POOL = [
    "CCO",
    "c1ccccc1",
    "not_a_smiles",
    "CC(=O)Nc1ccc(O)cc1",
    "OCC",
    "CCCCCC",
    "C1CC",
    "C1=CC=CC=C1",
    "CCN",
]
POOL_N, POOL_UNIQUE, POOL_BAD = 9, 5, 2


def check(report: BuildReport) -> BuildReport:
    assert report.n == report.computed + report.cached + report.no_identity
    assert report.seconds >= 0
    assert report.executor == "local"
    return report


@pytest.fixture
def ds(ws, write):
    dataset = ws.dataset("sol")
    dataset.ingest(write("v1.csv", V1), smiles_col="smiles", target_col="y", workers=1)
    return dataset


def pool_identity(ws) -> list[dict]:
    (folder,) = (ws.root / "pools").iterdir()
    return pq.read_table(folder / "identity.parquet").to_pylist()


# -- datasets ----------------------------------------------------------------------------------
def test_build_dataset_cold_then_warm(ws, ds):
    store = ws.features
    cold = check(store.build_dataset(ds, "morgan"))
    f = get_featurizer("morgan")
    assert cold.model_dump(exclude={"seconds", "rows_per_s"}) == {
        "featurizer": f.spec,
        "hash": f.hash,
        "source": "dataset:sol@1",
        "n": 5,
        "computed": 5,
        "cached": 0,
        "invalid": 0,
        "no_identity": 0,
        "fetched": 0,  # a local workspace has no shared store to fetch from
        "executor": "local",
        "workers": 1,  # a handful of molecules is not worth a process pool
    }
    warm = check(store.build_dataset(ds, "morgan"))
    assert (warm.n, warm.computed, warm.cached, warm.invalid) == (5, 0, 5, 0)
    assert len(store.cache("morgan")) == 5
    assert len(store.cache("morgan").manifest()["shards"]) == 1  # the warm build wrote nothing


def test_features_equal_a_direct_transform(ws, ds):
    store = ws.features
    frame = ds.read()
    for spec in ("morgan:length=512", "maccs", "rdkit2d:set=basic", "atompair:counts=true"):
        store.build_dataset(ds, spec)
        values, valid = store.get(spec, frame["inchikey"].tolist())
        direct = get_featurizer(spec).transform(frame["smiles"].tolist())
        np.testing.assert_array_equal(values, direct.values)
        assert valid.tolist() == [True] * 5
        reversed_values, _ = store.get(spec, frame["inchikey"].tolist()[::-1])
        np.testing.assert_array_equal(reversed_values, direct.values[::-1])
    assert len(store.list()) == 4


def test_rebuild_after_new_molecules_computes_only_those(ws, ds, write):
    store = ws.features
    store.build_dataset(ds, "morgan")
    ds.ingest(write("v2.csv", V2), smiles_col="smiles", target_col="y", workers=1)
    assert len(ds.read()) == 7
    seen: list[tuple[int, int]] = []
    report = check(store.build_dataset(ds, "morgan", progress=lambda done, total: seen.append((done, total))))
    assert (report.source, report.n, report.computed, report.cached) == ("dataset:sol@2", 7, 2, 5)
    assert seen == [(2, 2)]
    assert [s["rows"] for s in store.cache("morgan").manifest()["shards"]] == [5, 2]
    again = check(store.build_dataset(ds, "morgan", version=1))
    assert (again.source, again.n, again.computed, again.cached) == ("dataset:sol@1", 5, 0, 5)
    frame = ds.read()
    values, valid = store.get("morgan", frame["inchikey"].tolist())
    np.testing.assert_array_equal(values, get_featurizer("morgan").transform(frame["smiles"].tolist()).values)
    assert valid.all()


def test_build_dataset_errors(ws, ds):
    with pytest.raises(DatasetNotFoundError):
        ws.features.build_dataset(ws.dataset("nope"), "morgan")
    with pytest.raises(KeyError, match="5 of 5 molecules are not in the maccs cache"):
        ws.features.get("maccs", ds.read()["inchikey"].tolist())
    assert ws.features.list() == []


def test_small_chunks_give_several_work_units_and_the_same_features(ws, ds):
    store = ws.features
    store.chunk_rows = 2
    seen: list[tuple[int, int]] = []
    report = store.build_dataset(ds, "maccs", progress=lambda done, total: seen.append((done, total)))
    assert (report.computed, report.cached) == (5, 0)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    frame = ds.read()
    values, _ = store.get("maccs", frame["inchikey"].tolist())
    np.testing.assert_array_equal(values, get_featurizer("maccs").transform(frame["smiles"].tolist()).values)


# -- pools -------------------------------------------------------------------------------------
def _smi() -> str:
    lines = ["SMILES name", "# a comment", ""]
    lines += [f"{s} mol{i}" if i % 2 else s for i, s in enumerate(POOL)]
    return "\n".join(lines) + "\n"


def _csv() -> str:
    return "id,smiles,vendor\n" + "".join(f"{i},{s},v{i % 3}\n" for i, s in enumerate(POOL))


POOL_FILES = {
    "pool.smi": lambda: _smi().encode(),
    "pool.csv": lambda: _csv().encode(),
    "pool.csv.gz": lambda: gzip.compress(_csv().encode()),
    "pool.smi.gz": lambda: gzip.compress(_smi().encode()),
}


@pytest.mark.parametrize("name", list(POOL_FILES))
def test_build_pool_cold_then_warm(ws, write, name, monkeypatch):
    path = write(name, POOL_FILES[name]())
    store = ws.features
    cold = check(store.build_pool(path, "morgan"))
    assert cold.source == f"pool:{name}"
    assert (cold.n, cold.computed, cold.cached, cold.no_identity, cold.invalid) == (
        POOL_N,
        POOL_UNIQUE,
        POOL_N - POOL_UNIQUE - POOL_BAD,  # the second ethanol and benzene
        POOL_BAD,
        POOL_BAD,
    )
    assert len(store.cache("morgan")) == POOL_UNIQUE
    identity = pool_identity(ws)
    assert [r["row"] for r in identity] == list(range(1, POOL_N + 1))
    assert [r["inchikey"] is None for r in identity] == [s in ("not_a_smiles", "C1CC") for s in POOL]
    assert [r["error"].split(":")[0] for r in identity if r["inchikey"] is None] == [
        "unparsable_structure"
    ] * 2
    assert identity[0]["inchikey"] == identity[4]["inchikey"] == ETHANOL
    assert identity[1]["inchikey"] == identity[7]["inchikey"] == BENZENE
    (table,) = (ws.root / "pools").glob("*/identity.parquet")
    stamp = table.stat().st_mtime_ns

    # the warm run reads the identity table: it standardises nothing
    def no_standardising(*args, **kwargs):
        raise AssertionError("the pool was standardised again")

    monkeypatch.setattr(build_module, "identify_and_featurize", no_standardising)
    warm = check(store.build_pool(path, "morgan"))
    assert (warm.n, warm.computed, warm.cached, warm.no_identity, warm.invalid) == (
        POOL_N,
        0,
        POOL_N - POOL_BAD,
        POOL_BAD,
        POOL_BAD,
    )
    # and so does a new featurizer on the same file
    other = check(store.build_pool(path, "maccs"))
    assert (other.n, other.computed, other.cached, other.no_identity) == (
        POOL_N,
        POOL_UNIQUE,
        POOL_N - POOL_UNIQUE - POOL_BAD,
        POOL_BAD,
    )
    assert table.stat().st_mtime_ns == stamp
    assert len(list((ws.root / "pools").iterdir())) == 1
    assert len(store.cache("morgan").manifest()["shards"]) == 1


def test_the_graph_pseudo_featurizer_writes_the_pools_identity_alone(ws, write):
    """Models that read SMILES need the pool standardised, not featurised."""
    path = write("pool.csv", _csv())
    store = ws.features
    cold = check(store.build_pool(path, "graph"))
    assert (cold.featurizer, cold.hash) == ("graph", get_featurizer("graph").hash)
    assert (cold.n, cold.computed, cold.cached, cold.no_identity) == (POOL_N, POOL_N - POOL_BAD, 0, POOL_BAD)
    assert [r["inchikey"] is None for r in pool_identity(ws)] == [s in ("not_a_smiles", "C1CC") for s in POOL]
    assert store.list() == []
    warm = check(store.build_pool(path, "graph"))
    assert (warm.n, warm.computed, warm.cached, warm.no_identity) == (POOL_N, 0, POOL_N - POOL_BAD, POOL_BAD)
    # a featurizer later reads the same identity table
    assert check(store.build_pool(path, "maccs")).computed == POOL_UNIQUE


def test_pool_features_equal_a_direct_transform(ws, write):
    path = write("pool.smi", "\n".join(POOL) + "\n")
    store = ws.features
    store.build_pool(path, "rdkit2d:set=basic")
    identity = [r for r in pool_identity(ws) if r["inchikey"] is not None]
    assert len(identity) == POOL_N - POOL_BAD
    values, valid = store.get("rdkit2d:set=basic", [r["inchikey"] for r in identity])
    direct = get_featurizer("rdkit2d:set=basic").transform([r["smiles"] for r in identity])
    np.testing.assert_array_equal(values, direct.values)
    assert valid.all()
    # the standardised SMILES of each row is the one the InChIKey belongs to
    for r in identity:
        assert Chem.MolToInchiKey(Chem.MolFromSmiles(r["smiles"])) == r["inchikey"]


def test_pool_and_dataset_share_the_cache(ws, ds, write):
    store = ws.features
    store.build_dataset(ds, "morgan")  # ethanol, benzene, ethylamine, acetic acid, butane
    report = check(store.build_pool(write("pool.smi", "\n".join(POOL) + "\n"), "morgan"))
    # new: paracetamol, hexane; ethanol ×2, benzene ×2 and ethylamine were cached
    assert (report.computed, report.cached, report.no_identity) == (2, 5, 2)
    assert len(store.cache("morgan")) == 7


def test_pool_csv_columns(ws, write):
    path = write("p.csv", "ID,Structure\n1,CCO\n2,CCCC\n")
    store = ws.features
    with pytest.raises(ColumnNotFoundError, match=r"no column named 'smiles' \(in any case\)"):
        store.build_pool(path, "maccs")
    assert not list((ws.root / "pools").glob("*/identity.parquet"))  # nothing half-written kept
    assert not list((ws.root / "pools").glob("*/*.partial*"))
    report = check(store.build_pool(path, "maccs", smiles_col="Structure"))
    assert (report.n, report.computed, report.no_identity) == (2, 2, 0)
    values, _ = store.get("maccs", [ETHANOL, BUTANE])
    np.testing.assert_array_equal(values, get_featurizer("maccs").transform(["CCO", "CCCC"]).values)
    upper = write("u.csv", "ID,SMILES\n1,CCO\n2,CCCC\n")  # the column named smiles, in any case
    assert check(store.build_pool(upper, "maccs")).n == 2


def test_pool_duplicates_across_chunks_are_computed_once(ws, write):
    path = write("dup.smi", "CCO\nCCN\nOCC\nCCN\nCCC\nCCO\nxyz\nCCC\n")
    store = ws.features
    store.chunk_rows = 2  # duplicates land in different work units, before any flush
    cold = check(store.build_pool(path, "morgan"))
    assert (cold.n, cold.computed, cold.cached, cold.no_identity) == (8, 3, 4, 1)
    assert len(store.cache("morgan")) == 3
    warm = check(store.build_pool(path, "maccs"))  # the identity path counts the same way
    assert (warm.n, warm.computed, warm.cached, warm.no_identity) == (8, 3, 4, 1)


def test_empty_pool(ws, write):
    report = check(ws.features.build_pool(write("empty.smi", "# nothing\n\n"), "morgan"))
    assert (report.n, report.computed, report.cached, report.invalid) == (0, 0, 0, 0)
    assert pool_identity(ws) == []


# -- featurization failures --------------------------------------------------------------------
class _NoNitrogen(Featurizer):
    """Fails on molecules with nitrogen (to exercise featurization errors end to end)."""

    name: ClassVar[str] = "no_nitrogen"
    kind: ClassVar[str] = "dense"  # type: ignore[assignment]

    @property
    def dim(self) -> int:
        return 2

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        if any(a.GetSymbol() == "N" for a in mol.GetAtoms()):
            raise ValueError("nitrogen")
        out[:] = (mol.GetNumAtoms(), 1.0)


@pytest.fixture
def no_nitrogen(monkeypatch):
    monkeypatch.setitem(FEATURIZERS._items, "no_nitrogen", _NoNitrogen)
    work_module._featurizer.cache_clear()
    yield "no_nitrogen"
    work_module._featurizer.cache_clear()


def test_featurization_failures_are_invalid_never_silently_valid(ws, ds, write, no_nitrogen):
    store = ws.features
    report = check(store.build_dataset(ds, no_nitrogen))
    assert (report.n, report.computed, report.invalid) == (5, 5, 1)  # ethylamine
    frame = ds.read()
    values, valid = store.get(no_nitrogen, frame["inchikey"].tolist())
    has_n = ["N" in s for s in frame["smiles"]]
    assert valid.tolist() == [not n for n in has_n]
    assert not values[np.array(has_n)].any()
    (key,) = frame["inchikey"][has_n]
    assert store.cache(no_nitrogen).errors() == {key: "no_nitrogen failed: nitrogen"}
    assert check(store.build_dataset(ds, no_nitrogen)).invalid == 1  # also when cached

    # pools: rows without an identity plus rows whose featurization failed
    path = write("pool.smi", "\n".join(POOL) + "\n")  # paracetamol and ethylamine contain N
    cold = check(store.build_pool(path, no_nitrogen))
    assert (cold.no_identity, cold.invalid) == (2, 4)
    warm = check(store.build_pool(path, no_nitrogen))
    assert (warm.computed, warm.no_identity, warm.invalid) == (0, 2, 4)
    assert {r["spec"]: r["invalid"] for r in store.list()} == {"no_nitrogen": 2}


def test_a_build_writes_shards_bounded_in_bytes_not_only_rows(ws, write, no_nitrogen, monkeypatch):
    """Counts are wide (4 KB a molecule at 2048): a buffer of 250k rows would hold 1 GB, so a shard
    is cut at FLUSH_BYTES; rows split across a cut keep their features and their errors."""
    smiles = [f"{'C' * k}{'N' if k % 4 == 0 else 'O'}" for k in range(1, 12)] + ["CCO", "CCCO"]
    path = write("long.smi", "\n".join(smiles) + "\n")
    store = ws.features
    store.chunk_rows = 2  # work units of 2 rows fill a 3-row buffer across its end
    row_bytes = 2 * np.dtype(np.float32).itemsize
    monkeypatch.setattr(build_module, "FLUSH_BYTES", 3 * row_bytes)
    report = check(store.build_pool(path, no_nitrogen))
    assert (report.n, report.computed, report.cached, report.invalid) == (13, 11, 2, 2)
    cache = store.cache(no_nitrogen)
    shards = cache.manifest()["shards"]
    assert [s["rows"] for s in shards] == [3, 3, 3, 2]
    keys = [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in smiles[:11]]
    values, valid = cache.get(keys)
    has_n = ["N" in s for s in smiles[:11]]
    assert valid.tolist() == [not n for n in has_n]
    direct = _NoNitrogen().transform([s for s, n in zip(smiles[:11], has_n, strict=True) if not n])
    np.testing.assert_array_equal(values[valid], direct.values)
    assert sorted(cache.errors()) == sorted(k for k, n in zip(keys, has_n, strict=True) if n)


# -- parallel ----------------------------------------------------------------------------------
def _cache_contents(store, spec: str, keys: list[str]) -> tuple:
    cache = store.cache(spec)
    values, valid = cache.get(keys)
    return values, valid, cache.errors(), len(cache)


def test_two_workers_give_exactly_the_same_cache(tmp_path, write):
    from molops import Workspace

    smiles = [f"C{'C' * (i % 9)}{'O' if i % 2 else 'N'}" for i in range(40)] + ["c1ccccc1", "bad(", "CCO"]
    pool = write("pool.smi", "\n".join(smiles) + "\n")
    data = write("d.csv", "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles)))
    results = {}
    for workers in (1, 2):
        ws = Workspace.init(tmp_path / f"w{workers}")
        ds = ws.dataset("d")
        ds.ingest(data, smiles_col="smiles", target_col="y", workers=1)
        store = ws.features
        store.chunk_rows = 4
        r_ds = check(store.build_dataset(ds, "morgan:counts=true", workers=workers))
        r_pool = check(store.build_pool(pool, "rdkit2d:set=basic", workers=workers))
        r_pool_bits = check(store.build_pool(pool, "morgan:counts=true", workers=workers))
        assert (r_ds.workers, r_pool.workers) == (workers, workers)
        keys = sorted(ds.read()["inchikey"])
        results[workers] = {
            "reports": [
                r.model_dump(exclude={"seconds", "rows_per_s", "workers"})
                for r in (r_ds, r_pool, r_pool_bits)
            ],
            "counts": _cache_contents(store, "morgan:counts=true", keys),
            "dense": _cache_contents(store, "rdkit2d:set=basic", keys),
            "identity": pool_identity(ws),
        }
    one, two = results[1], results[2]
    assert two["reports"] == one["reports"]
    assert two["identity"] == one["identity"]
    for kind in ("counts", "dense"):
        np.testing.assert_array_equal(two[kind][0], one[kind][0])
        assert two[kind][1].tolist() == one[kind][1].tolist()
        assert two[kind][2:] == one[kind][2:]
    assert one["counts"][3] == 19  # 18 (chain length, N or O) pairs + benzene; CCO is one of them


def test_the_same_file_read_another_way_gets_its_own_identity_table(ws, write):
    path = write("two.csv", "a,b\nCCO,c1ccccc1\nCCN,CCCC\n")
    first = check(ws.features.build_pool(path, "morgan", smiles_col="a", workers=1))
    second = check(ws.features.build_pool(path, "morgan", smiles_col="b", workers=1))
    assert (first.computed, second.computed) == (2, 2)  # column b is not served column a's identities
    assert len(list((ws.root / "pools").glob("*/identity.parquet"))) == 2
    again = check(ws.features.build_pool(path, "morgan", smiles_col="b", workers=1))
    assert (again.computed, again.cached) == (0, 2)


def test_build_workers_import_neither_pyarrow_nor_pandas():
    """A worker starts from the fork server, which imports PRELOAD: the chemistry alone, not the
    build's reading and cache code (pyarrow, pandas: ≈ 0.5 CPU-seconds before the first molecule)."""
    import subprocess
    import sys

    from molops.features import store as store_module

    for fn in (work_module.identify_and_featurize, work_module.featurize_smiles, work_module.graph_errors):
        assert fn.__module__ in store_module.PRELOAD  # pickled by reference: a worker imports that module
    code = (
        f"import sys\nfor m in {store_module.PRELOAD!r}: __import__(m)\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
