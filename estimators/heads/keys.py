"""The names of head predictions and evaluation metrics, as in tf.estimator."""

from __future__ import annotations

import enum

__all__ = ["MetricKeys", "PredictionKeys"]


class PredictionKeys(enum.StrEnum):
    """Keys of the prediction dicts that heads return.

    Example:
        >>> PredictionKeys.CLASS_IDS == "class_ids"
        True
    """

    LOGITS = "logits"
    LOGISTIC = "logistic"
    PROBABILITIES = "probabilities"
    CLASS_IDS = "class_ids"
    CLASSES = "classes"
    ALL_CLASS_IDS = "all_class_ids"
    ALL_CLASSES = "all_classes"
    PREDICTIONS = "predictions"


class MetricKeys(enum.StrEnum):
    """Keys of the metrics that heads report in `evaluate()`.

    The `*_AT_THRESHOLD` members are %-templates for one threshold, the
    `*_AT_CLASS` ones for a class id and the `*_AT_NAME` ones for a class name.

    Example:
        >>> MetricKeys.ACCURACY_AT_THRESHOLD % 0.5
        'accuracy/positive_threshold_0.5'
    """

    LOSS = "loss"
    AVERAGE_LOSS = "average_loss"
    LOSS_REGULARIZATION = "regularization_loss"
    ACCURACY = "accuracy"
    ACCURACY_BASELINE = "accuracy_baseline"
    PRECISION = "precision"
    RECALL = "recall"
    AUC = "auc"
    AUC_PR = "auc_precision_recall"
    LABEL_MEAN = "label/mean"
    PREDICTION_MEAN = "prediction/mean"
    ACCURACY_AT_THRESHOLD = "accuracy/positive_threshold_%g"
    PRECISION_AT_THRESHOLD = "precision/positive_threshold_%g"
    RECALL_AT_THRESHOLD = "recall/positive_threshold_%g"
    PROBABILITY_MEAN_AT_CLASS = "probability_mean/class%d"
    AUC_AT_CLASS = "auc/class%d"
    AUC_PR_AT_CLASS = "auc_precision_recall/class%d"
    PROBABILITY_MEAN_AT_NAME = "probability_mean/%s"
    AUC_AT_NAME = "auc/%s"
    AUC_PR_AT_NAME = "auc_precision_recall/%s"
