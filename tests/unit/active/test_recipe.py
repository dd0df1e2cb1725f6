"""A recipe's parts are checked with errors that name the part."""

from __future__ import annotations

import pytest

from molops.active.acquisition import get_acquisition
from molops.active.recipe import Recipe
from molops.cli._campaign_common import recipe_of
from molops.errors import UsageError
from molops.models.base import MODELS
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


def test_a_recipe_naming_no_acquisition_takes_its_models_default():
    # the default recipe's GP explores a little (UCB); a forest's tree spread is no posterior: greedy
    assert Recipe().acquisition == "ucb:beta=1"
    assert Recipe(model="gp").acquisition == "ucb:beta=1"
    assert Recipe(model="rf").acquisition == "greedy"
    assert Recipe().check().canonical().acquisition == "ucb:beta=1.0"


def test_an_acquisition_the_recipe_names_wins_over_the_models_default():
    assert Recipe(model="gp-split", acquisition="greedy").acquisition == "greedy"
    assert Recipe(model="rf", acquisition="ei:xi=0.1").acquisition == "ei:xi=0.1"


def test_a_stored_recipe_keeps_the_acquisition_it_recorded():
    # a campaign.json written when every default was greedy names "greedy": it stays greedy
    stored = Recipe(acquisition="greedy").check().canonical().model_dump()
    assert Recipe.model_validate(stored).acquisition == "greedy"
    assert Recipe.model_validate_json(Recipe(acquisition="greedy").model_dump_json()).acquisition == "greedy"
    # and a recipe file naming only a model takes that model's default
    assert Recipe.model_validate_json('{"model": "gp"}').acquisition == "ucb:beta=1"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_models_default_acquisition_is_one_it_can_serve(name):
    model = MODELS.get(name)
    get_acquisition(model.default_acquisition).check(model.provides, name)


def test_the_cli_recipe_leaves_the_acquisition_to_the_model_unless_given():
    assert recipe_of("rf", None, None, None, None).acquisition == "greedy"
    assert recipe_of(None, None, None, None, None).acquisition == "ucb:beta=1"
    assert recipe_of(None, None, None, "greedy", None).acquisition == "greedy"
