"""The public API is one explicit list (STYLE guideline 2)."""

from __future__ import annotations

import estimators as est


def test_every_public_name_exists():
    for name in est.__all__:
        assert hasattr(est, name), name


def test_the_contract_names_of_design_md_are_public():
    required = {
        "ModeKeys",
        "EstimatorSpec",
        "RunConfig",
        "Estimator",
        "Hook",
        "NanLossDuringTrainingError",
        "MetricWriter",
        "feature_column",
        "losses",
        "metrics",
        "summary",
        "data",
        "inputs",
        "WarmStartSettings",
    }
    assert required <= set(est.__all__)
    assert callable(est.inputs.numpy_input_fn) and callable(est.inputs.pandas_input_fn)
    assert hasattr(est.data, "Dataset")


PINNED = [
    "BaselineClassifier",
    "BaselineRegressor",
    "BestExporter",
    "CheckpointSaverListener",
    "DNNClassifier",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "Dataset",
    "EarlyStopping",
    "Estimator",
    "EstimatorSpec",
    "EvalSpec",
    "Exporter",
    "FeedFnHook",
    "FinalExporter",
    "FinalOpsHook",
    "Hook",
    "InMemoryEvaluatorHook",
    "InMemoryWriter",
    "JsonlWriter",
    "LatestExporter",
    "LinearClassifier",
    "LinearRegressor",
    "LoggingHook",
    "LoggingTensorHook",
    "MetricWriter",
    "ModeKeys",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "Predictor",
    "ProfilerHook",
    "ProgressHook",
    "RunConfig",
    "SecondOrStepTimer",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StepContext",
    "StepCounterHook",
    "StopAtStepHook",
    "SummarySaverHook",
    "TFCompatWarning",
    "TensorBoardWriter",
    "TrainSpec",
    "TrainState",
    "VocabInfo",
    "WarmStartReport",
    "WarmStartSettings",
    "WarmStartWarning",
    "add_metrics",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "canned",
    "checkpoints",
    "data",
    "distribute",
    "export",
    "feature_column",
    "heads",
    "inputs",
    "load_checkpoint_into",
    "load_flax_variables",
    "layers",
    "losses",
    "make_early_stopping_hook",
    "metrics",
    "model_to_estimator",
    "read_eval_metrics",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
    "summary",
    "train_and_evaluate",
]


def test_the_public_api_is_pinned():
    # A change to the public API is deliberate: update this list with it.
    assert est.__all__ == PINNED
