"""Export for serving: a self-contained exported model, a hot Predictor, MLflow pyfunc.

`Estimator.export_saved_model(export_dir_base)` writes `export_dir_base/<timestamp>/`
with the predict function serialised by `jax.export` (symbolic batch size), its
variables (safetensors), the frozen feature-column transform (JSON), a signature
and an MLflow `MLmodel`. `load(path)` serves it in a process that never imported
the model code; `mlflow models serve -m path` serves it over HTTP.

Example:
    >>> import numpy as np
    >>> from estimators import export
    >>> fn = export.build_raw_serving_input_receiver_fn({"x": np.zeros((1, 3))})
    >>> fn().features["x"]
    InputSpec(dtype='float64', shape=(3,), varlen=False, default_value=None)
"""

from estimators.export._files import ExportError, latest_export
from estimators.export._host import ServingInputError
from estimators.export._mlmodel import log_model_kwargs
from estimators.export.example_parsing import parse_example, serialize_example
from estimators.export.exported import ExportedModel, load
from estimators.export.predictor import Predictor
from estimators.export.pyfunc_model import load_pyfunc
from estimators.export.serving import (
    InputSpec,
    ServingInputReceiver,
    TensorServingInputReceiver,
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
)
from estimators.export.writer import export_saved_model
from estimators.export_output import (
    DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    ClassificationOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
)

__all__ = [
    "DEFAULT_SERVING_SIGNATURE_DEF_KEY",
    "ClassificationOutput",
    "ExportOutput",
    "PredictOutput",
    "RegressionOutput",
    "ExportError",
    "ExportedModel",
    "InputSpec",
    "Predictor",
    "ServingInputError",
    "ServingInputReceiver",
    "TensorServingInputReceiver",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "export_saved_model",
    "latest_export",
    "load",
    "load_pyfunc",
    "log_model_kwargs",
    "parse_example",
    "serialize_example",
]
