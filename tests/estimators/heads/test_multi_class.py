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
    with pytest.raises(ValueError, match=r"expected \[2\] or \[2, 1\] class ids"):
        MultiClassHead(3).loss(np.zeros((2, 3)), LOGITS)
