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
