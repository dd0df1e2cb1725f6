"""The name → object registry behind the CLI's choices."""

from __future__ import annotations

import doctest

import pytest

from molops import registry
from molops.errors import MolopsError
from molops.registry import Registry


def test_register_decorator_returns_the_object_and_registers_it():
    reg = Registry[object]("reader")

    @reg.register("csv")
    def read_csv():
        return "csv!"

    assert read_csv() == "csv!"
    assert reg.get("csv") is read_csv


def test_add_and_get():
    reg = Registry[int]("number")
    reg.add("one", 1)
    reg.add("two", 2)
    assert reg.get("one") == 1
    assert reg.get("two") == 2


def test_duplicate_name_is_refused_and_keeps_the_first():
    reg = Registry[int]("model")
    reg.add("rf", 1)
    with pytest.raises(ValueError, match=r"^model 'rf' is already registered$"):
        reg.add("rf", 2)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("rf")(3)
    assert reg.get("rf") == 1
    assert len(reg) == 1


def test_unknown_name_lists_the_choices_sorted():
    reg = Registry[int]("featurizer")
    for name in ("morgan", "ecfp", "rdkit2d"):
        reg.add(name, 0)
    with pytest.raises(MolopsError) as info:
        reg.get("maccs")
    assert str(info.value) == "unknown featurizer 'maccs'; expected one of: ecfp, morgan, rdkit2d"


def test_unknown_name_in_an_empty_registry():
    with pytest.raises(MolopsError, match=r"^unknown splitter 'x'; expected one of: \(none\)$"):
        Registry[int]("splitter").get("x")


def test_names_iteration_membership_and_length():
    reg = Registry[str]("thing")
    assert len(reg) == 0
    assert reg.names() == []
    for name in ("b", "c", "a"):
        reg.add(name, name.upper())
    assert reg.names() == ["a", "b", "c"]
    assert list(reg) == ["a", "b", "c"]
    assert len(reg) == 3
    assert "a" in reg
    assert "z" not in reg
    assert 3 not in reg
    assert reg.kind == "thing"


def test_registries_are_independent():
    first, second = Registry[int]("x"), Registry[int]("x")
    first.add("a", 1)
    assert "a" not in second


def test_module_doctest_runs():
    result = doctest.testmod(registry)
    assert result.attempted >= 2
    assert result.failed == 0
