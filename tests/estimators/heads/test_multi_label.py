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
    assert set(spec.predictions) == {"logits", "probabilities"}


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
