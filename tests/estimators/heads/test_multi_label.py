"""MultiLabelHead: loss, label forms and metrics against hand-computed values."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest

from estimators.heads import MultiLabelHead

LOGITS = jnp.array([[0.0, 2.0, -1.0], [1.0, 0.0, 0.0]])
LABELS = np.array([[0, 1, 1], [1, 0, 0]])
# Per-class sigmoid cross-entropy: row 1: log 2 = 0.693147, 0.126928, 1.313262
# (mean 0.711112); row 2: log(1 + e^-1) = 0.313262, log 2, log 2 (mean 0.566519).


def test_loss_averages_over_classes_and_the_batch():
    spec = MultiLabelHead(3).create_estimator_spec({}, "eval", LOGITS, LABELS)
    assert float(spec.loss) == pytest.approx(
        0.638815, abs=1e-5
    )  # (0.711112 + 0.566519) / 2
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert set(got) == {"average_loss", "auc", "auc_precision_recall"}
    assert got["average_loss"] == pytest.approx(0.638815, abs=1e-5)
    # positives score 0.88, 0.27, 0.73, negatives 0.5 (three times): 6 of 9 pairs ordered
    assert got["auc"] == pytest.approx(4 / 6, abs=1e-4)
    assert set(spec.predictions) == {"logits", "probabilities", "classes"}


def test_labels_as_lists_of_ids_or_names():
    head = MultiLabelHead(3, label_vocabulary=["a", "b", "c"])
    lists = pa.array([["b", "c"], [], ["a"]])
    assert head.transform_labels(lists).tolist() == [[0, 1, 1], [0, 0, 0], [1, 0, 0]]
    ids = MultiLabelHead(3).transform_labels(pa.array([[1, 2], [0]]))
    assert ids.tolist() == [[0, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match=r"label 'z' \(row 1\) is not in"):
        head.transform_labels(pa.array([["a"], ["b", "z"]]))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got \[3\] \(row 1\)"):
        MultiLabelHead(3).transform_labels(pa.array([[0], [1, 3]]))


def test_multi_hot_labels_are_checked():
    head = MultiLabelHead(3)
    assert head.transform_labels(LABELS).tolist() == LABELS.tolist()
    with pytest.raises(ValueError, match=r"must be 0 or 1, got \[0, 2, 0\] \(row 1\)"):
        head.transform_labels(np.array([[1, 0, 0], [0, 2, 0]]))
    with pytest.raises(ValueError, match=r"must be \[batch_size, 3\] multi-hot"):
        head.transform_labels(np.array([[1, 0]]))


# -- tf.estimator 2.15's multi_label_head_test.py, ported ---------------------------

CB_LOGITS = np.array([[-1.0, 1.0], [-1.5, 1.5]], np.float32)
CB_LABELS = np.array([[1, 0], [1, 1]], np.int64)


def _sigmoid_cross_entropy(labels, logits):
    sigmoid = 1 / (1 + np.exp(-logits))
    return np.mean(
        -labels * np.log(sigmoid) - (1 - labels) * np.log(1 - sigmoid), axis=-1
    )


def _class_based(head, labels, keys):
    spec = head.create_estimator_spec({}, "eval", CB_LOGITS, labels)
    # loss = labels * -log(sigmoid(logits)) + (1 - labels) * -log(1 - sigmoid(logits))
    # Sum over examples, divide by batch_size.
    expected_loss = 0.5 * np.sum(_sigmoid_cross_entropy(CB_LABELS, CB_LOGITS))
    sigmoid = 1 / (1 + np.exp(-CB_LOGITS))
    expected = {
        "average_loss": expected_loss,
        # auc and auc_pr cannot be reliably calculated for only 4 samples, but
        # this assert tests that the algorithm remains consistent.
        "auc": 0.3333,
        "auc_precision_recall": 0.7689,
        keys[0] % "probability_mean": np.sum(sigmoid[:, 0]) / 2.0,
        keys[0] % "auc": 0.0,
        keys[0] % "auc_precision_recall": 1.0,
        keys[1] % "probability_mean": np.sum(sigmoid[:, 1]) / 2.0,
        keys[1] % "auc": 1.0,
        keys[1] % "auc_precision_recall": 1.0,
    }
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert float(spec.loss) == pytest.approx(expected_loss, rel=1e-3, abs=1e-3)
    assert got == pytest.approx(expected, rel=1e-3, abs=1e-3)


def test_tf_eval_with_classes_for_class_based_metrics():
    head = MultiLabelHead(n_classes=2, classes_for_class_based_metrics=[0, 1])
    _class_based(head, CB_LABELS, ("%s/class0", "%s/class1"))


def test_tf_eval_with_classes_for_class_based_metrics_string():
    head = MultiLabelHead(
        n_classes=2,
        label_vocabulary=["a", "b"],
        classes_for_class_based_metrics=["a", "b"],
    )
    labels = head.transform_labels(np.array([["a"], ["a", "b"]], dtype=object))
    _class_based(head, labels, ("%s/a", "%s/b"))


def test_tf_classes_for_class_based_metrics_invalid():
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\) or names, got 2"):
        MultiLabelHead(n_classes=2, classes_for_class_based_metrics=[2])
    with pytest.raises(ValueError, match="'c' is not in label_vocabulary"):
        MultiLabelHead(
            n_classes=2,
            label_vocabulary=["a", "b"],
            classes_for_class_based_metrics=["c"],
        )


def test_tf_predict_has_the_classes_key():
    head = MultiLabelHead(4)
    logits = np.array([[0.0, 1.0, 2.0, -1.0], [-1.0, -2.0, -3.0, 1.0]], np.float32)
    predictions = head.predictions(logits)
    np.testing.assert_allclose(  # tf's assertAllClose tolerances
        predictions["probabilities"], 1 / (1 + np.exp(-logits)), rtol=1e-6, atol=1e-6
    )
    named = head.transform_predictions(
        {k: np.asarray(v) for k, v in predictions.items()}
    )
    assert named["classes"].tolist() == [["0", "1", "2", "3"]] * 2
