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
    head = RegressionHead(
        loss_fn=lambda labels, logits: jnp.abs(labels - logits), inverse_link_fn=jnp.exp
    )
    spec = head.create_estimator_spec(
        {}, "eval", jnp.array([[0.0], [1.0]]), np.array([2.0, 2.0])
    )
    assert float(spec.loss) == pytest.approx(1.5)  # (|2 - 0| + |2 - 1|) / 2
    assert set(spec.predictions) == {"predictions", "logits"}
    assert float(spec.predictions["predictions"][1, 0]) == pytest.approx(np.e, rel=1e-6)


def test_bad_labels_are_named():
    head = RegressionHead(label_dimension=2)
    with pytest.raises(
        ValueError,
        match=r"regression head with logits of shape \[2, 2\]: expected \[2, 2\]",
    ):
        head.loss(np.zeros(2), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="must be numbers, got <U1"):
        head.transform_labels(np.array(["a"]))
    with pytest.raises(ValueError, match="`label_dimension` must be an int >= 1"):
        RegressionHead(label_dimension=0)


# -- tf.estimator 2.15's regression_head_test.py, ported ----------------------------

TF_LOGITS = np.array([[45], [41], [44]], np.int32)
TF_LABELS = np.array([[35], [42], [45]], np.int32)


def test_tf_weight_with_numeric_column_applies_its_normalizer():
    from estimators import feature_column as fc

    head = RegressionHead(
        weight_column=fc.numeric_column(
            "label_weights", normalizer_fn=lambda x: x + 1.0
        )
    )
    features = {
        "x": np.array([[42], [43], [44]], np.int32),
        "label_weights": np.array([[0.0], [-0.9], [0.5]], np.float32),
    }
    # weights = label_weights + 1 = [1, .1, 1.5]
    # weighted_loss = 1*(35-45)^2 + .1*(42-41)^2 + 1.5*(45-44)^2
    #               = 100+.1+1.5 = 101.6
    # loss = weighted_loss / batch_size = 101.6 / 3 = 33.8666667
    loss = head.loss(TF_LABELS, TF_LOGITS, features=features)
    assert float(loss) == pytest.approx(33.8666667, rel=1e-6, abs=1e-6)
    spec = head.create_estimator_spec(features, "eval", TF_LOGITS, TF_LABELS)
    # loss_mean = weighted_loss/(1+.1+1.5) = 101.6/2.6 = 39.0769231
    assert results(spec)["average_loss"] == pytest.approx(39.0769231, rel=1e-6)


def test_tf_eval_metric_ops_with_head_name_and_regularization():
    head = RegressionHead(name="some_regression_head")
    spec = head.create_estimator_spec(
        {}, "eval", TF_LOGITS, TF_LABELS, regularization_losses=[1.5, 0.5]
    )
    got = results(spec)
    assert set(got) == {
        "average_loss/some_regression_head",
        "label/mean/some_regression_head",
        "prediction/mean/some_regression_head",
        "regularization_loss/some_regression_head",
    }
    # unregularized loss = (100 + 1 + 1) / 3 = 34; regularization = 1.5 + 0.5 = 2
    assert float(spec.loss) == pytest.approx(34.0 + 2.0)
    assert got["regularization_loss/some_regression_head"] == pytest.approx(2.0)


def test_tf_weighted_multi_value_eval_per_element_weights():
    """3d label, 1 example, 1 batch; one weight per label element."""
    head = RegressionHead(weight_column="label_weights", label_dimension=3)
    logits = np.array([[45.0, 41.0, 44.0]])
    labels = np.array([[35.0, 42.0, 45.0]])
    features = {
        "x": np.array([[42.0, 43.0, 44.0]]),
        "label_weights": np.array([[1.0, 0.1, 1.5]]),
    }
    spec = head.create_estimator_spec(features, "eval", logits, labels)
    # weighted_loss = 1*(35-45)^2 + .1*(42-41)^2 + 1.5*(45-44)^2
    #               = 100+.1+1.5 = 101.6
    # expected_loss = weighted_loss / batch_size = 101.6 / 3 = 33.8666667
    assert float(spec.loss) == pytest.approx(33.8666667, rel=1e-6)
    # loss_mean = weighted_loss/(1+.1+1.5) = 101.6/2.6 = 39.0769231
    assert results(spec)["average_loss"] == pytest.approx(39.0769231, rel=1e-6)


def test_tf_multi_dim_weighted_train_create_loss():
    """Logits, labels of shape [2, 2, 3], weight shape [2, 2]."""
    head = RegressionHead(weight_column="label_weights", label_dimension=3)
    logits = np.array(
        [
            [[00.0, 01.0, 02.0], [10.0, 11.0, 12.0]],
            [[20.0, 21.0, 22.0], [30.0, 31.0, 32.0]],
        ]
    )
    labels = np.array(
        [
            [[01.0, 02.0, 03.0], [12.0, 13.0, 14.0]],
            [[23.0, 24.0, 25.0], [34.0, 35.0, 36.0]],
        ]
    )
    weights = np.array([[1.0, 1.5], [2.0, 2.5]])
    training_loss_weighted_sum = np.sum(
        np.array(
            [
                [
                    [1.0 * x for x in [1.0, 1.0, 1.0]],
                    [1.5 * x for x in [4.0, 4.0, 4.0]],
                ],
                [
                    [2.0 * x for x in [9.0, 9.0, 9.0]],
                    [2.5 * x for x in [16.0, 16.0, 16.0]],
                ],
            ]
        )
    )
    # batch_size = 2 * 2 * 3 = 12.
    loss = head.loss(labels, logits, features={"label_weights": weights}, mode="train")
    assert float(loss) == pytest.approx(training_loss_weighted_sum / 12.0, rel=1e-6)


def test_per_element_weights_from_a_numeric_column_of_label_dimension():
    from estimators import feature_column as fc

    head = RegressionHead(
        label_dimension=3,
        weight_column=fc.numeric_column("w", shape=3, normalizer_fn=lambda x: 2 * x),
    )
    features = {"w": np.array([[0.5, 0.05, 0.75]], np.float32)}  # doubled: 1, .1, 1.5
    loss = head.loss(
        np.array([[35.0, 42.0, 45.0]]), np.array([[45.0, 41.0, 44.0]]), features
    )
    # (1 * 100 + .1 * 1 + 1.5 * 1) / 3 = 33.8666667, as tf's weighted_multi_value test
    assert float(loss) == pytest.approx(33.8666667, rel=1e-6)


# -- tf's test_loss_fn_arg_* and test_eval_create_loss_loss_fn(_wrong_shape) ---------


def test_tf_loss_fn_args_are_checked():
    def _loss_fn(logits):
        del logits

    with pytest.raises(ValueError, match=r"loss_fn must contain argument: labels\."):
        RegressionHead(loss_fn=_loss_fn)

    def _loss_fn2(labels):
        del labels

    with pytest.raises(ValueError, match=r"loss_fn must contain argument: logits\."):
        RegressionHead(loss_fn=_loss_fn2)

    def _loss_fn3(labels, logits, name=None):
        del labels, logits, name  # an argument with a default is harmless

    RegressionHead(loss_fn=_loss_fn3)

    def _loss_fn4(labels, logits, features, loss_reduction):
        del labels, logits, features, loss_reduction

    RegressionHead(loss_fn=_loss_fn4)  # tf's allowed arguments

    def _loss_fn5(labels, logits, head):
        del labels, logits, head

    with pytest.raises(ValueError, match=r"loss_fn has unexpected args: \['head'\]"):
        RegressionHead(loss_fn=_loss_fn5)


def test_tf_eval_create_loss_loss_fn_with_features():
    """Tests head.loss for eval mode and custom loss_fn."""
    loss = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    logits_input = np.array([[-1.0, 1.0], [-2.0, 2.0]], np.float32)
    labels_input = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
    seen = {}

    def _loss_fn(labels, logits, features):
        seen["features"] = features
        np.testing.assert_allclose(labels, labels_input)
        np.testing.assert_allclose(logits, logits_input)
        return jnp.asarray(loss)

    head = RegressionHead(label_dimension=2, loss_fn=_loss_fn)
    features = {"x": np.array([[42]], np.int32)}
    actual = head.loss(labels_input, logits_input, features=features, mode="eval")
    assert float(actual) == pytest.approx(np.sum(loss) / 4.0)  # 6 / (2 * 2)
    assert seen["features"] is features


def test_tf_eval_create_loss_loss_fn_wrong_shape():
    """Tests custom loss_fn that returns Tensor of unexpected shape."""

    def _loss_fn(labels, logits):
        del labels, logits
        return jnp.array([[1.0], [2.0]])

    head = RegressionHead(label_dimension=2, loss_fn=_loss_fn)
    logits = np.array([[-1.0, 1.0], [-2.0, 2.0]], np.float32)
    labels = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
    with pytest.raises(ValueError, match=r"loss_fn must return Tensor of shape"):
        head.loss(labels, logits, mode="eval")
