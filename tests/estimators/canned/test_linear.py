"""LinearClassifier / LinearRegressor: complete flow, sparse weights, defaults."""

from __future__ import annotations

import pytest
from support import fast_config

from estimators import canned
from estimators.canned.linear import linear_learning_rate


def test_linear_classifier_complete_flow(complete_flow, toy, columns):
    def make(model_dir):
        return canned.LinearClassifier(
            [columns["x"], columns["color"]],
            model_dir=model_dir,
            n_classes=3,
            sparse_combiner="mean",
            config=fast_config(random_seed=1),
        )

    classifier, results, _ = complete_flow(
        make,
        toy["features"],
        toy["classes"],
        eval_keys={"accuracy", "average_loss"},
        predict_keys={
            "logits",
            "probabilities",
            "class_ids",
            "classes",
            "all_class_ids",
            "all_classes",
        },
        steps=30,
    )
    assert results["accuracy"] > 0.6
    # A sparse table per categorical column: one row of 3 logits per vocabulary id.
    table = classifier.get_variable_value("params/linear/linear_model/color/weights")
    assert table.shape == (3, 3)
    assert classifier.get_variable_value(
        "params/linear/linear_model/x/weights"
    ).shape == (2, 3)


def test_linear_regressor_complete_flow_with_a_weight_column(
    complete_flow, toy, columns
):
    from estimators import feature_column as fc

    def make(model_dir):
        return canned.LinearRegressor(
            [columns["x"], columns["color"]],
            model_dir=model_dir,
            weight_column=fc.numeric_column("w"),
            config=fast_config(random_seed=1),
        )

    complete_flow(
        make,
        toy["features"],
        toy["real"],
        eval_keys={"average_loss", "label/mean", "prediction/mean"},
        predict_keys={"predictions"},
    )


def test_default_learning_rate_is_tfs():
    assert linear_learning_rate(2) == 0.2  # min(0.2, 1 / sqrt(2) = 0.707)
    assert linear_learning_rate(100) == pytest.approx(0.1)  # min(0.2, 1 / 10)


def test_bad_arguments_are_named(columns):
    with pytest.raises(ValueError, match="`sparse_combiner` must be one of"):
        canned.LinearClassifier([columns["color"]], sparse_combiner="max")
    with pytest.raises(ValueError, match="`feature_columns` must not be empty"):
        canned.LinearRegressor([])


def _one_step_bias(optimizer, num_columns, tmp_path):
    """The bias after one step on one example (label 1, all features 0)."""
    import numpy as np

    from estimators import feature_column as fc

    names = [f"f{i:02d}" for i in range(num_columns)]
    regressor = canned.LinearRegressor(
        [fc.numeric_column(n) for n in names],
        model_dir=str(tmp_path),
        optimizer=optimizer,
        config=fast_config(random_seed=1),
    )
    features = {n: np.zeros(1, np.float32) for n in names}
    regressor.train(lambda: (features, np.ones(1, np.float32)), steps=1)
    return float(
        regressor.get_variable_value("params/linear/linear_model/bias_weights")[0]
    )


def test_a_named_optimizer_gets_learning_rate_0_2_whatever_the_columns(tmp_path):
    # tf 2.15 (and 1.x): get_optimizer_instance_v2("Ftrl", learning_rate=0.2); the
    # min(0.2, 1/sqrt(n)) rule is only for optimizer=None.
    # Gradient of (b - 1)² at b = 0: g = -2; FTRL: n = 0.1 + 4, z = -2,
    # b = -z / (sqrt(n) / lr) = 2 * lr / sqrt(4.1).
    bias = _one_step_bias("Ftrl", 30, tmp_path / "named")
    assert bias == pytest.approx(2 * 0.2 / 4.1**0.5, rel=1e-5)
    bias = _one_step_bias(None, 30, tmp_path / "none")
    assert bias == pytest.approx(2 * 30**-0.5 / 4.1**0.5, rel=1e-5)


# -- tf.estimator 2.15's linear_testing_utils.py, ported -----------------------------


def test_tf_binary_classes_from_checkpoint_float_labels(
    tmp_path, create_checkpoint, loss_recorder
):
    import numpy as np
    import optax

    from estimators import feature_column as fc

    classifier = canned.LinearClassifier(
        [fc.numeric_column("age")],
        model_dir=str(tmp_path),
        optimizer=optax.set_to_zero(),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        return {"age": np.array([[17.0]], np.float32)}, np.array([[0.8]], np.float32)

    create_checkpoint(
        classifier,
        input_fn,
        {
            "linear/linear_model/age/weights": [[2.0]],
            "linear/linear_model/bias_weights": [-35.0],
        },
        global_step=100,
    )
    # logits = age * age_weight + bias = 17 * 2. - 35. = -1.
    # loss = sigmoid_cross_entropy(logits, label)
    # => loss = -0.8 * log(sigmoid(-1)) -0.2 * log(sigmoid(+1)) = 1.1132617
    classifier.train(input_fn, steps=10, hooks=[loss_recorder])
    assert loss_recorder.losses == pytest.approx([1.1132617] * 10, rel=1e-4)
    assert classifier.get_variable_value("global_step") == 110


def test_tf_weight_column_normalizer_in_linear_regressor_evaluate(
    tmp_path, create_checkpoint
):
    import numpy as np

    from estimators import feature_column as fc

    # An identity column gives each example its own logit: 45, 41, 44 (tf's
    # regression_head_test numbers), bias 0.
    example = fc.categorical_column_with_identity("example", num_buckets=3)
    regressor = canned.LinearRegressor(
        [example],
        model_dir=str(tmp_path),
        weight_column=fc.numeric_column(
            "label_weights", normalizer_fn=lambda x: x + 1.0
        ),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        features = {
            "example": np.array([0, 1, 2]),
            "label_weights": np.array([0.0, -0.9, 0.5], np.float32),
        }
        return features, np.array([35.0, 42.0, 45.0], np.float32)

    create_checkpoint(
        regressor,
        input_fn,
        {
            "linear/linear_model/example/weights": [[45.0], [41.0], [44.0]],
            "linear/linear_model/bias_weights": [0.0],
        },
        global_step=100,
    )
    results = regressor.evaluate(input_fn, steps=1)
    # weights = label_weights + 1 = [1, .1, 1.5]
    # weighted_loss = 1*(35-45)^2 + .1*(42-41)^2 + 1.5*(45-44)^2 = 101.6
    # loss = weighted_loss / batch_size = 101.6 / 3 = 33.8666667
    assert results["loss"] == pytest.approx(33.8666667, rel=1e-6)
    # loss_mean = weighted_loss/(1+.1+1.5) = 101.6/2.6 = 39.0769231
    assert results["average_loss"] == pytest.approx(39.0769231, rel=1e-6)


AGE = "linear/linear_model/age/weights"
BIAS = "linear/linear_model/bias_weights"


@pytest.mark.parametrize(
    ("features", "labels", "weight_column", "expected"),
    [
        # test_evaluation_for_simple_data: logit is (1. * 11.0 + 2.0) = 13, while
        # label is 10. Loss is 3**2 = 9.
        ({"age": [[1.0]]}, [[10.0]], None, {"loss": 9.0, "average_loss": 9.0}),
        # test_evaluation_batch: loss per example is 3**2 = 9; training loss is the
        # sum over batch size = (9 + 9) / 2 = 9; average loss is 9.
        (
            {"age": [[1.0], [1.0]]},
            [[10.0], [10.0]],
            None,
            {"loss": 9.0, "average_loss": 9.0},
        ),
        # test_evaluation_weights: training loss is the weighted sum over batch /
        # batch size = (9 + 2*9) / 2 = 13.5; average loss is the weighted average
        # = 9 + 2*9 / (1 + 2) = 9
        (
            {"age": [[1.0], [1.0]], "weights": [[1.0], [2.0]]},
            [[10.0], [10.0]],
            "weights",
            {"loss": 13.5, "average_loss": 9.0},
        ),
    ],
)
def test_tf_linear_regressor_evaluation(
    tmp_path, create_checkpoint, features, labels, weight_column, expected
):
    import numpy as np

    from estimators import feature_column as fc

    regressor = canned.LinearRegressor(
        [fc.numeric_column("age")],
        model_dir=str(tmp_path),
        weight_column=weight_column,
        config=fast_config(random_seed=1),
    )
    features = {k: np.asarray(v, np.float32) for k, v in features.items()}

    def input_fn():
        return features, np.asarray(labels, np.float32)

    create_checkpoint(regressor, input_fn, {AGE: [[11.0]], BIAS: [2.0]}, 100)
    assert regressor.evaluate(input_fn, steps=1) == {
        **expected,
        "prediction/mean": 13.0,
        "label/mean": 10.0,
        "global_step": 100,
    }


def test_tf_linear_regressor_evaluation_for_multi_dimensions(
    tmp_path, create_checkpoint
):
    import numpy as np

    from estimators import feature_column as fc

    regressor = canned.LinearRegressor(
        [fc.numeric_column("age", shape=(3,))],
        model_dir=str(tmp_path),
        label_dimension=2,
        config=fast_config(random_seed=1),
    )

    def input_fn():
        return {"age": np.array([[2.0, 4.0, 5.0]], np.float32)}, np.array(
            [[46.0, 58.0]], np.float32
        )

    create_checkpoint(
        regressor,
        input_fn,
        {AGE: [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], BIAS: [7.0, 8.0]},
        100,
    )
    metrics = regressor.evaluate(input_fn, steps=1)
    assert set(metrics) == {
        "loss",
        "average_loss",
        "prediction/mean",
        "label/mean",
        "global_step",
    }
    # Logit is
    #   [2., 4., 5.] * [1.0, 2.0] + [7.0, 8.0] = [39, 50] + [7.0, 8.0]
    #                  [3.0, 4.0]
    #                  [5.0, 6.0]
    # which is [46, 58]
    assert metrics["loss"] == pytest.approx(0.0, abs=5e-8)  # assertAlmostEqual


@pytest.mark.parametrize(
    ("ages", "labels", "expected_loss"),
    [
        # testFromCheckpoint: logits = age * age_weight + bias = 17 * 10. + 5. = 175
        # loss = (logits - label)^2 = (175 - 5)^2 = 28900
        ([[17.0]], [[5.0]], 28900.0),
        # testFromCheckpointMultiBatch: logits = [175, 155]
        # loss = sum(logits - label)^2 = (175 - 5)^2 + (155 - 3)^2 = 52004
        # expected_loss = loss / 2 = 26002
        ([[17.0], [15.0]], [[5.0], [3.0]], 26002.0),
    ],
)
def test_tf_linear_regressor_train_from_checkpoint(
    tmp_path, create_checkpoint, loss_recorder, ages, labels, expected_loss
):
    import numpy as np
    import optax

    from estimators import feature_column as fc

    regressor = canned.LinearRegressor(
        [fc.numeric_column("age")],
        model_dir=str(tmp_path),
        optimizer=optax.set_to_zero(),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        return {"age": np.asarray(ages, np.float32)}, np.asarray(labels, np.float32)

    create_checkpoint(regressor, input_fn, {AGE: [[10.0]], BIAS: [5.0]}, 100)
    regressor.train(input_fn, steps=10, hooks=[loss_recorder])
    assert loss_recorder.losses == pytest.approx([expected_loss] * 10, rel=1e-4)
    assert regressor.get_variable_value("global_step") == 110
    assert regressor.get_variable_value(f"params/{AGE}").tolist() == [[10.0]]


def _tf_classifier_evaluation(
    tmp_path, create_checkpoint, n_classes, ages, labels, **kw
):
    import numpy as np

    from estimators import feature_column as fc

    classifier = canned.LinearClassifier(
        [fc.numeric_column("age")],
        model_dir=str(tmp_path),
        n_classes=n_classes,
        config=fast_config(random_seed=1),
        **kw,
    )
    features = {"age": np.asarray(ages, np.float32)}
    if "weight_column" in kw:
        features["w"] = np.array([1.0, 2.0], np.float32)

    def input_fn():
        return features, np.asarray(labels)

    return classifier, input_fn


@pytest.mark.parametrize("n_classes", [2, 3])
def test_tf_linear_classifier_evaluation_for_simple_data(
    tmp_path, create_checkpoint, n_classes
):
    import math

    import numpy as np

    classifier, input_fn = _tf_classifier_evaluation(
        tmp_path, create_checkpoint, n_classes, [[1.0]], [[1]]
    )
    # For binary case, the expected weight has shape (1,1). For multi class
    # case, the shape is (1, n_classes).
    age_weight = (
        [[-11.0]]
        if n_classes == 2
        else np.reshape(-11.0 * np.arange(n_classes, dtype=np.float32), (1, n_classes))
    )
    bias = [-30.0] if n_classes == 2 else [-30.0] * n_classes
    create_checkpoint(classifier, input_fn, {AGE: age_weight, BIAS: bias}, 100)
    if n_classes == 2:
        # Binary classes: loss = sum(corss_entropy(41)) = 41.
        expected = {
            "loss": 41.0,
            "global_step": 100,
            "average_loss": 41.0,
            "accuracy": 0.0,
            "precision": 0.0,
            "recall": 0.0,
            "prediction/mean": 0.0,
            "label/mean": 1.0,
            "accuracy_baseline": 1,
            "auc": 0.0,
            "auc_precision_recall": 1.0,
        }
    else:
        # Multi classes: loss = 1 * -log ( soft_max(logits)[label] )
        logits = np.asarray(age_weight) * 1.0 + bias
        softmax = np.exp(logits) / np.exp(logits).sum()
        expected_loss = -1 * math.log(softmax[0, 1])
        expected = {
            "loss": expected_loss,
            "average_loss": expected_loss,
            "global_step": 100,
            "accuracy": 0.0,
        }
    # tf: assertAllClose(rtol=1e-3) (atol 1e-6)
    assert classifier.evaluate(input_fn, steps=1) == pytest.approx(
        expected, rel=1e-3, abs=1e-6
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_tf_linear_classifier_evaluation_weights(
    tmp_path, create_checkpoint, n_classes
):
    import math

    import numpy as np

    label, age, weights = [1, 0], [17.0, 18.0], [1.0, 2.0]
    classifier, input_fn = _tf_classifier_evaluation(
        tmp_path, create_checkpoint, n_classes, age, label, weight_column="w"
    )
    age_weight = (
        [[2.0]]
        if n_classes == 2
        else np.reshape(2.0 * np.arange(n_classes, dtype=np.float32), (1, n_classes))
    )
    bias = [-35.0] if n_classes == 2 else [-35.0] * n_classes
    create_checkpoint(classifier, input_fn, {AGE: age_weight, BIAS: bias}, 100)
    if n_classes == 2:
        # Logits are (-1., 1.) labels are (1, 0).
        # Loss is
        #   loss for row 1: 1 * -log(sigmoid(-1)) = 1.3133
        #   loss for row 2: (1 - 0) * -log(1 - sigmoid(1)) = 1.3133
        #   weights = [1., 2.]
        label_mean = np.average(label, weights=weights)
        logistics = 1 / (1 + np.exp(-np.array([-1.0, 1.0])))
        expected = {
            "loss": (1.3133 * (1.0 + 2.0)) / 2,  # Divided by batch size
            "global_step": 100,
            "average_loss": (1.3133 * (1.0 + 2.0)) / (1.0 + 2.0),
            "accuracy": 0.0,
            "precision": 0.0,
            "recall": 0.0,
            "prediction/mean": np.average(logistics, weights=weights),
            "label/mean": label_mean,
            "accuracy_baseline": max(label_mean, 1 - label_mean),
            "auc": 0.0,
            "auc_precision_recall": 0.1891,
        }
    else:
        # Multi classes: unweighted_loss = 1 * -log ( soft_max(logits)[label] )
        logits = np.asarray(age_weight) * np.reshape(age, (2, 1)) + bias
        softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        losses = [-math.log(softmax[0, label[0]]), -math.log(softmax[1, label[1]])]
        loss_mean = np.average(losses, weights=weights)
        expected = {
            "loss": (loss_mean * np.sum(weights)) / 2,  # batch size
            "average_loss": loss_mean,
            "global_step": 100,
            "accuracy": 0.0,
        }
    assert classifier.evaluate(input_fn, steps=1) == pytest.approx(
        expected, rel=1e-3, abs=1e-6
    )


def test_predict_and_export_need_no_weight_feature(tmp_path):
    import numpy as np

    import estimators as est
    from estimators import feature_column as fc

    regressor = canned.LinearRegressor(
        [fc.numeric_column("x")],
        model_dir=str(tmp_path / "model"),
        weight_column=fc.numeric_column("w", normalizer_fn=lambda w: w + 1.0),
        config=fast_config(random_seed=1),
    )
    x = np.arange(4, dtype=np.float32)
    regressor.train(lambda: ({"x": x, "w": x}, 2 * x), steps=2)
    predictions = list(regressor.predict(lambda: {"x": x}))  # as tf: no "w"
    assert len(predictions) == 4
    exported = est.export.load(regressor.export_saved_model(str(tmp_path / "export")))
    assert exported.input_names == ["x"]
