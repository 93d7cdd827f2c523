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
