"""Featurizer specs: parsing, validation, canonical form, hashes; FeatureMatrix errors/valid."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import rdkit
from rdkit import Chem

from molops.errors import MolopsError
from molops.features import FEATURIZERS, FeatureMatrix, Featurizer, get_featurizer
from molops.features.base import InvalidSpecError, parse_spec

ALL_NAMES = ["atompair", "fcfp", "graph", "maccs", "morgan", "rdkit2d", "torsion"]
MORGAN_PARAMS = "length, counts, radius, chirality"


# -- parsing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("morgan", ("morgan", {})),
        ("morgan:", ("morgan", {})),
        ("morgan:radius=3,length=1024", ("morgan", {"radius": 3, "length": 1024})),
        (" morgan : radius = 3 , length=1024, ", ("morgan", {"radius": 3, "length": 1024})),
        ("morgan:counts=true,chirality=FALSE", ("morgan", {"counts": True, "chirality": False})),
        ("morgan:counts=True", ("morgan", {"counts": True})),
        ("x:a=0.5,b=-2,c=1e3", ("x", {"a": 0.5, "b": -2, "c": 1000.0})),
        ("rdkit2d:set=basic", ("rdkit2d", {"set": "basic"})),
        ("x:a=b=c", ("x", {"a": "b=c"})),
    ],
)
def test_parse_spec(spec, expected):
    name, params = parse_spec(spec)
    assert (name, params) == expected
    for key, value in expected[1].items():  # True is not 1, 1.0 is not 1: the types are exact
        assert type(params[key]) is type(value)


@pytest.mark.parametrize(("spec", "item"), [("morgan:radius", "radius"), ("morgan:radius=2,=3", "=3")])
def test_parse_spec_needs_key_equals_value(spec, item):
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(spec)
    assert str(info.value) == f"featurizer spec {spec!r}: expected key=value, got {item!r}"
    assert info.value.exit_code == 2
    assert isinstance(info.value, MolopsError)


def test_registered_featurizers():
    assert list(FEATURIZERS) == ALL_NAMES
    assert len(FEATURIZERS) == 7


def test_unknown_featurizer():
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("nope:radius=2")
    assert str(info.value) == f"unknown featurizer 'nope'; expected one of: {', '.join(ALL_NAMES)}"
    with pytest.raises(InvalidSpecError, match="unknown featurizer 'Morgan'"):
        get_featurizer("Morgan")  # names are case-sensitive


def test_unknown_parameter_names_it_and_lists_the_allowed_ones():
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("morgan:radius=3,foo=1")
    assert (
        str(info.value) == f"featurizer 'morgan' has no parameter 'foo'; its parameters are: {MORGAN_PARAMS}"
    )
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("atompair:radius=2")
    assert str(info.value) == (
        "featurizer 'atompair' has no parameter 'radius'; "
        "its parameters are: length, counts, min_distance, max_distance"
    )
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("maccs:length=10")
    assert str(info.value) == "featurizer 'maccs' has no parameter 'length'; its parameters are: none"
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("rdkit2d:names=x")
    assert str(info.value) == "featurizer 'rdkit2d' has no parameter 'names'; its parameters are: set"


@pytest.mark.parametrize(
    ("spec", "key", "fragment"),
    [
        ("morgan:radius=2.5", "radius", "fractional part"),
        ("morgan:radius=-1", "radius", "greater than or equal to 0"),
        ("morgan:radius=9", "radius", "less than or equal to 8"),
        ("morgan:length=4", "length", "greater than or equal to 8"),
        ("morgan:radius=abc", "radius", "valid integer"),
        ("morgan:counts=maybe", "counts", "valid boolean"),
        ("rdkit2d:set=some", "set", "'all' or 'basic'"),
    ],
)
def test_invalid_parameter_values(spec, key, fragment):
    name = spec.split(":")[0]
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer(spec)
    message = str(info.value)
    assert message.startswith(f"featurizer {name!r}: invalid value for {key!r}: ")
    assert fragment in message


def test_an_invalid_value_is_quoted_and_a_colon_for_a_comma_is_pointed_out():
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("morgan:radius=3:length=1024")
    message = str(info.value)
    assert "(got '3:length=1024')" in message
    assert message.endswith("; separate parameters with ',' (name:key=value,key=value)")
    with pytest.raises(InvalidSpecError) as info:
        get_featurizer("morgan:radius=abc")
    assert str(info.value).endswith("(got 'abc')")


def test_coerced_values_reach_the_parameters():
    f = get_featurizer("morgan:radius=3,length=1024,counts=true,chirality=false")
    assert f.params.model_dump() == {"length": 1024, "counts": True, "radius": 3, "chirality": False}
    assert f.kind == "counts"
    assert f.dim == 1024
    assert f.dtype == np.uint16
    # an integral float or 1/0 is accepted for int/bool parameters and gives the same featurizer
    assert get_featurizer("morgan:radius=3.0,length=1024,counts=1").hash == f.hash


# -- canonical spec and hash -------------------------------------------------------------------
DEFAULT_SPECS = {
    "atompair": "atompair:counts=false,length=2048,max_distance=30,min_distance=1",
    "fcfp": "fcfp:chirality=false,counts=false,length=2048,radius=2",
    "maccs": "maccs",
    "morgan": "morgan:chirality=false,counts=false,length=2048,radius=2",
    "rdkit2d": "rdkit2d:set=all",
    "torsion": "torsion:counts=false,length=2048,torsion_atoms=4",
    "graph": "graph",
}


@pytest.mark.parametrize("name", ALL_NAMES)
def test_default_spec_is_canonical_and_round_trips(name):
    f = get_featurizer(name)
    assert f.spec == DEFAULT_SPECS[name]
    again = get_featurizer(f.spec)
    assert type(again) is type(f)
    assert again.spec == f.spec
    assert again.hash == f.hash
    assert again.params == f.params


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("morgan:radius=3,length=1024", "morgan:chirality=false,counts=false,length=1024,radius=3"),
        ("morgan:length=1024,radius=3", "morgan:chirality=false,counts=false,length=1024,radius=3"),
        ("fcfp:counts=true", "fcfp:chirality=false,counts=true,length=2048,radius=2"),
        ("atompair:max_distance=5", "atompair:counts=false,length=2048,max_distance=5,min_distance=1"),
        ("torsion:torsion_atoms=3,length=512", "torsion:counts=false,length=512,torsion_atoms=3"),
        ("rdkit2d:set=basic", "rdkit2d:set=basic"),
    ],
)
def test_spec_round_trip(spec, canonical):
    f = get_featurizer(spec)
    assert f.spec == canonical
    assert get_featurizer(canonical).spec == canonical
    assert get_featurizer(canonical).hash == f.hash
    assert repr(f) == f"<{type(f).__name__} {canonical}>"


def test_hash_is_stable_and_covers_every_parameter():
    h = get_featurizer("morgan").hash
    assert len(h) == 16
    assert int(h, 16) >= 0  # hex
    assert get_featurizer("morgan").hash == h
    assert get_featurizer(DEFAULT_SPECS["morgan"]).hash == h  # defaults spelled out: same hash
    assert get_featurizer("morgan:radius=2").hash == h
    others = [
        "morgan:radius=3",
        "morgan:length=1024",
        "morgan:counts=true",
        "morgan:chirality=true",
        "fcfp",  # same parameters, different featurizer
        "atompair",
        "torsion",
        "maccs",
        "rdkit2d",
        "rdkit2d:set=basic",
    ]
    hashes = [get_featurizer(s).hash for s in others]
    assert len({h, *hashes}) == len(others) + 1


def test_hash_covers_the_rdkit_version(monkeypatch):
    before = get_featurizer("morgan")
    h = before.hash
    monkeypatch.setattr(rdkit, "__version__", "1999.09.1")
    after = get_featurizer("morgan")
    assert after.library_versions() == {"rdkit": "1999.09.1"}
    assert after.hash != h
    assert after.spec == before.spec


def test_describe():
    f = get_featurizer("morgan:length=1024")
    assert f.describe() == {
        "spec": "morgan:chirality=false,counts=false,length=1024,radius=2",
        "hash": f.hash,
        "kind": "bits",
        "dim": 1024,
        "dtype": "uint8",
        "versions": {"rdkit": rdkit.__version__},
    }


# -- FeatureMatrix -----------------------------------------------------------------------------
def test_feature_matrix_valid_and_errors():
    m = FeatureMatrix(np.ones((4, 3), dtype=np.float32), {1: "bad", 3: "worse"})
    assert len(m) == 4
    assert m.valid.tolist() == [True, False, True, False]
    assert FeatureMatrix(np.zeros((2, 3))).valid.tolist() == [True, True]
    assert FeatureMatrix(np.zeros((0, 3))).valid.tolist() == []
    sparse = FeatureMatrix(np.array([[0, 1, 0], [0, 0, 0]], dtype=np.uint8)).sparse()
    assert sparse.shape == (2, 3)
    assert sparse.nnz == 1
    assert sparse.toarray().tolist() == [[0, 1, 0], [0, 0, 0]]


def test_unparsable_and_empty_smiles_are_flagged_never_valid():
    m = get_featurizer("morgan").transform(["CCO", "xyz", "", "c1ccccc1", "C1CC"])
    assert m.values.shape == (5, 2048)
    assert m.errors == {
        1: "cannot parse SMILES 'xyz'",
        2: "empty SMILES",
        4: "cannot parse SMILES 'C1CC'",
    }
    assert m.valid.tolist() == [True, False, False, True, False]
    assert int(m.valid.sum()) == 2
    assert not m.values[[1, 2, 4]].any()  # failed rows are zero…
    assert m.values[[0, 3]].any(axis=1).all()  # …and valid rows are not


def test_long_unparsable_smiles_is_truncated_in_the_reason():
    text = "X" * 100
    m = get_featurizer("maccs").transform([text])
    assert m.errors == {0: f"cannot parse SMILES {'X' * 60!r}"}
    assert m.valid.tolist() == [False]


class _Partial(Featurizer):
    """Writes part of a row, then fails on molecules of more than two heavy atoms."""

    name: ClassVar[str] = "partial"
    kind: ClassVar[str] = "dense"  # type: ignore[assignment]

    @property
    def dim(self) -> int:
        return 3

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        out[0] = mol.GetNumAtoms()
        if mol.GetNumAtoms() > 2:
            raise ValueError("too big")
        out[1] = 7.0


def test_a_featurizer_exception_flags_the_row_and_zeroes_it():
    f = _Partial()
    assert f.spec == "partial"
    m = f.transform(["C", "CCC", "CC", "nope"])
    assert m.errors == {1: "partial failed: too big", 3: "cannot parse SMILES 'nope'"}
    assert m.valid.tolist() == [True, False, True, False]
    assert m.values.dtype == np.float32
    assert m.values.tolist() == [[1, 7, 0], [0, 0, 0], [2, 7, 0], [0, 0, 0]]
