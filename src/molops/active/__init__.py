"""Active learning: acquisition functions, batch selection, recipes and retrospective simulation."""

from molops.active.acquisition import ACQUISITIONS, Acquisition, AcquisitionError, get_acquisition
from molops.active.recipe import Recipe
from molops.active.selection import SelectionError, diverse, top_n
from molops.active.simulate import Library, SimulationError, SimulationResult, load_library, simulate

__all__ = [
    "ACQUISITIONS",
    "Acquisition",
    "AcquisitionError",
    "Library",
    "Recipe",
    "SelectionError",
    "SimulationError",
    "SimulationResult",
    "diverse",
    "get_acquisition",
    "load_library",
    "simulate",
    "top_n",
]
