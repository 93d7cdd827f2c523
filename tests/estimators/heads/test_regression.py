"""RegressionHead: loss, predictions and metrics against hand-computed values."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from estimators.heads import RegressionHead


def results(spec):
    return {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}


def test_eval_spec_has_tf_keys_and_hand_computed_values():
    spec = RegressionHead().create_estimator_spec(
        {}, "eval", jnp.array([[1.0], [4.0]]), np.array([3.0, 4.0])
    )
    assert float(spec.loss) == pytest.approx(2.0)  # ((1 - 3)² + (4 - 4)²) / 2
    assert results(spec) == pytest.approx(
        {"average_loss": 2.0, "label/mean": 3.5, "prediction/mean": 2.5}
    )
    assert set(spec.predictions) == {"predictions"}


def test_label_dimension_two_with_weights():
    head = RegressionHead(label_dimension=2, weight_column="w")
    logits = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    labels = np.ones((2, 2), np.float32)
    spec = head.create_estimator_spec(
        {"w": np.array([1.0, 0.0])}, "eval", logits, labels
    )
    # squared errors [[0, 1], [4, 9]]; the second row weighs 0: (0 + 1) / 4 elements
    assert float(spec.loss) == pytest.approx(0.25)
    got = results(spec)
    assert got["average_loss"] == pytest.approx(0.5)  # (0 + 1) / 2 weighted elements
    assert got["prediction/mean"] == pytest.approx(1.5)  # (1 + 2) / 2


def test_custom_loss_and_inverse_link():
    head = RegressionHead(loss_fn=lambda y, x: jnp.abs(y - x), inverse_link_fn=jnp.exp)
    spec = head.create_estimator_spec(
        {}, "eval", jnp.array([[0.0], [1.0]]), np.array([2.0, 2.0])
    )
    assert float(spec.loss) == pytest.approx(1.5)  # (|2 - 0| + |2 - 1|) / 2
    assert set(spec.predictions) == {"predictions", "logits"}
    assert float(spec.predictions["predictions"][1, 0]) == pytest.approx(np.e, rel=1e-6)


def test_bad_labels_are_named():
    head = RegressionHead(label_dimension=2)
    with pytest.raises(ValueError, match=r"label_dimension 2: expected \(2, 2\)"):
        head.loss(np.zeros(2), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="must be numbers, got <U1"):
        head.transform_labels(np.array(["a"]))
    with pytest.raises(ValueError, match="`label_dimension` must be an int >= 1"):
        RegressionHead(label_dimension=0)
