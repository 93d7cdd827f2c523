"""MultiClassHead: loss, predictions and metrics against hand-computed values."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from estimators.heads import MultiClassHead

LOGITS = jnp.array([[0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
LABELS = np.array([2, 1])
# Cross-entropy: row 1 log 3 = 1.098612; row 2 log(e^5 + 2) - 5 = log(1 + 2e^-5) = 0.013386.


def test_eval_spec_has_tf_keys_and_hand_computed_values():
    spec = MultiClassHead(3).create_estimator_spec({}, "eval", LOGITS, LABELS)
    assert float(spec.loss) == pytest.approx(
        0.555999, abs=1e-5
    )  # (1.098612 + 0.013386) / 2
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert set(got) == {"accuracy", "average_loss"}
    assert got["accuracy"] == pytest.approx(
        0.5
    )  # argmax 0 (first of a tie) vs 2; 1 vs 1
    assert got["average_loss"] == pytest.approx(0.555999, abs=1e-5)


def test_weights_and_sum_reduction():
    head = MultiClassHead(3, weight_column="w", loss_reduction="weighted_sum")
    features = {"w": np.array([[0.5], [2.0]], np.float32)}
    # 0.5 * 1.098612 + 2 * 0.013386 = 0.576078
    assert float(head.loss(LABELS, LOGITS, features)) == pytest.approx(
        0.576078, abs=1e-5
    )
    spec = head.create_estimator_spec(features, "eval", LOGITS, LABELS)
    accuracy = float(spec.eval_metric_ops["accuracy"].result())
    assert accuracy == pytest.approx(0.8)  # (0.5 * 0 + 2 * 1) / 2.5


def test_predictions_have_tf_keys():
    predictions = MultiClassHead(3).predictions(LOGITS)
    assert set(predictions) == {
        "logits",
        "probabilities",
        "class_ids",
        "classes",
        "all_class_ids",
        "all_classes",
    }
    assert predictions["class_ids"].tolist() == [[0], [1]]
    assert float(predictions["probabilities"][1, 1]) == pytest.approx(
        0.986703, abs=1e-6
    )
    assert (
        predictions["all_class_ids"].tolist() == [[0, 1, 2]] * 2
    )  # e^5 / (e^5 + 2) above


def test_label_vocabulary_round_trip():
    head = MultiClassHead(3, label_vocabulary=["cat", "dog", "fish"])
    assert head.transform_labels(np.array([["fish"], ["cat"]])).tolist() == [[2], [0]]
    named = head.transform_predictions(
        {k: np.asarray(v) for k, v in head.predictions(LOGITS).items()}
    )
    assert named["classes"].tolist() == [["cat"], ["dog"]]
    assert named["all_classes"][0].tolist() == ["cat", "dog", "fish"]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`n_classes` must be an int > 2, got 2"):
        MultiClassHead(2)
    with pytest.raises(ValueError, match="has 2 entries but n_classes is 3"):
        MultiClassHead(3, label_vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="duplicates"):
        MultiClassHead(3, label_vocabulary=["a", "b", "a"])
    with pytest.raises(
        ValueError, match=r"class ids in \[0, 3\), got \[1.5\] \(row 0\)"
    ):
        MultiClassHead(3).transform_labels(np.array([1.5, 2.0]))
    with pytest.raises(
        ValueError,
        match=r"multi-class head with logits of shape \[2, 3\]: expected \[2, 1\] or \[2\]",
    ):
        MultiClassHead(3).loss(np.zeros((2, 3)), LOGITS)


# -- tf.estimator 2.15's multi_class_head_test.py, ported ---------------------------


def test_tf_eval_with_regularization_losses_and_head_name():
    head = MultiClassHead(3, name="some_multiclass_head")
    logits = np.array([[10, 0, 0], [0, 10, 0]], np.float32)
    labels = np.array([[1], [1]], np.int64)
    spec = head.create_estimator_spec(
        {}, "eval", logits, labels, regularization_losses=[1.5, 0.5]
    )
    # unregularized_loss = sum(cross_entropy(labels, logits)) / batch_size
    #                    = sum(10, 0) / 2 = 5.; regularization = 2.
    assert float(spec.loss) == pytest.approx(5.0 + 2.0, rel=1e-2, abs=1e-2)
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert got == pytest.approx(
        {
            "average_loss/some_multiclass_head": 5.0,
            "regularization_loss/some_multiclass_head": 2.0,
            "accuracy/some_multiclass_head": 0.5,  # 1 of 2 labels is correct.
        },
        rel=1e-2,
        abs=1e-2,
    )


# Logits of shape [2, 2, 3], labels [2, 2, 1], weights [2, 2].
MULTI_DIM_LOGITS = np.array(
    [[[10, 0, 0], [12, 0, 0]], [[0, 10, 0], [0, 15, 0]]], np.float32
)
MULTI_DIM_LABELS = np.array([[[0], [1]], [[1], [2]]], np.int64)
MULTI_DIM_WEIGHTS = np.array([[1.0, 1.5], [2.0, 2.5]], np.float32)


def test_tf_multi_dim_weighted_train_create_loss():
    head = MultiClassHead(n_classes=3, weight_column="weights")
    loss = head.loss(
        MULTI_DIM_LABELS, MULTI_DIM_LOGITS, features={"weights": MULTI_DIM_WEIGHTS}
    )
    # unreduced_loss = cross_entropy(labels, logits) = [[0, 12], [0, 15]].
    # weights are reshaped to [2, 2, 1] to match logits.
    # training_loss = sum(1*0 + 1.5*12 + 2*0 + 2.5*15) / batch_size
    #               = 55.5 / (2*2) = 13.875
    assert float(loss) == pytest.approx(13.875, rel=1e-2, abs=1e-2)


def test_tf_multi_dim_weighted_eval():
    head = MultiClassHead(n_classes=3, weight_column="weights")
    spec = head.create_estimator_spec(
        {"weights": MULTI_DIM_WEIGHTS}, "eval", MULTI_DIM_LOGITS, MULTI_DIM_LABELS
    )
    total = float(np.sum(MULTI_DIM_WEIGHTS))
    assert float(spec.loss) == pytest.approx(13.875, rel=1e-2, abs=1e-2)
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert got == pytest.approx(
        {
            "average_loss": 55.5 / total,
            "accuracy": (1.0 * 1.0 + 1.5 * 0.0 + 2.0 * 1.0 + 2.5 * 0.0) / total,
        },
        rel=1e-2,
        abs=1e-2,
    )
    assert spec.predictions["class_ids"].tolist() == [[[0], [0]], [[1], [1]]]
