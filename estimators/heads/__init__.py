"""Heads: the loss, predictions and metrics of a problem, given a network's logits.

A `model_fn` computes logits and lets a head build the `EstimatorSpec`:

    logits = nn.Dense(head.logits_dimension)(net)
    return head.create_estimator_spec(features, mode, logits, labels, optimizer)

Prediction and metric keys are tf.estimator's (`PredictionKeys`, `MetricKeys`).

Example:
    >>> from estimators import heads
    >>> heads.MultiClassHead(n_classes=3).logits_dimension
    3
"""

from estimators.heads.base import Head
from estimators.heads.binary_class import BinaryClassHead
from estimators.heads.keys import MetricKeys, PredictionKeys
from estimators.heads.logistic_regression import LogisticRegressionHead
from estimators.heads.multi_class import MultiClassHead
from estimators.heads.multi_head import MultiHead
from estimators.heads.multi_label import MultiLabelHead
from estimators.heads.poisson_regression import PoissonRegressionHead
from estimators.heads.regression import RegressionHead

__all__ = [
    "BinaryClassHead",
    "Head",
    "LogisticRegressionHead",
    "MetricKeys",
    "MultiClassHead",
    "MultiHead",
    "MultiLabelHead",
    "PoissonRegressionHead",
    "PredictionKeys",
    "RegressionHead",
]
