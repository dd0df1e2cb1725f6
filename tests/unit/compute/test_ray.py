"""RayExecutor on one local Ray instance: ordered results, and identical feature caches."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from molops import Workspace
from molops.chem.standardize import StandardizerSettings
from molops.compute import get_executor
from molops.compute.local import LocalExecutor
from molops.compute.ray import RayExecutor
from molops.features.base import InvalidSpecError
from molops.features.build import featurize_smiles, identify_and_featurize
from unit.active.test_oracle import (
    _flaky,
    _settle,
    lookup,  # noqa: F401 - the oracle's lookup table (a fixture)
)

ray = pytest.importorskip("ray")

#: ``ray_instance`` (tests/unit/conftest.py): one local Ray for this module's tests, the oracle's too
pytestmark = [pytest.mark.slow]

SMILES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Nc1ccc(O)cc1",
    "xyz",
    "CCCCCCCCCCCCCCCC",
    "CN1CCC[C@H]1c1cccnc1",
    "OCC",
    "CC(=O)Oc1ccccc1C(=O)O",
    "C1CC",
    "O=C(O)c1ccccc1",
    "CCN",
    "[Na+].[O-]C(=O)C",
]


def _units(spec: str, sizes: list[int]) -> list[tuple[str, list[str]]]:
    units, start = [], 0
    for size in sizes:
        units.append((spec, [SMILES[(start + i) % len(SMILES)] for i in range(size)]))
        start += size
    return units


def test_executor_uses_the_running_instance(ray_instance):
    ex = RayExecutor()
    assert (ex.kind, ex.workers) == ("ray", 2)
    assert RayExecutor(workers=5).workers == 5
    via_factory = get_executor("ray", 0, None, preload=("molops.features.build",))
    assert isinstance(via_factory, RayExecutor)
    assert via_factory.workers == 2
    assert ray.is_initialized()


@pytest.mark.parametrize("in_flight", [None, 1, 3])
def test_map_is_ordered_and_equals_local(ray_instance, in_flight):
    # uneven work units, so tasks finish out of order
    units = _units("morgan:counts=true,length=512", [40, 1, 25, 3, 12, 0, 7, 30, 2, 9])
    local = list(LocalExecutor(1).map(featurize_smiles, units))
    remote = list(RayExecutor().map(featurize_smiles, units, in_flight=in_flight))
    assert len(remote) == len(local) == 10
    for (r_data, r_errors), (l_data, l_errors), unit in zip(remote, local, units, strict=True):
        assert r_data.shape == (len(unit[1]), 512)
        assert r_data.dtype == np.uint16
        np.testing.assert_array_equal(r_data, l_data)
        assert r_errors == l_errors


def test_map_with_pool_units_equals_local(ray_instance):
    settings = StandardizerSettings()
    units = [("maccs", settings, SMILES[i : i + 4], {}, "smiles") for i in range(0, len(SMILES), 4)]
    units.append(("maccs", settings, [None, "CCO"], {}, "smiles"))
    local = list(LocalExecutor(1).map(identify_and_featurize, units))
    remote = list(RayExecutor().map(identify_and_featurize, units))
    assert len(remote) == len(local) == 4
    for r, loc in zip(remote, local, strict=True):
        assert r.keys() == loc.keys()
        np.testing.assert_array_equal(r.pop("data"), loc.pop("data"))
        assert r == loc
    assert remote[-1]["keys"][0] is None
    assert remote[-1]["errors"][0].startswith("empty_structure: ")


def test_empty_and_lazy(ray_instance):
    assert list(RayExecutor().map(featurize_smiles, [])) == []
    consumed = []

    def units():
        for i in range(50):
            consumed.append(i)
            yield ("maccs", ["C" * (i + 1)])

    results = RayExecutor().map(featurize_smiles, units(), in_flight=2)
    assert consumed == []
    data, errors = next(results)
    assert (data.shape, errors) == ((1, 21), {})
    assert len(consumed) == 2  # never more than in_flight units read ahead
    results.close()


def test_map_propagates_errors(ray_instance):
    results = RayExecutor().map(featurize_smiles, [("maccs", ["CCO"]), ("nope", ["CCO"])])
    next(results)
    with pytest.raises(InvalidSpecError, match="unknown featurizer 'nope'"):
        next(results)


# -- feature builds on Ray equal builds in this process -----------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-inputs")
    smiles = [f"{'C' * (1 + i % 11)}{'O' if i % 3 else 'N'}" for i in range(60)] + SMILES
    data = folder / "d.csv"
    data.write_text("smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles)))
    pool = folder / "pool.smi"
    pool.write_text("\n".join(reversed(smiles)) + "\n")
    return data, pool


def _build(root, inputs, executor: str):
    data, pool = inputs
    ws = Workspace.init(root)
    ds = ws.dataset("d")
    ds.ingest(data, smiles_col="smiles", target_col="y", workers=1)
    store = ws.features
    store.chunk_rows = 7  # many work units
    reports = [
        store.build_dataset(ds, "morgan", executor=executor),
        store.build_pool(pool, "morgan", executor=executor),
        store.build_pool(pool, "rdkit2d:set=basic", executor=executor),
        store.build_dataset(ds, "rdkit2d:set=basic", executor=executor),
    ]
    return ws, ds, store, reports


def test_builds_on_ray_equal_local_builds(ray_instance, inputs, tmp_path):
    ws_l, ds_l, local, local_reports = _build(tmp_path / "local", inputs, "local")
    ws_r, ds_r, remote, ray_reports = _build(tmp_path / "ray", inputs, "ray")
    assert [r.executor for r in ray_reports] == ["ray"] * 4
    assert [r.workers for r in ray_reports] == [2] * 4

    def counts(r):
        return r.model_dump(exclude={"seconds", "rows_per_s", "executor", "workers"})

    assert [counts(r) for r in ray_reports] == [counts(r) for r in local_reports]
    n_ds = len(ds_l.read())
    assert (ray_reports[0].n, ray_reports[0].computed) == (n_ds, n_ds)
    assert ray_reports[3].computed == 0  # the pool had computed them all

    keys = ds_l.read()["inchikey"].tolist()
    assert ds_r.read()["inchikey"].tolist() == keys
    for spec in ("morgan", "rdkit2d:set=basic"):
        r_values, r_valid = remote.get(spec, keys)
        l_values, l_valid = local.get(spec, keys)
        np.testing.assert_array_equal(r_values, l_values)
        assert r_valid.tolist() == l_valid.tolist()
        assert remote.cache(spec).errors() == local.cache(spec).errors()
        assert len(remote.cache(spec)) == len(local.cache(spec))
    assert [(e["spec"], e["rows"], e["invalid"]) for e in remote.list()] == [
        (e["spec"], e["rows"], e["invalid"]) for e in local.list()
    ]
    (ray_table,) = (ws_r.root / "pools").glob("*/identity.parquet")
    (local_table,) = (ws_l.root / "pools").glob("*/identity.parquet")
    assert pq.read_table(ray_table).equals(pq.read_table(local_table))


def test_pool_scoring_on_ray_equals_in_process(ray_instance, tmp_path):
    from ..active.test_campaign import measured_workspace, propose_with, split_freesolv

    files = split_freesolv(tmp_path)
    ws = measured_workspace(tmp_path / "ws", files)
    here = propose_with(None, ws, files, "same")
    shutil.rmtree(ws.root / "campaigns" / "same")  # the same name: the same seed
    pd.testing.assert_frame_equal(here, propose_with(RayExecutor(), ws, files, "same"))


def test_an_oracle_on_ray_a_bad_molecule_still_fails_alone(lookup, ray_instance):  # noqa: F811
    """--executor ray: each round of chunks is a round of Ray tasks; failed chunks split the same.
    (An oracle test, here so that it runs on this module's Ray: see test_oracle.py.)"""
    executor = RayExecutor(2)  # the module's local Ray on loopback
    rows = _settle(_flaky(lookup, "--crash K6 --nan K3"), executor=executor, timeout_per_molecule=30.0)
    assert rows["K6"]["reason"] == "the oracle exited with code 1: segfault in the docking engine"
    assert rows["K3"]["reason"] == "value is NaN"
    assert {k: r["value"] for k, r in rows.items() if k not in ("rejected", "K3", "K6")} == {
        f"K{i}": -i - 0.5 for i in (0, 1, 2, 4, 5, 7)
    }
