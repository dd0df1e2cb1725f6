"""Active learning: acquisition functions, batch selection, recipes and retrospective simulation."""

from molops.active.acquisition import ACQUISITIONS, Acquisition, AcquisitionError, get_acquisition
from molops.active.campaign import Campaign
from molops.active.errors import (
    BudgetExhaustedError,
    CampaignError,
    CampaignExistsError,
    CampaignNotFoundError,
    CampaignStoppedError,
)
from molops.active.filters import Filters
from molops.active.recipe import Recipe
from molops.active.selection import SelectionError, diverse, top_n
from molops.active.simulate import Library, SimulationError, SimulationResult, load_library, simulate
from molops.active.state import Budget, Objective
from molops.active.stopping import StoppingRules
from molops.active.store import list_campaigns

__all__ = [
    "ACQUISITIONS",
    "Acquisition",
    "AcquisitionError",
    "Budget",
    "BudgetExhaustedError",
    "Campaign",
    "CampaignError",
    "CampaignExistsError",
    "CampaignNotFoundError",
    "CampaignStoppedError",
    "Filters",
    "Library",
    "Objective",
    "Recipe",
    "SelectionError",
    "SimulationError",
    "SimulationResult",
    "StoppingRules",
    "diverse",
    "get_acquisition",
    "list_campaigns",
    "load_library",
    "simulate",
    "top_n",
]
