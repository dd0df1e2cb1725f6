"""A recipe's parts are checked with errors that name the part."""

from __future__ import annotations

import pytest

from molops.active.recipe import Recipe
from molops.errors import UsageError
from molops.models.transforms import TargetTransform


def test_a_recipe_naming_an_unknown_target_transform_is_refused_in_one_sentence():
    # was pydantic's multi-line ValidationError, not a molops error the CLI prints
    with pytest.raises(
        UsageError,
        match=r"^target transform 'sqrt' is not supported; expected one of: "
        r"none, standardize, log, log-standardize$",
    ):
        Recipe(model="rf", transform="sqrt").check()


def test_a_recipe_gives_the_target_transform_it_names():
    assert Recipe(transform="log").target_transform() == TargetTransform(kind="log")
