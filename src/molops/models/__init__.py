"""Models: surrogates with uncertainty, their registry, target transforms, evaluation and tuning."""

from typing import TYPE_CHECKING, Any

from molops.models import zoo  # noqa: F401  (registers the model zoo)
from molops.models.base import MODELS, InvalidModelError, Surrogate, get_model
from molops.models.comparison import compare
from molops.models.crossval import TuningError
from molops.models.metrics import MetricsError, evaluate
from molops.models.splits import Split, SplitError, make_split
from molops.models.transforms import TargetTransform

if TYPE_CHECKING:
    from molops.models.tuning import TuneResult, tune


def __getattr__(name: str) -> Any:
    """``tune`` and ``TuneResult`` on first use: Optuna and SQLAlchemy cost ~0.5 s to import, and
    most users of the zoo (a campaign's status, the registry) never tune."""
    if name in ("tune", "TuneResult"):
        from molops.models import tuning

        return getattr(tuning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODELS",
    "InvalidModelError",
    "MetricsError",
    "Split",
    "SplitError",
    "Surrogate",
    "TargetTransform",
    "TuneResult",
    "TuningError",
    "compare",
    "evaluate",
    "get_model",
    "make_split",
    "tune",
]
