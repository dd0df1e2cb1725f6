"""Every registered featurizer against RDKit computed directly; counts, bits, pickling."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdMolDescriptors
from rdkit.Chem import rdFingerprintGenerator as fpgen

from molops.features import FEATURIZERS, get_featurizer
from molops.features.descriptors import BASIC

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Nc1ccc(O)cc1",
    "C[C@H](N)C(=O)O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "C",
]
MOLS = [Chem.MolFromSmiles(s) for s in SMILES]

#: spec → the RDKit generator it must reproduce
GENERATORS = {
    "morgan": lambda: fpgen.GetMorganGenerator(radius=2, fpSize=2048),
    "morgan:radius=3,length=1024": lambda: fpgen.GetMorganGenerator(radius=3, fpSize=1024),
    "morgan:radius=1,chirality=true": lambda: fpgen.GetMorganGenerator(
        radius=1, fpSize=2048, includeChirality=True
    ),
    "fcfp": lambda: fpgen.GetMorganGenerator(
        radius=2, fpSize=2048, atomInvariantsGenerator=fpgen.GetMorganFeatureAtomInvGen()
    ),
    "atompair": lambda: fpgen.GetAtomPairGenerator(minDistance=1, maxDistance=30, fpSize=2048),
    "atompair:min_distance=2,max_distance=4,length=512": lambda: fpgen.GetAtomPairGenerator(
        minDistance=2, maxDistance=4, fpSize=512
    ),
    "torsion": lambda: fpgen.GetTopologicalTorsionGenerator(torsionAtomCount=4, fpSize=2048),
    "torsion:torsion_atoms=3,length=256": lambda: fpgen.GetTopologicalTorsionGenerator(
        torsionAtomCount=3, fpSize=256
    ),
}


def test_every_registered_featurizer_is_covered_here():
    covered = {spec.split(":")[0] for spec in GENERATORS} | {"maccs", "rdkit2d", "graph"}  # graph: test_graph
    assert covered == set(FEATURIZERS)


@pytest.mark.parametrize("spec", list(GENERATORS))
def test_bits_equal_rdkit(spec):
    f = get_featurizer(spec)
    gen = GENERATORS[spec]()
    m = f.transform(SMILES)
    assert f.kind == "bits"
    assert m.values.shape == (len(SMILES), f.dim)
    assert m.values.dtype == np.uint8
    assert m.errors == {}
    expected = np.stack([gen.GetFingerprintAsNumPy(mol) for mol in MOLS])
    np.testing.assert_array_equal(m.values, expected)
    assert set(np.unique(m.values)) <= {0, 1}
    assert m.values[1:-1].any(axis=1).all()  # (ethanol has no 4-atom torsion, methane no pair)


@pytest.mark.parametrize("spec", list(GENERATORS))
def test_counts_equal_rdkit(spec):
    counted = get_featurizer(spec + ("," if ":" in spec else ":") + "counts=true")
    bits = get_featurizer(spec)
    assert counted.kind == "counts"
    assert counted.hash != bits.hash
    gen = GENERATORS[spec]()
    m = counted.transform(SMILES)
    assert m.values.shape == (len(SMILES), counted.dim)
    assert m.values.dtype == np.uint16
    expected = np.stack([gen.GetCountFingerprintAsNumPy(mol) for mol in MOLS])
    np.testing.assert_array_equal(m.values, expected)
    assert m.values.max() > 1  # some environments occur more than once
    assert not np.array_equal(m.values, bits.transform(SMILES).values)


@pytest.mark.parametrize("spec", ["morgan", "morgan:radius=3,length=1024", "fcfp"])
def test_morgan_counts_are_nonzero_exactly_where_bits_are_set(spec):
    # (atom pairs and torsions differ: their bit vectors simulate counts, as RDKit's do)
    counts = get_featurizer(spec + ("," if ":" in spec else ":") + "counts=true").transform(SMILES).values
    bits = get_featurizer(spec).transform(SMILES).values
    np.testing.assert_array_equal((counts > 0).astype(np.uint8), bits)


def test_morgan_default_is_ecfp4_2048_bits():
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    expected = fpgen.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprintAsNumPy(mol)
    np.testing.assert_array_equal(
        get_featurizer("morgan").transform(["CC(=O)Nc1ccc(O)cc1"]).values[0], expected
    )
    assert int(expected.sum()) > 0


def test_counts_are_clipped_to_uint16(monkeypatch):
    f = get_featurizer("morgan:counts=true,length=8")

    class Huge:
        def GetCountFingerprintAsNumPy(self, mol):
            return np.array([0, 1, 65535, 65536, 70000, 2**31, 3, 0], dtype=np.uint32)

    f._generator = Huge()
    m = f.transform(["CCO"])
    assert m.values.tolist() == [[0, 1, 65535, 65535, 65535, 65535, 3, 0]]


def test_fcfp_differs_from_morgan():
    morgan = get_featurizer("morgan").transform(SMILES).values
    fcfp = get_featurizer("fcfp").transform(SMILES).values
    assert get_featurizer("fcfp").spec.split(":")[1] == get_featurizer("morgan").spec.split(":")[1]
    for i in range(len(SMILES)):
        assert not np.array_equal(morgan[i], fcfp[i]), SMILES[i]


def test_chirality_parameter():
    pair = ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"]
    plain = get_featurizer("morgan").transform(pair).values
    chiral = get_featurizer("morgan:chirality=true").transform(pair).values
    np.testing.assert_array_equal(plain[0], plain[1])
    assert not np.array_equal(chiral[0], chiral[1])


def test_maccs():
    f = get_featurizer("maccs")
    assert (f.kind, f.dim, f.dtype) == ("bits", 167, np.uint8)
    m = f.transform(SMILES)
    assert m.values.shape == (len(SMILES), 167)
    assert m.errors == {}
    for row, mol in zip(m.values, MOLS, strict=True):
        fp = rdMolDescriptors.GetMACCSKeysFingerprint(mol)
        assert fp.GetNumBits() == 167
        assert np.flatnonzero(row).tolist() == list(fp.GetOnBits())
        ref = np.zeros(167, dtype=np.uint8)
        DataStructs.ConvertToNumpyArray(fp, ref)
        np.testing.assert_array_equal(row, ref)
    assert not m.values[:, 0].any()  # key 0 is unused by definition


def test_rdkit2d_basic():
    f = get_featurizer("rdkit2d:set=basic")
    assert (f.kind, f.dtype) == ("dense", np.float32)
    assert f.names == BASIC
    assert f.dim == len(BASIC) == 11
    assert f.describe()["names"] == list(BASIC)
    m = f.transform(["CCO", "c1ccccc1"])
    assert m.errors == {}
    ethanol = dict(zip(f.names, m.values[0].tolist(), strict=True))
    assert ethanol["MolWt"] == pytest.approx(46.069, abs=1e-3)
    assert ethanol["HeavyAtomCount"] == 3
    assert ethanol["NumHDonors"] == 1
    assert ethanol["NumHAcceptors"] == 1
    assert ethanol["RingCount"] == 0
    assert ethanol["FractionCSP3"] == 1.0
    assert ethanol["TPSA"] == pytest.approx(20.23, abs=1e-2)
    benzene = dict(zip(f.names, m.values[1].tolist(), strict=True))
    assert benzene["NumAromaticRings"] == 1
    assert benzene["RingCount"] == 1
    assert benzene["FractionCSP3"] == 0.0
    assert benzene["MolWt"] == pytest.approx(78.114, abs=1e-3)


def test_rdkit2d_all_equals_rdkit_descriptors():
    f = get_featurizer("rdkit2d")
    assert f.names == tuple(name for name, _ in Descriptors._descList)
    assert f.dim == len(Descriptors._descList)
    m = f.transform(SMILES[:4])
    assert m.values.shape == (4, f.dim)
    assert m.values.dtype == np.float32
    functions = dict(Descriptors._descList)
    for row, mol in zip(m.values, MOLS[:4], strict=True):
        expected = np.array([functions[n](mol) for n in f.names], dtype=np.float64)
        expected = np.where(np.abs(expected) <= np.finfo(np.float32).max, expected, np.nan)
        np.testing.assert_array_equal(row, expected.astype(np.float32))


def test_rdkit2d_failures_and_overflows_are_nan_not_errors():
    f = get_featurizer("rdkit2d:set=basic")

    def boom(mol):
        raise RuntimeError("descriptor failed")

    f._functions[0] = boom
    f._functions[1] = lambda mol: 1e300  # overflows float32
    f._functions[2] = lambda mol: -1e300
    m = f.transform(["CCO"])
    assert m.errors == {}
    assert m.valid.tolist() == [True]
    assert [math.isnan(v) for v in m.values[0, :3].tolist()] == [True, True, True]
    assert m.values[0, 3] == 1  # NumHDonors still computed


@pytest.mark.parametrize("name", sorted(FEATURIZERS))
def test_invalid_smiles_rows(name):
    f = get_featurizer(name)
    m = f.transform(["CCO", "not a smiles", "C1CC"])
    assert m.values.shape == ((3,) if f.kind == "graph" else (3, f.dim))  # graphs: one object a row
    assert sorted(m.errors) == [1, 2]
    assert m.valid.tolist() == [True, False, False]
    assert not m.values[1:].any()


@pytest.mark.parametrize("spec", [*GENERATORS, "morgan:counts=true", "maccs", "rdkit2d", "rdkit2d:set=basic"])
def test_pickling_after_use(spec):
    f = get_featurizer(spec)
    before = f.transform(SMILES)  # builds the (unpicklable) generator / descriptor functions
    clone = pickle.loads(pickle.dumps(f))
    assert type(clone) is type(f)
    assert clone.spec == f.spec
    assert clone.hash == f.hash
    after = clone.transform(SMILES)
    np.testing.assert_array_equal(after.values, before.values)
    assert after.errors == before.errors
    # and the original still works after being pickled
    np.testing.assert_array_equal(f.transform(SMILES).values, before.values)
