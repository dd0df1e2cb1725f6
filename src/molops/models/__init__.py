"""Models: surrogates with uncertainty, their registry, target transforms, evaluation and tuning."""

from molops.models import zoo  # noqa: F401  (registers the model zoo)
from molops.models.base import MODELS, InvalidModelError, Surrogate, get_model
from molops.models.comparison import compare
from molops.models.crossval import TuningError
from molops.models.metrics import MetricsError, evaluate
from molops.models.splits import Split, SplitError, make_split
from molops.models.transforms import TargetTransform
from molops.models.tuning import TuneResult, tune

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
