"""estimators: the TensorFlow Estimator programming model on JAX.

Example:
    >>> import estimators as est
    >>> est.ModeKeys.EVAL
    <ModeKeys.EVAL: 'eval'>
"""

from estimators import checkpoints
from estimators import data
from estimators import feature_column
from estimators import losses
from estimators import metrics
from estimators import summary
from estimators.data import Dataset
from estimators.data import inputs
from estimators.estimator import Estimator
from estimators.hooks import CheckpointSaverListener
from estimators.hooks import Hook
from estimators.hooks import LoggingHook
from estimators.hooks import NanLossDuringTrainingError
from estimators.hooks import NanTensorHook
from estimators.hooks import StepContext
from estimators.hooks import StopAtStepHook
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.spec import EstimatorSpec
from estimators.train_state import TrainState
from estimators.warm_start import WarmStartReport
from estimators.warm_start import WarmStartSettings
from estimators.writers import InMemoryWriter
from estimators.writers import JsonlWriter
from estimators.writers import MetricWriter

__version__ = "0.1.0"

__all__ = [
    "CheckpointSaverListener",
    "Dataset",
    "Estimator",
    "EstimatorSpec",
    "Hook",
    "InMemoryWriter",
    "JsonlWriter",
    "LoggingHook",
    "MetricWriter",
    "ModeKeys",
    "NanLossDuringTrainingError",
    "NanTensorHook",
    "RunConfig",
    "StepContext",
    "StopAtStepHook",
    "TrainState",
    "WarmStartReport",
    "WarmStartSettings",
    "checkpoints",
    "data",
    "feature_column",
    "inputs",
    "losses",
    "metrics",
    "summary",
]
