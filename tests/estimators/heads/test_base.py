"""What every head shares: loss_reduction spellings."""

from __future__ import annotations

import pytest

from estimators.heads import BinaryClassHead, MultiClassHead, RegressionHead
from estimators.losses import Reduction


@pytest.mark.parametrize(
    ("spelling", "reduction"),
    [
        ("sum_over_batch_size", Reduction.SUM_OVER_BATCH_SIZE),  # tf 2.x default
        ("sum", Reduction.SUM),  # tf.keras.losses.Reduction.SUM
        ("auto", Reduction.SUM_OVER_BATCH_SIZE),  # Keras' AUTO outside a strategy
        ("weighted_sum", Reduction.SUM),  # tf.compat.v1.losses.Reduction.SUM
        (Reduction.SUM_BY_NONZERO_WEIGHTS, Reduction.SUM_BY_NONZERO_WEIGHTS),
    ],
)
def test_tf2_and_tf1_loss_reduction_spellings(spelling, reduction):
    assert RegressionHead(loss_reduction=spelling).loss_reduction is reduction
    assert BinaryClassHead(loss_reduction=spelling).loss_reduction is reduction
    assert MultiClassHead(3, loss_reduction=spelling).loss_reduction is reduction


def test_default_loss_reduction_is_tf2s():
    assert RegressionHead().loss_reduction is Reduction.SUM_OVER_BATCH_SIZE


@pytest.mark.parametrize("bad", ["none", "mean", Reduction.NONE])
def test_none_and_unknown_reductions_are_refused(bad):
    with pytest.raises(ValueError, match="`loss_reduction` must be one of"):
        RegressionHead(loss_reduction=bad)


def test_head_signatures_are_tf_2_15s_in_order():
    import inspect

    from estimators import heads

    tf = {
        "BinaryClassHead": "weight_column thresholds label_vocabulary loss_reduction "
        "loss_fn name",
        "MultiClassHead": "n_classes weight_column label_vocabulary loss_reduction "
        "loss_fn name",
        "MultiLabelHead": "n_classes weight_column thresholds label_vocabulary "
        "loss_reduction loss_fn classes_for_class_based_metrics name",
        "RegressionHead": "label_dimension weight_column loss_reduction loss_fn "
        "inverse_link_fn name",
        "PoissonRegressionHead": "label_dimension weight_column loss_reduction "
        "compute_full_loss name",
        "LogisticRegressionHead": "weight_column loss_reduction name",
        "MultiHead": "heads head_weights",
    }
    for name, arguments in tf.items():
        ours = list(inspect.signature(getattr(heads, name)).parameters)
        assert ours == arguments.split(), name


def test_tf_labels_none():
    import numpy as np

    from estimators.heads import MultiHead, MultiLabelHead

    logits = np.array([[-10.0, 10.0], [-15.0, 10.0]], np.float32)
    head = MultiLabelHead(n_classes=2)
    with pytest.raises(
        ValueError,
        match=r"You must provide a labels Tensor \(EVAL mode\)\. Given: None\.",
    ):
        head.loss(labels=None, logits=logits, mode="eval")
    with pytest.raises(ValueError, match=r"labels Tensor \(TRAIN mode\)\. Given: None"):
        head.create_estimator_spec({}, "train", logits, None)
    multi = MultiHead([MultiLabelHead(2, name="a")])
    with pytest.raises(ValueError, match=r"You must provide a labels Tensor"):
        multi.loss(None, {"a": logits})
