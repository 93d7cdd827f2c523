"""The MLflow pyfunc loader of an export: installed code, never the artifact's.

An export's `MLmodel` names this module as its `loader_module`, so
`mlflow.pyfunc.load_model(path)` and `mlflow models serve -m path` call
`_load_pyfunc(path)` here (MLflow's custom-flavor contract). That loads the
export with `estimators.export.load`, which checks that the directory holds
exactly the files `export.json` lists, each with its recorded sha256, before it
reads any of them; nothing in the export is ever imported or unpickled.

Requests that do not fit the model (a missing column, a wrong type, an unknown
category) raise `MlflowException(..., INVALID_PARAMETER_VALUE)`, which
`mlflow models serve` answers with HTTP 400 and the message naming the column.
MLflow is imported only when a request fails or a signature is inferred.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from estimators._lazy import LazyModule
from estimators.export._files import MLMODEL, ExportError
from estimators.export.exported import load

# pandas costs ~0.2 s to import; only serving through MLflow needs it.
pd = LazyModule("pandas")

__all__ = [
    "PyfuncModel",
    "check_mlmodel",
    "infer_signature",
    "load_pyfunc",
    "predictions_frame",
    "select_output",
]


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
        raise _invalid(
            f"params.output {output!r} is not a prediction of this model; it has "
            f"{list(frame.columns)} (or 'all')."
        )
    return frame[output]


def _invalid(message: str) -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class PyfuncModel:
    """A verified export behind MLflow's pyfunc `predict(model_input, params)`.

    Args:
        path: The export directory; loading refuses it unless every file matches
            `export.json` (see `estimators.export.load`).
        model_config: MLflow's model config; `{"output": "class_ids"}` returns
            that one prediction column (what `mlflow.models.evaluate` needs).
    """

    def __init__(
        self, path: str | os.PathLike[str], model_config: dict[str, Any] | None = None
    ) -> None:
        self.model = load(path)
        self.config = dict(model_config or {})

    def get_raw_model(self) -> Any:
        """The loaded `ExportedModel` (MLflow's `PyFuncModel.get_raw_model()`)."""
        return self.model

    def predict(
        self, model_input: Any, params: dict[str, Any] | None = None
    ) -> pd.DataFrame | pd.Series:
        """Predicts DataFrames, dicts, records or serialized tf.Examples.

        `params`: `output` (one prediction column, or "all") and
        `signature_name` (a serving signature; default "serving_default").
        """
        # MLflow fills params with the signature's default ("all"): a call's
        # params win only when they name a column.
        chosen = dict(self.config)
        if (params or {}).get("output") not in (None, "all"):
            chosen["output"] = params["output"]
        signature = (params or {}).get("signature_name")
        try:
            outputs = self.model(model_input, signature or None)
        except (ValueError, TypeError) as e:  # ServingInputError, FeatureInputError
            raise _invalid(str(e)) from None
        return select_output(predictions_frame(outputs), chosen)


def _load_pyfunc(
    data_path: str, model_config: dict[str, Any] | None = None
) -> PyfuncModel:
    """MLflow's loader-module entry point: the export at `data_path`, verified."""
    return PyfuncModel(data_path, model_config)


def infer_signature(export_path: str, input_example: Any) -> Any:
    """The MLflow `ModelSignature` of an export, from an input example.

    Args:
        export_path: The export directory.
        input_example: A DataFrame, or `(DataFrame, params)` whose params (e.g.
            `{"output": "all"}`) become the signature's params with those defaults.
    """
    import mlflow.models

    data, params = input_example, None
    if isinstance(input_example, tuple):
        data, params = input_example
    predictions = PyfuncModel(export_path).predict(data, params)
    return mlflow.models.infer_signature(data, predictions, params=params)


def check_mlmodel(path: str | os.PathLike[str]) -> None:
    """Refuses an MLflow model whose `MLmodel` would import code of its own.

    `mlflow.pyfunc.load_model` imports whatever module the `MLmodel` names (and
    puts its `code` folder on `sys.path`) before any loader can check a file, so
    a rewritten `MLmodel` runs code; this reads it as YAML data first and
    accepts only this installed module as the loader, with no code folder.

    Raises:
        ExportError: The model is loaded otherwise; the message names how.
    """
    import yaml

    full = os.path.join(os.fspath(path), MLMODEL)
    try:
        with open(full) as f:
            flavor = (yaml.safe_load(f) or {})["flavors"]["python_function"]
        loader, code = flavor.get("loader_module"), flavor.get("code")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        raise ExportError(
            f"model {os.fspath(path)!r}: {MLMODEL} has no readable python_function "
            f"flavor ({type(e).__name__}: {e})."
        ) from None
    if loader != __name__ or code:
        raise ExportError(
            f"model {os.fspath(path)!r}: its {MLMODEL} loads it with {loader!r}"
            f"{f' and code from {code!r}' if code else ''}, not with the installed "
            f"{__name__}: refusing to import code that came with the model. Load "
            "the export with estimators.export.load, or log it again with "
            "estimators.export.log_model_kwargs."
        )


def load_pyfunc(
    model_uri: str | os.PathLike[str],
    *,
    model_config: dict[str, Any] | None = None,
    dst_path: str | None = None,
) -> Any:
    """`mlflow.pyfunc.load_model` for exports, checking the `MLmodel` first.

    Downloads the model (an export directory, `runs:/`, `models:/name@alias`,
    ...), refuses it unless its `MLmodel` names this installed loader and no
    code (`check_mlmodel`), then loads it; the loader verifies every file of
    the export against `export.json`.

    Args:
        model_uri: What `mlflow.pyfunc.load_model` takes.
        model_config: Passed on (`{"output": "class_ids"}`: one column).
        dst_path: Where to download a remote model; default a temporary folder.
    """
    import mlflow.artifacts
    import mlflow.pyfunc

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=os.fspath(model_uri), dst_path=dst_path
    )
    check_mlmodel(local)
    return mlflow.pyfunc.load_model(local, model_config=model_config)
