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
