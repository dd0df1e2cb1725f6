"""The exception tree and the honesty of the public ``__all__`` lists."""

from __future__ import annotations

import importlib
import inspect

import pytest

import molops
from molops import errors

PUBLIC_MODULES = ["molops", "molops.errors", "molops.chem", "molops.data", "molops.compute"]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_exists(module_name):
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing name {name!r}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_star_import_gives_exactly_all(module_name):
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # the user-facing meaning of __all__
    namespace.pop("__builtins__")
    assert set(namespace) == set(importlib.import_module(module_name).__all__)


def _exception_classes_defined_in_errors():
    return {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == errors.__name__
        and not name.startswith("_")
    }


def test_errors_all_lists_every_public_exception_class():
    defined = _exception_classes_defined_in_errors()
    assert len(defined) >= 11
    assert set(errors.__all__) == defined


def test_every_error_is_a_molops_error():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MolopsError), name
        assert isinstance(cls.exit_code, int) and cls.exit_code >= 1, name


def test_top_level_exports():
    assert molops.MolopsError is errors.MolopsError
    assert molops.Workspace.__name__ == "Workspace"
    assert molops.__version__ == importlib.import_module("molops._version").__version__
    assert isinstance(molops.__version__, str) and molops.__version__.count(".") >= 2


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("MolopsError", 1),
        ("ConfigError", 2),
        ("WorkspaceNotFoundError", 2),
        ("WorkspaceExistsError", 2),
        ("InputFileError", 2),
        ("ColumnNotFoundError", 2),
        ("DatasetNotFoundError", 2),
        ("VersionNotFoundError", 2),
        ("InvalidNameError", 2),
        ("UnitsMismatchError", 2),
        ("UsageError", 2),
        ("ConcurrentWriteError", 3),
    ],
)
def test_exit_codes(name, code):
    assert getattr(errors, name).exit_code == code


def test_column_not_found_is_an_input_file_error():
    assert issubclass(errors.ColumnNotFoundError, errors.InputFileError)
    with pytest.raises(errors.InputFileError, match="no column"):
        raise errors.ColumnNotFoundError("x.csv: no column 'y'")


def test_errors_carry_their_message():
    exc = errors.DatasetNotFoundError("dataset 'sol' does not exist in this workspace")
    assert str(exc) == "dataset 'sol' does not exist in this workspace"
