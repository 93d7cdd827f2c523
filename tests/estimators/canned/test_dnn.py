"""DNNClassifier / DNNRegressor: complete flow, label vocabulary, checks, warm start."""

from __future__ import annotations

import numpy as np
import optax
import pyarrow as pa
import pytest
from support import fast_config

import estimators as est
from estimators import canned

BINARY_KEYS = {
    "accuracy",
    "accuracy_baseline",
    "auc",
    "auc_precision_recall",
    "average_loss",
    "label/mean",
    "precision",
    "prediction/mean",
    "recall",
}
CLASS_PREDICTIONS = {
    "logits",
    "probabilities",
    "class_ids",
    "classes",
    "all_class_ids",
    "all_classes",
}


def test_dnn_classifier_complete_flow(complete_flow, toy, columns, batches):
    def make(model_dir):
        return canned.DNNClassifier(
            [8, 4],
            [columns["x"], columns["color_indicator"]],
            model_dir=model_dir,
            weight_column="w",
            config=fast_config(random_seed=1),
        )

    features, labels = toy["features"], toy["binary"]
    classifier, results, predictions = complete_flow(
        make,
        features,
        labels,
        eval_keys=BINARY_KEYS,
        predict_keys=CLASS_PREDICTIONS | {"logistic"},
    )
    first = predictions[0]
    assert first["classes"].tolist() == [str(first["class_ids"][0])]
    assert first["all_classes"].tolist() == ["0", "1"]
    # Exact however batched: one batch of 48, or 32 + 16 (padded and masked).
    whole = classifier.evaluate(batches(features, labels, 48))
    for key in BINARY_KEYS:
        assert whole[key] == pytest.approx(results[key], abs=1e-6), key


def test_dnn_regressor_complete_flow(complete_flow, toy, columns):
    def make(model_dir):
        return canned.DNNRegressor(
            [8],
            [columns["x"], columns["color_embedding"]],
            model_dir=model_dir,
            dropout=0.2,
            batch_norm=True,
            optimizer="Adam",
            config=fast_config(random_seed=1),
        )

    regressor, _, _ = complete_flow(
        make,
        toy["features"],
        toy["real"],
        eval_keys={"average_loss", "label/mean", "prediction/mean"},
        predict_keys={"predictions"},
    )
    names = regressor.get_variable_names()
    assert "params/dnn/input_layer/color_embedding/embedding_weights" in names
    assert "batch_stats/dnn/batchnorm_0/mean" in names


def test_label_vocabulary_round_trip(tmp_path, toy, columns):
    names = np.array(["low", "mid", "high"])
    labels = pa.array(names[toy["classes"]])  # Arrow strings, as a Dataset gives them
    classifier = canned.DNNClassifier(
        [16],
        [columns["x"], columns["color_indicator"]],
        model_dir=str(tmp_path),
        n_classes=3,
        label_vocabulary=list(names),
        optimizer=optax.adam(0.05),  # tf 2.x: Adam() is 0.001
        config=fast_config(random_seed=1),
    )
    classifier.train(lambda: (toy["features"], labels), steps=60)
    assert classifier.evaluate(lambda: (toy["features"], labels))["accuracy"] > 0.8
    batch = next(
        classifier.predict(lambda: toy["features"], yield_single_examples=False)
    )
    assert batch["classes"][:, 0].tolist() == names[batch["class_ids"][:, 0]].tolist()
    assert batch["all_classes"][0].tolist() == list(names)
    only = next(classifier.predict(lambda: toy["features"], predict_keys=["classes"]))
    assert set(only) == {"classes"} and only["classes"][0] in names
    bad = pa.array(["low"] * 47 + ["huge"])
    with pytest.raises(ValueError, match=r"label 'huge' \(row 47\) is not in"):
        classifier.train(lambda: (toy["features"], bad), steps=1)


def test_a_bare_categorical_column_is_refused_with_the_fix(columns):
    with pytest.raises(
        ValueError,
        match="column 'color' in `feature_columns` is categorical.*fc.indicator_column",
    ):
        canned.DNNClassifier([4], [columns["x"], columns["color"]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_units": []}, "`hidden_units` must be a non-empty list"),
        ({"hidden_units": 8}, "`hidden_units` must be a list of layer sizes"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
        ({"n_classes": 1}, "`n_classes` must be an int >= 2, got 1"),
        ({"optimizer": "Nadam"}, "`optimizer` must be one of"),
        ({"feature_columns": ["x"]}, "must hold feature columns"),
    ],
)
def test_bad_arguments_are_named(columns, kwargs, message):
    arguments = {"hidden_units": [4], "feature_columns": [columns["x"]], **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        canned.DNNClassifier(**arguments)


def test_warm_start_reports_loaded_skipped_and_initialised(tmp_path, toy, columns):
    feature_columns = [columns["x"], columns["color_indicator"]]
    source = canned.DNNClassifier(
        [8],
        feature_columns,
        model_dir=str(tmp_path / "a"),
        n_classes=3,
        config=fast_config(random_seed=1),
    )
    source.train(lambda: (toy["features"], toy["classes"]), steps=2)
    settings = est.WarmStartSettings(source.model_dir, vars_to_warm_start="params/.*")
    target = canned.DNNClassifier(
        [8],
        feature_columns,
        model_dir=str(tmp_path / "b"),
        warm_start_from=settings,
        config=fast_config(random_seed=2),
    )
    # tf raised on the reshaped logits; here they are skipped with a warning
    with pytest.warns(est.WarmStartWarning, match="params/dnn/logits/bias"):
        target.train(lambda: (toy["features"], toy["binary"]), steps=1)
    report = target.warm_start_report
    assert report.loaded == [
        "params/dnn/hiddenlayer_0/bias",
        "params/dnn/hiddenlayer_0/kernel",
    ]
    # 3 logits in the checkpoint, 1 in the binary model
    assert [s.split(" ")[0] for s in report.skipped] == [
        "params/dnn/logits/bias",
        "params/dnn/logits/kernel",
    ]
    assert "(checkpoint: (8, 3), model: (8, 1))" in report.skipped[1]


def test_dnn_estimator_takes_any_head(tmp_path, toy, columns):
    from estimators.heads import MultiLabelHead

    labels = np.stack([toy["binary"], toy["classes"] == 2, toy["classes"] == 0], 1)
    estimator = canned.DNNEstimator(
        MultiLabelHead(3),
        [8],
        [columns["x"]],
        model_dir=str(tmp_path),
        config=fast_config(random_seed=1),
    )
    estimator.train(lambda: (toy["features"], labels), steps=3)
    results = estimator.evaluate(lambda: (toy["features"], labels))
    assert set(results) == {
        "average_loss",
        "auc",
        "auc_precision_recall",
        "loss",
        "global_step",
    }
    prediction = next(estimator.predict(lambda: toy["features"]))
    assert set(prediction) == {"logits", "probabilities", "classes"}
    assert prediction["classes"].tolist() == ["0", "1", "2"]
    with pytest.raises(TypeError, match="`head` must be an est.heads.Head"):
        canned.DNNEstimator("multi_label", [8], [columns["x"]])


def test_default_optimizer_is_adagrad_at_the_keras_learning_rate(tmp_path):
    # tf 2.15: get_optimizer_instance_v2("Adagrad") is Keras' Adagrad(0.001). With
    # a huge label the gradient g of the logits bias is huge, so Adagrad's first
    # step lr * g / sqrt(0.1 + g²) is lr to 1e-9: the bias moves by 0.001 (tf 1.x:
    # 0.05).
    regressor = canned.DNNRegressor(
        [2],
        [est.feature_column.numeric_column("x")],
        model_dir=str(tmp_path),
        config=fast_config(random_seed=1),
    )
    features = {"x": np.ones(4, np.float32)}
    regressor.train(lambda: (features, np.full(4, 1e4, np.float32)), steps=1)
    bias = regressor.get_variable_value("params/dnn/logits/bias")
    assert float(bias[0]) == pytest.approx(0.001, rel=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", None])
def test_activation_fn_takes_keras_names_and_none(tmp_path, toy, columns, activation):
    classifier = canned.DNNClassifier(
        [4],
        [columns["x"]],
        model_dir=str(tmp_path),
        activation_fn=activation,
        config=fast_config(random_seed=1),
    )
    classifier.train(lambda: (toy["features"], toy["binary"]), steps=2)
    assert np.isfinite(
        classifier.evaluate(lambda: (toy["features"], toy["binary"]))["loss"]
    )


def test_an_unknown_activation_name_is_refused_with_the_names(columns):
    with pytest.raises(ValueError, match="'rellu' is not a tf.keras activation"):
        canned.DNNClassifier([4], [columns["x"]], activation_fn="rellu")


# -- tf.estimator 2.15's dnn_testing_utils.py, ported --------------------------------

# tf's checkpoint of test_one_dim_logits: hidden (2, 2), one input "age".
TF_WEIGHTS = {
    "dnn/hiddenlayer_0/kernel": [[0.6, 0.5]],
    "dnn/hiddenlayer_0/bias": [0.1, -0.1],
    "dnn/hiddenlayer_1/kernel": [[1.0, 0.8], [-0.8, -1.0]],
    "dnn/hiddenlayer_1/bias": [0.2, -0.2],
    "dnn/logits/kernel": [[-1.0], [1.0]],
    "dnn/logits/bias": [0.3],
}


# tf's checkpoint of test_multi_dim: num_inputs=2, hidden_units=(2, 2),
# num_outputs=3.
TF_MULTI_DIM_WEIGHTS = {
    "dnn/hiddenlayer_0/kernel": [[0.6, 0.5], [-0.6, -0.5]],
    "dnn/hiddenlayer_0/bias": [0.1, -0.1],
    "dnn/hiddenlayer_1/kernel": [[1.0, 0.8], [-0.8, -1.0]],
    "dnn/hiddenlayer_1/bias": [0.2, -0.2],
    "dnn/logits/kernel": [[-1.0, 1.0, 0.5], [-1.0, 1.0, 0.5]],
    "dnn/logits/bias": [0.3, -0.3, 0.0],
}


def _tf_dnn_classifier(model_dir, **kwargs):
    return canned.DNNClassifier(
        hidden_units=(2, 2),
        feature_columns=[est.feature_column.numeric_column("age")],
        model_dir=model_dir,
        config=fast_config(random_seed=1),
        **kwargs,
    )


def test_tf_float_labels_evaluate(tmp_path, create_checkpoint):
    classifier = _tf_dnn_classifier(str(tmp_path))

    def input_fn():
        # batch_size = 2, one false label, and one true.
        return {"age": np.array([[10.0], [10.0]], np.float32)}, np.array(
            [[0.8], [0.4]], np.float32
        )

    create_checkpoint(classifier, input_fn, TF_WEIGHTS, global_step=100)
    # logits = [[-2.08], [-2.08]] =>
    # logistic = 1/(1 + exp(-logits)) = [[0.11105597], [0.11105597]]
    # loss = (-0.8 * log(0.111) -0.2 * log(0.889)
    #        -0.4 * log(0.111) -0.6 * log(0.889)) / 2 = 2.7314420 / 2
    metrics = classifier.evaluate(input_fn, steps=1)
    # tf asserts 7 places; ours is 1.3657212: two float32 ulps of the tower's
    # arithmetic away (the exact value is 1.36572100), so 1e-6 here.
    assert metrics["loss"] == pytest.approx(1.365721, abs=1e-6)
    assert metrics["global_step"] == 100


def test_tf_binary_classification_float_labels_train(
    tmp_path, create_checkpoint, loss_recorder
):
    classifier = _tf_dnn_classifier(str(tmp_path), optimizer=optax.set_to_zero())

    def input_fn():
        return {"age": np.array([[10.0]], np.float32)}, np.array([[0.8]], np.float32)

    create_checkpoint(classifier, input_fn, TF_WEIGHTS, global_step=100)
    # logits = [-2.08] => probabilities = [0.889, 0.111]
    # loss = -0.8 * log(0.111) -0.2 * log(0.889) = 1.7817210
    classifier.train(input_fn, steps=5, hooks=[loss_recorder])
    assert loss_recorder.losses == pytest.approx([1.7817210] * 5, rel=1e-4)
    assert classifier.get_variable_value("global_step") == 105


def test_tf_evaluate_one_dim(tmp_path, create_checkpoint):
    classifier = _tf_dnn_classifier(str(tmp_path))

    def input_fn():
        # batch_size = 2, one false label, and one true.
        return {"age": np.array([[10.0], [10.0]], np.float32)}, np.array([[1], [0]])

    create_checkpoint(classifier, input_fn, TF_WEIGHTS, global_step=100)
    # logits = [[-2.08], [-2.08]] =>
    # logistic = 1/(1 + exp(-logits)) = [[0.11105597], [0.11105597]]
    # loss = (-1. * log(0.111) -1. * log(0.889) = 2.31544200) / 2
    expected_loss = 1.157721
    metrics = classifier.evaluate(input_fn, steps=1)
    assert metrics == pytest.approx(  # tf's assertAllClose tolerances
        {
            "loss": expected_loss,
            "average_loss": expected_loss,
            "accuracy": 0.5,
            "precision": 0.0,
            "recall": 0.0,
            "prediction/mean": 0.11105597,
            "label/mean": 0.5,
            "accuracy_baseline": 0.5,
            # There is no good way to calculate AUC for only two data points.
            # But that is what the algorithm returns.
            "auc": 0.5,
            "auc_precision_recall": 0.5,
            "global_step": 100,
        },
        rel=1e-6,
        abs=1e-6,
    )


def test_tf_evaluate_multi_dim_weights(tmp_path, create_checkpoint):
    classifier = canned.DNNClassifier(
        hidden_units=(2, 2),
        feature_columns=[est.feature_column.numeric_column("age", shape=[2])],
        n_classes=3,
        weight_column="w",
        model_dir=str(tmp_path),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        features = {
            "age": np.array([[10.0, 8.0], [10.0, 8.0]], np.float32),
            "w": np.array([[10.0], [100.0]], np.float32),
        }
        return features, np.array([[1], [0]])

    create_checkpoint(classifier, input_fn, TF_MULTI_DIM_WEIGHTS, global_step=100)
    # logits = [[-0.48, 0.48, 0.39], [-0.48, 0.48, 0.39]]
    # probabilities = [[0.16670536, 0.43538380, 0.39791084], ...]
    # loss = (-log(0.43538380)*10 - log(0.16670536)*100) / 2
    metrics = classifier.evaluate(input_fn, steps=1)
    assert metrics["loss"] == pytest.approx(93.734, abs=5e-4)  # places=3


@pytest.mark.parametrize("weighted", [False, True])
def test_tf_regressor_evaluate_multi_dim(tmp_path, create_checkpoint, weighted):
    regressor = canned.DNNRegressor(
        hidden_units=(2, 2),
        feature_columns=[est.feature_column.numeric_column("age", shape=[2])],
        label_dimension=3,
        weight_column="w" if weighted else None,
        model_dir=str(tmp_path),
        config=fast_config(random_seed=1),
    )

    def input_fn():
        features = {
            "age": np.array([[10.0, 8.0]], np.float32),
            "w": np.array([10.0], np.float32),
        }
        return features, np.array([[1.0, -1.0, 0.5]], np.float32)

    create_checkpoint(regressor, input_fn, TF_MULTI_DIM_WEIGHTS, global_step=100)
    # logits = [[-0.48, 0.48, 0.39]]
    # loss = (1+0.48)^2 + (-1-0.48)^2 + (0.5-0.39)^2 = 4.3929
    # expected_loss = loss / 3
    metrics = regressor.evaluate(input_fn, steps=1)
    if weighted:
        # loss = 4.3929*10/3
        assert metrics["loss"] == pytest.approx(14.643, abs=5e-4)  # places=3
        return
    assert metrics == pytest.approx(  # tf's assertAllClose tolerances
        {
            "loss": 1.4643,
            "average_loss": 1.4643,
            "prediction/mean": 0.39 / 3.0,
            "label/mean": 0.5 / 3.0,
            "global_step": 100,
        },
        rel=1e-6,
        abs=1e-6,
    )
