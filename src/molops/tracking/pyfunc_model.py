"""The MLflow pyfunc face of a molops model bundle (logged as "models from code").

MLflow copies this file into every logged model and executes it on load, so loading needs molops
installed but never unpickles a class from the tracking store. ``mlflow.pyfunc.load_model(uri)``
and ``mlflow models predict -m URI -i smiles.csv -t csv --env-manager local`` both work: the input
is a table with a ``smiles`` column in any case (or a single column of SMILES, or a list of SMILES),
the output one row per input with mean, std, applicability domain and error (see
``PREDICTION_COLUMNS``); a missing text value (no error, no parent) is None, which MLflow writes as
``null``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

import pandas as pd

from molops.data.headers import DEFAULT_SMILES_COL
from molops.tracking._mlflow import mlflow
from molops.tracking.bundle import ModelBundle

#: MLflow warns when imported; ``mlflow()`` imports it quietly, so importing this module never warns.
_mlflow = mlflow()

with warnings.catch_warnings():  # mlflow.pyfunc warns at import about its own type hints
    warnings.simplefilter("ignore")
    from mlflow.pyfunc.model import PythonModel

#: Name of the bundle folder among the logged model's artifacts.
BUNDLE_ARTIFACT = "bundle"


def smiles_of(model_input: Any) -> list[Any]:
    """The SMILES of a pyfunc input: a ``smiles`` column (any case, as the CLI reads a file: an
    export's ``SMILES`` or ``Smiles`` column is found), a single column, or a sequence."""
    if isinstance(model_input, pd.DataFrame):
        return model_input[_smiles_column(list(model_input.columns))].tolist()
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    if isinstance(model_input, dict):
        return list(model_input[_smiles_column(list(model_input))])
    if isinstance(model_input, str):
        return [model_input]
    return list(model_input)


def _smiles_column(columns: list[Hashable]) -> Hashable:
    """``smiles`` if present, else the one column named smiles in another case, else the only column."""
    if DEFAULT_SMILES_COL in columns:
        return DEFAULT_SMILES_COL
    matches = [c for c in columns if str(c).lower() == DEFAULT_SMILES_COL]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"columns {matches} could each hold the SMILES; expected one 'smiles' column")
    if len(columns) == 1:
        return columns[0]
    raise ValueError(f"expected a 'smiles' column (in any case); got columns {columns}")


def jsonable(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* with its text columns as objects holding None where a value is missing.

    pandas keeps a missing string as NaN, which ``mlflow models predict`` and MLflow's scoring
    server write as a bare ``NaN`` (not JSON, and not "no error"); None is written as ``null``.
    """
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_string_dtype(out[column].dtype):
            values = out[column].astype(object)
            out[column] = values.where(values.notna(), None)
    return out


class MolopsPyfunc(PythonModel):
    """Standardise → featurize → predict mean and std → applicability domain."""

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        applicability = bool((params or {}).get("applicability", True))
        return jsonable(self.bundle.predict(smiles_of(model_input), applicability=applicability))


_mlflow.models.set_model(MolopsPyfunc())
