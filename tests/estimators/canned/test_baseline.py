"""BaselineClassifier / BaselineRegressor: complete flow and the weight column."""

from __future__ import annotations

import numpy as np
import pytest
from support import fast_config

import estimators as est
from estimators import canned


def test_baseline_classifier_complete_flow(complete_flow, toy):
    def make(model_dir):
        return canned.BaselineClassifier(
            model_dir=model_dir, n_classes=3, config=fast_config(random_seed=1)
        )

    classifier, _, predictions = complete_flow(
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
        serving=est.build_raw_serving_input_receiver_fn({"x": toy["features"]["x"]}),
    )
    assert classifier.get_variable_names() == ["params/baseline/bias", "global_step"]
    # The features are ignored: every example gets the same prediction.
    assert len({tuple(p["probabilities"]) for p in predictions}) == 1


def test_baseline_regressor_complete_flow(complete_flow, toy):
    def make(model_dir):
        return canned.BaselineRegressor(
            model_dir=model_dir, config=fast_config(random_seed=1)
        )

    complete_flow(
        make,
        toy["features"],
        toy["real"],
        eval_keys={"average_loss", "label/mean", "prediction/mean"},
        predict_keys={"predictions"},
        serving=est.build_raw_serving_input_receiver_fn({"x": toy["features"]["x"]}),
    )


def test_weights_move_the_baseline_to_the_weighted_mean(tmp_path):
    features = {"x": np.zeros(2, np.float32), "w": np.array([1.0, 3.0], np.float32)}
    labels = np.array([0.0, 10.0], np.float32)
    regressor = canned.BaselineRegressor(
        model_dir=str(tmp_path),
        weight_column="w",
        optimizer="SGD",
        config=fast_config(),
    )
    # gradient of Σ w (b - y)² / 2 is 4b - 30; b <- b - 0.3 (4b - 30) = 9 - 0.2 b -> 7.5
    regressor.train(lambda: (features, labels), steps=30)
    prediction = next(regressor.predict(lambda: features))["predictions"][0]
    assert prediction == pytest.approx(7.5, abs=1e-4)  # (1 * 0 + 3 * 10) / 4, not 5
    results = regressor.evaluate(lambda: (features, labels))
    assert results["label/mean"] == pytest.approx(7.5)  # weighted as well
    assert results["average_loss"] == pytest.approx(
        18.75, abs=1e-3
    )  # (56.25 + 3 * 6.25) / 4


# -- tf.estimator 2.15's baseline_test.py, ported ------------------------------------


def test_tf_binary_classes_from_checkpoint_float_labels(
    tmp_path, create_checkpoint, loss_recorder
):
    import optax

    classifier = canned.BaselineClassifier(
        model_dir=str(tmp_path),
        optimizer=optax.set_to_zero(),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        return {"age": np.array([[17.0]], np.float32)}, np.array([[0.8]], np.float32)

    create_checkpoint(classifier, input_fn, {"baseline/bias": [-1.0]}, global_step=100)
    # logits = bias = -1.
    # loss = sigmoid_cross_entropy(logits, label)
    # => loss = -0.8 * log(sigmoid(-1)) -0.2 * log(sigmoid(+1)) = 1.1132617
    classifier.train(input_fn, steps=10, hooks=[loss_recorder])
    assert loss_recorder.losses == pytest.approx([1.1132617] * 10, rel=1e-4)
    assert classifier.get_variable_value("global_step") == 110


@pytest.mark.parametrize(
    ("features", "labels", "weight_column", "expected"),
    [
        # test_evaluation_for_simple_data: logit is bias = 13, while label is 10.
        # Loss is 3**2 = 9.
        ({"age": [[1.0]]}, [[10.0]], None, {"loss": 9.0, "average_loss": 9.0}),
        # test_evaluation_batch: loss per example is 3**2 = 9; training loss is the
        # sum over batch size = (9 + 9) / 2 = 9; average loss is 9.
        (
            {"age": [[1.0], [1.0]]},
            [[10.0], [10.0]],
            None,
            {"loss": 9.0, "average_loss": 9.0},
        ),
        # test_evaluation_weights: training loss is the weighted sum over batch
        # size = (9 + 2*9) / 2 = 13.5; average loss is the weighted average
        # = 9 + 2*9 / (1 + 2) = 9
        (
            {"age": [[1.0], [1.0]], "weights": [[1.0], [2.0]]},
            [[10.0], [10.0]],
            "weights",
            {"loss": 13.5, "average_loss": 9.0},
        ),
    ],
)
def test_tf_baseline_regressor_evaluation(
    tmp_path, create_checkpoint, features, labels, weight_column, expected
):
    regressor = canned.BaselineRegressor(
        model_dir=str(tmp_path),
        weight_column=weight_column,
        config=fast_config(random_seed=1),
    )
    features = {k: np.asarray(v, np.float32) for k, v in features.items()}

    def input_fn():
        return features, np.asarray(labels, np.float32)

    create_checkpoint(regressor, input_fn, {"baseline/bias": [13.0]}, 100)
    assert regressor.evaluate(input_fn, steps=1) == {
        **expected,
        "prediction/mean": 13.0,
        "label/mean": 10.0,
        "global_step": 100,
    }


def test_tf_baseline_regressor_evaluation_for_multi_dimensions(
    tmp_path, create_checkpoint
):
    regressor = canned.BaselineRegressor(
        model_dir=str(tmp_path), label_dimension=2, config=fast_config(random_seed=1)
    )

    def input_fn():
        return {"age": np.array([[2.0, 4.0, 5.0]], np.float32)}, np.array(
            [[46.0, 58.0]], np.float32
        )

    create_checkpoint(regressor, input_fn, {"baseline/bias": [46.0, 58.0]}, 100)
    metrics = regressor.evaluate(input_fn, steps=1)
    assert set(metrics) == {
        "loss",
        "average_loss",
        "prediction/mean",
        "label/mean",
        "global_step",
    }
    # Logit is bias which is [46, 58]
    assert metrics["loss"] == pytest.approx(0.0, abs=5e-8)  # assertAlmostEqual
