"""MLflow models-from-code pyfunc over an estimators export.

Every export holds a copy of this file as `python_model.py`, named by its
`MLmodel`; MLflow runs that copy, which registers the model with
`mlflow.models.set_model`. This original, `estimators/export/pyfunc_model.py`,
registers nothing and imports no mlflow when imported (by tests or doctests).

Requests that do not fit the model (a missing column, a wrong type, an unknown
category) raise `MlflowException(..., INVALID_PARAMETER_VALUE)`, which
`mlflow models serve` answers with HTTP 400 and the message naming the column.
"""

import os
from typing import Any

import numpy as np
import pandas as pd

_HERE = os.path.dirname(os.path.abspath(__file__))


def predictions_frame(outputs: dict[str, Any]) -> pd.DataFrame:
    """One row per example: scalar outputs as values, vector outputs as lists.

    Example:
        >>> predictions_frame({"class_ids": np.array([[1], [0]]),
        ...                    "score": np.array([0.5, 0.25])}).to_dict("records")
        [{'class_ids': [1], 'score': 0.5}, {'class_ids': [0], 'score': 0.25}]
    """
    columns = {}
    for key, value in outputs.items():
        value = np.asarray(value)
        columns[key] = value if value.ndim == 1 else list(value.tolist())
    return pd.DataFrame(columns)


def _predict(model: Any, model_input: Any) -> pd.DataFrame:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    try:
        outputs = model(model_input)
    except (ValueError, TypeError) as e:  # ServingInputError, FeatureInputError, ...
        raise MlflowException(str(e), error_code=INVALID_PARAMETER_VALUE) from None
    return predictions_frame(outputs)


def _model_class() -> type:
    import mlflow.pyfunc

    class EstimatorsExport(mlflow.pyfunc.PythonModel):
        """Loads the export once; predicts DataFrames, dicts, records."""

        def load_context(self, context: Any) -> None:
            from estimators.export import load

            artifacts = getattr(context, "artifacts", None) or {}
            self.model = load(artifacts.get("export") or _HERE)

        # A DataFrame hint leaves the input to our checks, which name the column.
        def predict(
            self, context, model_input: pd.DataFrame, params=None
        ) -> pd.DataFrame:
            return _predict(self.model, model_input)

    return EstimatorsExport


if os.path.basename(__file__) != "pyfunc_model.py":  # the export's copy, run by MLflow
    import mlflow.models

    mlflow.models.set_model(_model_class()())
