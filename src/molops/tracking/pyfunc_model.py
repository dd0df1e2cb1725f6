"""The MLflow pyfunc face of a molops model bundle (logged as "models from code").

MLflow copies this file into every logged model and executes it on load, so loading needs molops
installed but never unpickles a class from the tracking store. ``mlflow.pyfunc.load_model(uri)``
and ``mlflow models predict -m URI -i smiles.csv -t csv --env-manager local`` both work: the input
is a table with a ``smiles`` column (or a single column of SMILES, or a list of SMILES), the output
one row per input with mean, std, applicability domain and error (see ``PREDICTION_COLUMNS``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from molops.tracking._mlflow import mlflow
from molops.tracking.bundle import ModelBundle

#: MLflow warns when imported; ``mlflow()`` imports it quietly, so importing this module never warns.
_mlflow = mlflow()

#: Name of the bundle folder among the logged model's artifacts.
BUNDLE_ARTIFACT = "bundle"


def smiles_of(model_input: Any) -> list[Any]:
    """The SMILES of a pyfunc input: a ``smiles`` column, a single column, or a sequence."""
    if isinstance(model_input, pd.DataFrame):
        if "smiles" in model_input.columns:
            return model_input["smiles"].tolist()
        if model_input.shape[1] == 1:
            return model_input.iloc[:, 0].tolist()
        raise ValueError(f"expected a 'smiles' column; got columns {list(model_input.columns)}")
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    if isinstance(model_input, dict) and "smiles" in model_input:
        return list(model_input["smiles"])
    if isinstance(model_input, str):
        return [model_input]
    return list(model_input)


class MolopsPyfunc(_mlflow.pyfunc.PythonModel):
    """Standardise → featurize → predict mean and std → applicability domain."""

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        applicability = bool((params or {}).get("applicability", True))
        return self.bundle.predict(smiles_of(model_input), applicability=applicability)


_mlflow.models.set_model(MolopsPyfunc())
