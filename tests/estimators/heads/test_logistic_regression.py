"""LogisticRegressionHead: tf.estimator 2.15's regression_head_test.py, ported."""

from __future__ import annotations

import numpy as np
import pytest

from estimators.heads import LogisticRegressionHead

LOGITS = np.array([[0], [-1], [1]], np.float32)


def test_tf_train():
    head = LogisticRegressionHead()
    labels = np.array([[0.4], [0.6], [0.8]], np.float32)
    features = {"x": np.array([[42.0]], np.int32)}
    # With x = logits, z = labels.
    # loss  = max(x, 0) - x * z + log(1 + exp(-abs(x)))
    # loss = [0 - 0 * 0.4 + ln(1 + exp(-0)),
    #         0 + 1 * 0.6 + ln(1 + exp(-1)),
    #         1 - 1 * 0.8 + ln(1 + exp(-1))]
    #      = [0.6931, 0.9133, 0.5133]
    # training_loss = (0.6931 + 0.9133 + 0.5133) / 3
    loss = head.loss(labels, LOGITS, features=features, mode="train")
    assert float(loss) == pytest.approx(0.7066, abs=0.001)
    spec = head.create_estimator_spec(features, "eval", LOGITS, labels)
    assert set(spec.eval_metric_ops) == {
        "average_loss",
        "label/mean",
        "prediction/mean",
    }


@pytest.mark.parametrize("bad", [1.2, -0.2])
def test_tf_train_labels_out_of_range(bad):
    head = LogisticRegressionHead()
    labels = np.array([[0.4], [bad], [0.8]], np.float32)
    with pytest.raises(ValueError, match=r"Labels must be in range \[0, 1\]"):
        head.loss(labels, LOGITS, mode="train")
    with pytest.raises(ValueError, match=r"Labels must be in range \[0, 1\].*row 1"):
        head.transform_labels(labels)


def test_tf_predict():
    predictions = LogisticRegressionHead().predictions(LOGITS)
    assert set(predictions) == {"predictions", "logits"}
    np.testing.assert_allclose(  # tf's assertAllClose tolerances
        predictions["predictions"], 1.0 / (1.0 + np.exp(-LOGITS)), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(predictions["logits"], LOGITS)
