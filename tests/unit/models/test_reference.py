"""The training reference: nearest-neighbour Tanimoto similarity, domain threshold, persistence."""

from __future__ import annotations

import datamol as dm
import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from molops.models import reference
from molops.models.reference import (
    DESCRIPTORS,
    TrainingReference,
    descriptor_table,
    fingerprints,
    max_similarity,
    scaffold_of,
)


@pytest.fixture(scope="module")
def molecules() -> list[str]:
    """80 random FreeSolv molecules (seeded)."""
    smiles = dm.data.freesolv()["smiles"].tolist()
    rows = np.random.default_rng(7).choice(len(smiles), 80, replace=False)
    return [smiles[i] for i in rows]


def _rdkit_max(query: list[str], ref: list[str], exclude_self: bool = False) -> np.ndarray:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    q = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in query]
    r = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in ref]
    best = []
    for i, fp in enumerate(q):
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, r))
        if exclude_self:
            sims[i] = -1.0
        best.append(sims.max())
    return np.asarray(best)


def test_fingerprints_are_packed_morgan_bits(molecules):
    packed, valid = fingerprints([*molecules[:3], "xyz"])
    assert packed.shape == (4, 256)
    assert packed.dtype == np.uint8
    assert valid.tolist() == [True, True, True, False]
    assert not packed[3].any()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    expected = gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(molecules[0])).astype(bool)
    assert np.array_equal(np.unpackbits(packed[0]).astype(bool), expected)


def test_max_similarity_equals_rdkit_bulk_tanimoto(molecules):
    query, ref = molecules[:30], molecules[30:]
    got = max_similarity(fingerprints(query)[0], fingerprints(ref)[0])
    np.testing.assert_allclose(got, _rdkit_max(query, ref), rtol=0, atol=1e-12)


def test_a_reference_counts_its_bits_once_and_answers_the_same(molecules, monkeypatch):
    ref = TrainingReference.build(["k"] * 50, molecules[30:], np.zeros(50))
    query = fingerprints(molecules[:30])[0]
    expected = _rdkit_max(molecules[:30], molecules[30:])
    counted: list[int] = []
    original = reference.bit_counts
    monkeypatch.setattr(
        reference, "bit_counts", lambda packed: counted.append(len(packed)) or original(packed)
    )
    for _ in range(3):
        np.testing.assert_allclose(ref.similarity(query), expected, rtol=0, atol=1e-12)
    assert counted == [50, 30, 30, 30]  # the 50 training rows once, each query every time


def test_exclude_self_is_the_nearest_other_molecule(molecules):
    fps = fingerprints(molecules)[0]
    with_self = max_similarity(fps, fps)
    assert np.all(with_self == 1.0)
    without = max_similarity(fps, fps, exclude_self=True)
    np.testing.assert_allclose(without, _rdkit_max(molecules, molecules, exclude_self=True), atol=1e-12)
    assert (without < 1.0).any()


def test_result_does_not_depend_on_the_block_size(molecules, monkeypatch):
    fps = fingerprints(molecules)[0]
    query = fps[:25]
    whole = max_similarity(query, fps)
    whole_self = max_similarity(fps, fps, exclude_self=True)
    # one query per block, then a few per block (the last block shorter than the others)
    for block in (1, 7 * fps.nbytes):
        monkeypatch.setattr(reference, "_BLOCK_BYTES", block)
        np.testing.assert_array_equal(max_similarity(query, fps), whole)
        np.testing.assert_array_equal(max_similarity(fps, fps, exclude_self=True), whole_self)


def test_empty_inputs(molecules):
    fps = fingerprints(molecules[:5])[0]
    none = np.zeros((0, 256), dtype=np.uint8)
    assert max_similarity(none, fps).shape == (0,)
    np.testing.assert_array_equal(max_similarity(fps, none), np.zeros(5))
    assert max_similarity(none, none).shape == (0,)
    assert fingerprints([])[0].shape[0] == 0


def test_build_domain_threshold_is_a_quantile_of_neighbour_similarities(molecules):
    y = np.arange(len(molecules), dtype=float)
    ref = TrainingReference.build([f"K{i}" for i in range(len(molecules))], molecules, y, 0.1)
    fps = fingerprints(molecules)[0]
    np.testing.assert_array_equal(ref.fingerprints, fps)
    np.testing.assert_allclose(ref.neighbour_similarity, max_similarity(fps, fps, exclude_self=True))
    assert ref.domain_threshold == pytest.approx(np.quantile(ref.neighbour_similarity, 0.1))
    assert ref.domain_quantile == 0.1
    assert len(ref) == len(molecules)
    assert ref.descriptors.shape == (len(molecules), len(DESCRIPTORS))
    assert ref.scaffolds.tolist() == [scaffold_of(s) for s in molecules]
    # a training molecule is its own nearest neighbour
    np.testing.assert_array_equal(ref.similarity(fps[:4]), np.ones(4))
    # a larger quantile is a stricter threshold
    strict = TrainingReference.build(ref.inchikeys, molecules, y, 0.5)
    assert strict.domain_threshold >= ref.domain_threshold


def test_build_of_one_and_of_no_molecules():
    one = TrainingReference.build(["K"], ["CCO"], [1.0])
    assert one.neighbour_similarity.tolist() == [1.0]
    assert one.domain_threshold == 1.0
    empty = TrainingReference.build([], [], [])
    assert len(empty) == 0
    assert empty.domain_threshold == 0.0
    assert empty.similarity(fingerprints(["CCO"])[0]).tolist() == [0.0]


def test_save_load_round_trip(molecules, tmp_path):
    ref = TrainingReference.build([f"K{i}" for i in range(10)], molecules[:10], np.linspace(0, 1, 10))
    path = ref.save(tmp_path / "reference.npz")
    back = TrainingReference.load(path)
    for name in (
        "inchikeys",
        "smiles",
        "y",
        "fingerprints",
        "descriptors",
        "scaffolds",
        "neighbour_similarity",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(ref, name), err_msg=name)
    assert (back.domain_threshold, back.domain_quantile) == (ref.domain_threshold, ref.domain_quantile)
    assert back.smiles.dtype.kind == "U"  # loads without pickles


def test_descriptor_table_is_nan_for_unparsable():
    table = descriptor_table(["CCO", "xyz", "", "c1ccccc1"])
    assert table.shape == (4, len(DESCRIPTORS))
    assert table.dtype == np.float32
    assert np.isfinite(table[[0, 3]]).all()
    assert np.isnan(table[[1, 2]]).all()
    names = list(DESCRIPTORS)
    assert table[0, names.index("heavy_atoms")] == 3
    assert table[3, names.index("aromatic_rings")] == 1


def test_scaffold_of():
    assert scaffold_of("Cc1ccccc1") == "c1ccccc1"
    assert scaffold_of("CCO") == ""
    assert scaffold_of("xyz") == ""
