"""estimators: the TensorFlow Estimator programming model on JAX.

Example:
    >>> import estimators as est
    >>> est.ModeKeys.EVAL
    <ModeKeys.EVAL: 'eval'>
"""

from estimators import canned
from estimators import checkpoints
from estimators import data
from estimators import distribute
from estimators import export
from estimators import feature_column
from estimators import heads
from estimators import layers
from estimators import losses
from estimators import metrics
from estimators import summary
from estimators._compat import TFCompatWarning
from estimators.basic_session_run_hooks import FeedFnHook
from estimators.basic_session_run_hooks import FinalOpsHook
from estimators.basic_session_run_hooks import LoggingTensorHook
from estimators.basic_session_run_hooks import ProfilerHook
from estimators.basic_session_run_hooks import SecondOrStepTimer
from estimators.basic_session_run_hooks import StepCounterHook
from estimators.basic_session_run_hooks import SummarySaverHook
from estimators.canned import BaselineClassifier
from estimators.canned import BaselineRegressor
from estimators.canned import DNNClassifier
from estimators.canned import DNNLinearCombinedClassifier
from estimators.canned import DNNLinearCombinedRegressor
from estimators.canned import DNNRegressor
from estimators.canned import LinearClassifier
from estimators.canned import LinearRegressor
from estimators.data import Dataset
from estimators.data import inputs
from estimators.early_stopping import make_early_stopping_hook
from estimators.eval_records import read_eval_metrics
from estimators.early_stopping import stop_if_higher_hook
from estimators.early_stopping import stop_if_lower_hook
from estimators.early_stopping import stop_if_no_decrease_hook
from estimators.early_stopping import stop_if_no_increase_hook
from estimators.estimator import Estimator
from estimators.export import Predictor
from estimators.flax_module import load_flax_variables
from estimators.export import build_parsing_serving_input_receiver_fn
from estimators.export import build_raw_serving_input_receiver_fn
from estimators.extenders import add_metrics
from estimators.hooks import CheckpointSaverListener
from estimators.hooks import Hook
from estimators.hooks import LoggingHook
from estimators.hooks import NanLossDuringTrainingError
from estimators.hooks import NanTensorHook
from estimators.hooks import StepContext
from estimators.hooks import StopAtStepHook
from estimators.in_memory import InMemoryEvaluatorHook
from estimators.keras import load_checkpoint_into
from estimators.mode_keys import ModeKeys
from estimators.patience import EarlyStopping
from estimators.model_to_estimator import model_to_estimator
from estimators.progress import ProgressHook
from estimators.run_config import RunConfig
from estimators.session_run_hook import SessionRunArgs
from estimators.session_run_hook import SessionRunContext
from estimators.session_run_hook import SessionRunHook
from estimators.session_run_hook import SessionRunValues
from estimators.spec import EstimatorSpec
from estimators.tensorboard import TensorBoardWriter
from estimators.train_state import TrainState
from estimators.exporters import BestExporter
from estimators.training import EvalSpec
from estimators.exporters import Exporter
from estimators.exporters import FinalExporter
from estimators.exporters import LatestExporter
from estimators.training import TrainSpec
from estimators.training import train_and_evaluate
from estimators.warm_start import VocabInfo
from estimators.warm_start import WarmStartReport
from estimators.warm_start import WarmStartSettings
from estimators.warm_start import WarmStartWarning
from estimators.writers import InMemoryWriter
from estimators.writers import JsonlWriter
from estimators.writers import MetricWriter

__version__ = "0.1.0"

__all__ = [
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
