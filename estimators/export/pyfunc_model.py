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
    """One row per example: one-value outputs as scalars, vectors as lists.

    tf's `[batch, 1]` keys (`class_ids`, `classes`, `predictions`, `logistic`)
    become scalar columns, with `classes` as text, so pandas users and
    `mlflow.models.evaluate` get plain labels; the tf-shaped arrays stay
    available from `estimators.export.load(path)` and `est.Predictor`.

    Example:
        >>> predictions_frame({"class_ids": np.array([[1], [0]]),
        ...                    "probabilities": np.array([[0.5, 0.5], [0.75, 0.25]]),
        ...                    "classes": np.array([[b"1"], [b"0"]], object)}
        ...                   ).to_dict("records")[0]
        {'class_ids': 1, 'probabilities': [0.5, 0.5], 'classes': '1'}
    """
    columns = {}
    for key, value in outputs.items():
        value = np.asarray(value)
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        if value.ndim == 1 and value.dtype.kind in "OS":
            value = np.array([_text(v) for v in value], dtype=object)
        columns[key] = value if value.ndim == 1 else list(value.tolist())
    return pd.DataFrame(columns)


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def select_output(
    frame: pd.DataFrame, params: dict[str, Any] | None
) -> pd.DataFrame | pd.Series:
    """Only the column named by `output`, as a Series ("all", the default: all).

    `output` comes from the model config or a call's params.
    `mlflow.models.evaluate` wants one prediction column:
    `model_config={"output": "class_ids"}` (classifiers) or `"predictions"`.

    Example:
        >>> frame = pd.DataFrame({"class_ids": [1], "probabilities": [[0.1, 0.9]]})
        >>> select_output(frame, {"output": "class_ids"}).tolist()
        [1]
    """
    output = (params or {}).get("output") or "all"
    if output == "all":
        return frame
    if output not in frame.columns:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        raise MlflowException(
            f"params.output {output!r} is not a prediction of this model; it has "
            f"{list(frame.columns)} (or 'all').",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return frame[output]


def _predict(model: Any, model_input: Any, params: Any = None) -> pd.DataFrame:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    try:
        signature = (params or {}).get("signature_name")
        outputs = model(model_input, signature) if signature else model(model_input)
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
            self.config = dict(getattr(context, "model_config", None) or {})

        # A DataFrame hint leaves the input to our checks, which name the column.
        def predict(
            self, context, model_input: pd.DataFrame, params=None
        ) -> pd.DataFrame | pd.Series:
            # MLflow fills params with the signature's default ("all"): a call's
            # params win only when they name a column.
            chosen = dict(getattr(self, "config", {}))
            if (params or {}).get("output") not in (None, "all"):
                chosen["output"] = params["output"]
            return select_output(_predict(self.model, model_input, params), chosen)

    return EstimatorsExport


if os.path.basename(__file__) != "pyfunc_model.py":  # the export's copy, run by MLflow
    import mlflow.models

    mlflow.models.set_model(_model_class()())
