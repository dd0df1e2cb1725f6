"""The errors of campaigns, in a module of their own so that every campaign module can raise them."""

from __future__ import annotations

from molops.errors import MolopsError


class CampaignError(MolopsError):
    """A campaign cannot be created or run as asked."""

    exit_code = 2


class CampaignNotFoundError(CampaignError):
    """No campaign of that name exists in the workspace."""


class CampaignExistsError(CampaignError):
    """``campaign create`` was given the name of an existing campaign."""


class BudgetExhaustedError(CampaignError):
    """The campaign has proposed all the molecules or iterations its budget allows."""


class CampaignStoppedError(CampaignError):
    """The campaign met one of its stopping rules (``propose --ignore-stop`` proposes anyway)."""
