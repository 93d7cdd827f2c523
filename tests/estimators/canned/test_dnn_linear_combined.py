"""Wide & deep: complete flow, string labels, argument checks, warm start per part."""

from __future__ import annotations

import numpy as np
import pytest
from support import fast_config

import estimators as est
from estimators import canned


def test_combined_classifier_complete_flow_with_string_labels(
    complete_flow, toy, columns
):
    labels = np.array(["no", "yes"])[toy["binary"]]

    def make(model_dir):
        return canned.DNNLinearCombinedClassifier(
            model_dir=model_dir,
            linear_feature_columns=[columns["color"]],
            dnn_feature_columns=[columns["x"], columns["color_embedding"]],
            dnn_hidden_units=[8],
            label_vocabulary=["no", "yes"],
            config=fast_config(random_seed=1),
        )

    classifier, _, predictions = complete_flow(
        make,
        toy["features"],
        labels,
        eval_keys={
            "accuracy",
            "accuracy_baseline",
            "auc",
            "auc_precision_recall",
            "average_loss",
            "label/mean",
            "precision",
            "prediction/mean",
            "recall",
        },
        predict_keys={
            "logits",
            "logistic",
            "probabilities",
            "class_ids",
            "classes",
            "all_class_ids",
            "all_classes",
        },
    )
    assert {p["classes"][0] for p in predictions} <= {"no", "yes"}
    scopes = {name.split("/")[1] for name in classifier.get_variable_names()[:-1]}
    assert scopes == {"dnn", "linear"}


def test_combined_regressor_complete_flow(complete_flow, toy, columns):
    def make(model_dir):
        return canned.DNNLinearCombinedRegressor(
            model_dir=model_dir,
            linear_feature_columns=[columns["x"], columns["color"]],
            dnn_feature_columns=[columns["color_indicator"]],
            dnn_hidden_units=[4],
            dnn_optimizer="SGD",
            config=fast_config(random_seed=1),
        )

    complete_flow(
        make,
        toy["features"],
        toy["real"],
        eval_keys={"average_loss", "label/mean", "prediction/mean"},
        predict_keys={"predictions"},
    )


def test_the_linear_part_warm_starts_from_a_linear_model(tmp_path, toy, columns):
    linear = canned.LinearClassifier(
        [columns["color"]],
        model_dir=str(tmp_path / "w"),
        config=fast_config(random_seed=1),
    )
    linear.train(lambda: (toy["features"], toy["binary"]), steps=3)
    combined = canned.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path / "wd"),
        linear_feature_columns=[columns["color"]],
        dnn_feature_columns=[columns["x"]],
        dnn_hidden_units=[4],
        warm_start_from=est.WarmStartSettings(linear.model_dir, "params/linear/.*"),
        config=fast_config(random_seed=1),
    )
    combined.train(lambda: (toy["features"], toy["binary"]), steps=1)
    report = combined.warm_start_report
    assert report.loaded == [
        "params/linear/linear_model/bias_weights",
        "params/linear/linear_model/color/weights",
    ]
    assert report.skipped == []
    assert all(name.startswith("params/dnn/") for name in report.initialized)


def test_bad_arguments_are_named(columns):
    with pytest.raises(ValueError, match="give `linear_feature_columns`"):
        canned.DNNLinearCombinedClassifier()
    with pytest.raises(TypeError, match="`dnn_hidden_units` must be a list"):
        canned.DNNLinearCombinedRegressor(dnn_feature_columns=[columns["x"]])
    with pytest.raises(ValueError, match="'color' in `dnn_feature_columns`"):
        canned.DNNLinearCombinedRegressor(
            dnn_feature_columns=[columns["color"]], dnn_hidden_units=[4]
        )


# -- tf's dnn_linear_combined_test.py runs the DNN and Linear oracles through -------
# -- DNNLinearCombined* with one part; so do these. ---------------------------------


# tf's checkpoint of test_one_dim_logits (as in test_dnn.py).
TF_WEIGHTS = {
    "dnn/hiddenlayer_0/kernel": [[0.6, 0.5]],
    "dnn/hiddenlayer_0/bias": [0.1, -0.1],
    "dnn/hiddenlayer_1/kernel": [[1.0, 0.8], [-0.8, -1.0]],
    "dnn/hiddenlayer_1/bias": [0.2, -0.2],
    "dnn/logits/kernel": [[-1.0], [1.0]],
    "dnn/logits/bias": [0.3],
}


def test_tf_dnn_only_evaluate_one_dim(tmp_path, create_checkpoint):
    classifier = canned.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path),
        dnn_feature_columns=[est.feature_column.numeric_column("age")],
        dnn_hidden_units=(2, 2),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        return {"age": np.array([[10.0], [10.0]], np.float32)}, np.array([[1], [0]])

    create_checkpoint(classifier, input_fn, TF_WEIGHTS, global_step=100)
    # logits = [[-2.08], [-2.08]] => logistic = [[0.11105597], [0.11105597]]
    # loss = (-1. * log(0.111) -1. * log(0.889) = 2.31544200) / 2
    metrics = classifier.evaluate(input_fn, steps=1)
    assert metrics["loss"] == pytest.approx(1.157721, rel=1e-6, abs=1e-6)
    assert metrics["prediction/mean"] == pytest.approx(0.11105597, rel=1e-6, abs=1e-6)


def test_tf_linear_only_regressor_evaluation_weights(tmp_path, create_checkpoint):
    regressor = canned.DNNLinearCombinedRegressor(
        model_dir=str(tmp_path),
        linear_feature_columns=[est.feature_column.numeric_column("age")],
        weight_column="weights",
        config=fast_config(random_seed=1),
    )
    features = {
        "age": np.array([[1.0], [1.0]], np.float32),
        "weights": np.array([[1.0], [2.0]], np.float32),
    }

    def input_fn():
        return features, np.array([[10.0], [10.0]], np.float32)

    create_checkpoint(
        regressor,
        input_fn,
        {
            "linear/linear_model/age/weights": [[11.0]],
            "linear/linear_model/bias_weights": [2.0],
        },
        100,
    )
    # Logit is (1. * 11.0 + 2.0) = 13, while label is 10; loss per example 9.
    # Training loss = (9 + 2*9) / 2 = 13.5; average loss = (9 + 2*9) / (1 + 2) = 9
    assert regressor.evaluate(input_fn, steps=1) == {
        "loss": 13.5,
        "average_loss": 9.0,
        "prediction/mean": 13.0,
        "label/mean": 10.0,
        "global_step": 100,
    }
