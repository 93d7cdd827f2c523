"""Which variables a warm start loads (tf.estimator 2.15's rules), what it says
when it loads less, and canned models carried over from TensorFlow."""

from __future__ import annotations

import json
import os
import warnings

import jax
import numpy as np
import pytest

import estimators as est
from estimators import checkpoints
from estimators import feature_column as fc
from estimators.warm_start import warm_start

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf215")
COLORS = ["red", "green", "blue"]


def _flat(variables):
    leaves, _ = jax.tree_util.tree_flatten_with_path(variables)
    return {checkpoints.path_name(p): np.asarray(v) for p, v in leaves}


def test_a_list_of_regexes_selects_among_all_variables(write_checkpoint, nested):
    # testWarmStart_ListOfRegexes: "v1" takes v1 and v1/Momentum, "v2[^/]" only v2
    names = [
        "params/v1",
        "batch_stats/v1/Momentum",
        "params/v2",
        "batch_stats/v2/Momentum",
    ]
    path = write_checkpoint({name: np.ones((10, 1)) for name in names})
    fresh = nested({name: np.zeros((10, 1)) for name in names})
    settings = est.WarmStartSettings(path, vars_to_warm_start=["v1", "v2[^/]"])
    variables, report = warm_start(fresh, settings)
    values = _flat(variables)
    for name in names[:3]:
        np.testing.assert_array_equal(values[name], np.ones((10, 1)))
    np.testing.assert_array_equal(values["batch_stats/v2/Momentum"], np.zeros((10, 1)))
    assert report.initialized == ["batch_stats/v2/Momentum"]


def test_a_string_selects_trainable_variables_only(write_checkpoint, nested):
    # tf: a single regex only considers TRAINABLE_VARIABLES
    names = ["params/w", "batch_stats/mean"]
    path = write_checkpoint({name: np.ones(2) for name in names})
    fresh = nested({name: np.zeros(2) for name in names})
    _, report = warm_start(fresh, est.WarmStartSettings(path))  # ".*"
    assert report.loaded == ["params/w"]
    assert report.initialized == ["batch_stats/mean"]
    _, report = warm_start(fresh, est.WarmStartSettings(path, [".*"]))
    assert report.loaded == ["batch_stats/mean", "params/w"]


def test_two_variables_from_the_same_previous_variable(write_checkpoint, nested):
    # testWarmStart_TwoVarsFromTheSamePrevVar
    path = write_checkpoint({"params/v1": np.ones((10, 1))})
    fresh = nested({"params/v1": np.zeros((10, 1)), "params/v2": np.zeros((10, 1))})
    settings = est.WarmStartSettings(
        path, vars_to_warm_start=["v1", "v2"], var_name_to_prev_var_name={"v2": "v1"}
    )
    variables, report = warm_start(fresh, settings)
    assert report.loaded == ["params/v1", "params/v2"]
    np.testing.assert_array_equal(_flat(variables)["params/v2"], np.ones((10, 1)))


def test_names_not_warm_started_in_the_settings_raise_as_in_tf(
    write_checkpoint, nested
):
    # testErrorConditions: a misspelt name must not warm-start nothing silently
    path = write_checkpoint({"params/x": np.ones((4, 1))})
    fresh = nested({"params/x": np.zeros((4, 1))})
    info = est.VocabInfo(["a"], 1, 0, ["a"])
    with pytest.raises(ValueError, match=r"var_name_to_vocab_info.*\['y'\].*params/x"):
        warm_start(
            fresh, est.WarmStartSettings(path, var_name_to_vocab_info={"y": info})
        )
    with pytest.raises(ValueError, match=r"var_name_to_prev_var_name.*\['y'\]"):
        warm_start(
            fresh, est.WarmStartSettings(path, var_name_to_prev_var_name={"y": "y2"})
        )


def test_a_selection_matching_nothing_warns_with_the_names(write_checkpoint, nested):
    path = write_checkpoint({"params/dnn/logits/kernel": np.ones((2, 1))})
    fresh = nested({"params/dnn/logits/kernel": np.zeros((2, 1))})
    settings = est.WarmStartSettings(path, vars_to_warm_start="input_layer/.*")
    with pytest.warns(est.WarmStartWarning, match="selects no variable.*dnn/logits"):
        _, report = warm_start(fresh, settings)
    assert report.loaded == []


def test_absent_and_reshaped_variables_are_skipped_with_a_warning(
    write_checkpoint, nested
):
    path = write_checkpoint({"params/a": np.ones(2), "params/b": np.ones(3)})
    fresh = nested({"params/b": np.zeros(4), "params/c": np.zeros(1)})
    with pytest.warns(est.WarmStartWarning, match="loaded nothing: params/b"):
        variables, report = warm_start(fresh, est.WarmStartSettings(path))
    assert report.skipped == [
        "params/b (checkpoint: (3,), model: (4,))",
        "params/c (absent from the checkpoint)",
    ]
    np.testing.assert_array_equal(_flat(variables)["params/b"], np.zeros(4))


def test_tf_spellings_of_names_select_and_key_our_variables(write_checkpoint, nested):
    name = "params/dnn/input_layer/color_embedding/embedding_weights"
    path = write_checkpoint({name: np.ones((3, 2)), "params/dnn/logits/bias": [1.0]})
    fresh = nested({name: np.zeros((3, 2)), "params/dnn/logits/bias": np.zeros(1)})
    tf_name = (
        "dnn/input_from_feature_columns/input_layer/color_embedding/embedding_weights"
    )
    settings = est.WarmStartSettings(path, vars_to_warm_start=tf_name)
    _, report = warm_start(fresh, settings)
    assert report.loaded == [name]
    info = est.VocabInfo(["b", "a", "c"], 3, 0, ["a", "b", "c"])
    settings = est.WarmStartSettings(
        path, vars_to_warm_start=None, var_name_to_vocab_info={tf_name: info}
    )
    _, report = warm_start(fresh, settings)
    assert report.remapped == [name] and report.loaded == [name]


def _predict_features(expected):
    features = expected["predict_features"]
    return {
        "x": np.asarray(features["x"], np.float32),
        "color": np.asarray(features["color"]),
    }


def _tf_columns(vocabulary=COLORS):
    color = fc.categorical_column_with_vocabulary_list(
        "color", vocabulary, num_oov_buckets=1
    )
    return fc.numeric_column("x", shape=2), color


def _port(model, model_dir, warm_start_from):
    """Our canned estimator of the same model as fixtures/make_tf215_checkpoints.py."""
    x, color = _tf_columns()
    embedded = fc.embedding_column(color, 2)
    common = {
        "model_dir": model_dir,
        "n_classes": 3,
        "warm_start_from": warm_start_from,
    }
    if model == "dnn":
        return est.DNNClassifier([4, 3], [x, embedded], batch_norm=True, **common)
    if model == "dnn_v1_partitioned":  # its embedding table was saved in 2 slices
        return est.DNNClassifier([3], [x, embedded], **common)
    if model == "linear":
        return est.LinearClassifier([x, color], **common)
    return est.DNNLinearCombinedClassifier(
        linear_feature_columns=[color],
        dnn_feature_columns=[x, embedded],
        dnn_hidden_units=[3],
        **common,
    )


@pytest.mark.parametrize(
    "model", ["dnn", "linear", "dnn_linear_combined", "dnn_v1_partitioned"]
)
def test_a_tf_estimator_model_dir_carries_over_with_its_predictions(model, tmp_path):
    """The canned models TensorFlow 2.15 trained (fixtures/make_tf215_checkpoints.py)
    predict the same probabilities here once warm-started from its model_dir."""
    model_dir = os.path.join(FIXTURES, model)
    with open(os.path.join(model_dir, "expected.json")) as f:
        expected = json.load(f)
    # a list of regexes: batch-norm moving statistics too, as in tf
    settings = est.WarmStartSettings(model_dir, vars_to_warm_start=[".*"])
    estimator = _port(model, str(tmp_path), settings)
    features = _predict_features(expected)
    predictions = list(estimator.predict(lambda: (features, None)))
    report = estimator.warm_start_report
    assert report.skipped == [] and report.initialized == []
    np.testing.assert_allclose(
        [p["probabilities"] for p in predictions], expected["probabilities"], atol=1e-6
    )
    np.testing.assert_allclose(
        [p["logits"] for p in predictions], expected["logits"], atol=1e-5
    )


def test_a_tf_model_dir_given_as_a_path_loads_the_trainable_variables(tmp_path):
    x, color = _tf_columns()
    estimator = est.DNNClassifier(
        [4, 3],
        [x, fc.embedding_column(color, 2)],
        model_dir=str(tmp_path),
        n_classes=3,
        batch_norm=True,
        warm_start_from=os.path.join(FIXTURES, "dnn"),
    )
    estimator.train(
        lambda: (
            {"x": np.zeros((2, 2), np.float32), "color": np.array(["red", "blue"])},
            np.array([0, 2]),
        ),
        steps=1,
    )
    report = estimator.warm_start_report
    assert "(a TensorFlow checkpoint)" in report.source
    assert len(report.loaded) == 11 and report.skipped == []
    assert all(name.startswith("batch_stats/") for name in report.initialized)


def test_tf_linear_weights_remapped_to_a_new_vocabulary(nested):
    with open(os.path.join(FIXTURES, "linear", "expected.json")) as f:
        old = np.asarray(
            json.load(f)["variables"]["linear/linear_model/color/weights"]["value"]
        )
    name = "params/linear/linear_model/color/weights"
    info = est.VocabInfo(["blue", "red", "yellow"], 3, 1, COLORS)
    settings = est.WarmStartSettings(
        os.path.join(FIXTURES, "linear"),
        var_name_to_vocab_info={"linear/linear_model/color/weights": info},
    )
    variables, report = warm_start(nested({name: np.zeros((4, 3))}), settings)
    assert report.remapped == [name]
    # blue <- old row 2, red <- old row 0; yellow and the OOV row: zeros (tf)
    np.testing.assert_array_equal(
        _flat(variables)[name], np.stack([old[2], old[0], np.zeros(3), np.zeros(3)])
    )


def _train(estimator, colors, labels):
    features = {"x": np.ones((len(colors), 2), np.float32), "color": np.array(colors)}
    estimator.train(lambda: (features, np.array(labels)), steps=2)
    return estimator


def test_a_vocabulary_that_changed_is_not_loaded_in_the_old_order(tmp_path):
    x = fc.numeric_column("x", shape=2)
    old = fc.categorical_column_with_vocabulary_list("color", ["red", "green", "blue"])
    source = _train(
        est.LinearClassifier([x, old], model_dir=str(tmp_path / "a")),
        ["red", "blue", "green"],
        [1, 0, 1],
    )
    new = fc.categorical_column_with_vocabulary_list("color", ["blue", "green", "red"])
    target = est.LinearClassifier(
        [x, new], model_dir=str(tmp_path / "b"), warm_start_from=source.model_dir
    )
    with pytest.warns(
        est.WarmStartWarning,
        match=r"linear_model/color/weights \(the vocabulary of 'color' changed.*VocabInfo",
    ):
        _train(target, ["red"], [1])
    assert target.warm_start_report.loaded == [
        "params/linear/linear_model/bias_weights",
        "params/linear/linear_model/x/weights",
    ]
    # with a VocabInfo the rows follow their tokens, and nothing is said
    info = est.VocabInfo(["blue", "green", "red"], 3, 0, ["red", "green", "blue"])
    remapped = est.LinearClassifier(
        [x, new],
        model_dir=str(tmp_path / "c"),
        warm_start_from=est.WarmStartSettings(
            source.model_dir,
            var_name_to_vocab_info={"linear/linear_model/color/weights": info},
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(remapped, ["red"], [1])
    assert remapped.warm_start_report.remapped == [
        "params/linear/linear_model/color/weights"
    ]


def test_an_indicator_vocabulary_that_changed_is_named(tmp_path):
    # an indicator column owns no variable: the first hidden layer's rows follow
    # its vocabulary, and no VocabInfo can remap a slice of them (nor in tf)
    def columns(vocabulary):
        color = fc.categorical_column_with_vocabulary_list("color", vocabulary)
        return [fc.indicator_column(color)]

    source = _train(
        est.DNNClassifier([2], columns(COLORS), model_dir=str(tmp_path / "a")),
        ["red", "blue"],
        [1, 0],
    )
    target = est.DNNClassifier(
        [2],
        columns(["blue", "green", "red"]),
        model_dir=str(tmp_path / "b"),
        warm_start_from=source.model_dir,
    )
    with pytest.warns(est.WarmStartWarning, match=r"\['color_indicator'\] changed"):
        _train(target, ["red"], [1])


def test_none_without_vocab_info_warns_that_it_loads_nothing(write_checkpoint, nested):
    path = write_checkpoint({"params/w": np.ones(2)})
    settings = est.WarmStartSettings(path, vars_to_warm_start=None)
    with pytest.warns(
        est.WarmStartWarning, match="None with no var_name_to_vocab_info"
    ):
        warm_start(nested({"params/w": np.zeros(2)}), settings)
