"""est.add_metrics: tf.estimator 2.15's extenders_test.py, ported."""

from __future__ import annotations

import numpy as np
import pytest
from support import fast_config

import estimators as est
from estimators import feature_column as fc


def _input_fn(x, y):
    def input_fn():
        return {"x": np.asarray(x, np.float32)}, np.asarray(y)

    return input_fn


def _classifier(tmp_path):
    return est.canned.LinearClassifier(
        [fc.numeric_column("x")],
        model_dir=str(tmp_path),
        config=fast_config(random_seed=1),
    )


def test_should_add_metrics(tmp_path):
    input_fn = _input_fn(np.arange(4)[:, None], np.ones(4, np.int32)[:, None])

    def metric_fn(features):
        return {"mean_x": est.metrics.mean(features["x"])}

    estimator = est.add_metrics(_classifier(tmp_path), metric_fn)
    estimator.train(input_fn, steps=1)
    metrics = estimator.evaluate(input_fn)
    assert metrics["mean_x"] == 1.5  # (0 + 1 + 2 + 3) / 4
    assert "auc" in metrics  # keeps the original estimator's metrics


def test_should_error_out_for_not_recognized_args(tmp_path):
    def metric_fn(features, not_recognized):
        return {}

    with pytest.raises(ValueError, match="not_recognized"):
        est.add_metrics(_classifier(tmp_path), metric_fn)


@pytest.mark.parametrize("order", ["tf", "shuffled"])
def test_all_supported_args_in_any_order(tmp_path, order):
    seen = {}

    def metric_fn(features, predictions, labels, config):
        seen.update(features=features, predictions=predictions, labels=labels)
        seen["config"] = config
        return {}

    def shuffled(labels, config, features, predictions):
        return metric_fn(features, predictions, labels, config)

    estimator = est.add_metrics(
        _classifier(tmp_path), metric_fn if order == "tf" else shuffled
    )
    input_fn = _input_fn([[0.0]], [[1]])
    estimator.train(input_fn, steps=1)
    estimator.evaluate(input_fn)
    assert "x" in seen["features"]
    assert seen["labels"] is not None
    assert "logistic" in seen["predictions"]
    assert isinstance(seen["config"], est.RunConfig)


def test_all_args_are_optional(tmp_path):
    def metric_fn():
        return {"two": est.metrics.mean(np.array([2.0]))}

    estimator = est.add_metrics(_classifier(tmp_path), metric_fn)
    input_fn = _input_fn([[0.0]], [[1]])
    estimator.train(input_fn, steps=1)
    assert estimator.evaluate(input_fn)["two"] == 2.0


def test_overrides_existing_metrics(tmp_path):
    def metric_fn():
        return {"auc": est.metrics.mean(np.array([2.0]))}

    estimator = _classifier(tmp_path)
    input_fn = _input_fn([[0.0]], [[1]])
    estimator.train(input_fn, steps=1)
    assert estimator.evaluate(input_fn)["auc"] != 2.0
    extended = est.add_metrics(estimator, metric_fn)
    assert extended.evaluate(input_fn)["auc"] == 2.0
    # Same model_dir, same checkpoint: the new Estimator reads what the first wrote.
    assert extended.model_dir == estimator.model_dir
    assert extended.evaluate(input_fn)["global_step"] == 1


def test_label_vocabulary_and_class_names_carry_over(tmp_path):
    classifier = est.canned.LinearClassifier(
        [fc.numeric_column("x")],
        model_dir=str(tmp_path),
        label_vocabulary=["no", "yes"],
        config=fast_config(random_seed=1),
    )

    def metric_fn(labels, predictions):  # labels are class ids inside the model
        return {"label_ids_mean": est.metrics.mean(labels)}

    extended = est.add_metrics(classifier, metric_fn)
    input_fn = _input_fn([[0.0], [1.0]], np.array(["yes", "no"]))
    extended.train(input_fn, steps=1)
    assert extended.evaluate(input_fn)["label_ids_mean"] == 0.5
    prediction = next(extended.predict(lambda: {"x": np.zeros(1, np.float32)}))
    assert prediction["classes"][0] in ("no", "yes")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="`estimator` must be an est.Estimator"):
        est.add_metrics(object(), lambda: {})
    estimator = est.add_metrics(_classifier(tmp_path), lambda: [1.0])
    input_fn = _input_fn([[0.0]], [[1]])
    estimator.train(input_fn, steps=1)
    with pytest.raises(TypeError, match="must return a dict of metrics"):
        estimator.evaluate(input_fn)
