"""The Estimator contract: train / evaluate / predict, resume, bad input."""

from __future__ import annotations

import os

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from support import batches_of, classifier_model_fn, fast_config

import estimators as est


def make(tmp_path, **params):
    return est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(random_seed=1),
        params=params,
    )


def repeat_input(x, y, batch_size):
    return lambda: (
        est.data.Dataset.from_tensor_slices(({"x": x}, y))
        .shuffle(90, seed=3)
        .repeat()
        .batch(batch_size)
    )


def test_train_evaluate_predict_end_to_end(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    assert classifier.train(repeat_input(x, y, 30), steps=60) is classifier
    result = classifier.evaluate(batches_of(x, y, 30))
    assert set(result) == {"accuracy", "loss", "global_step"}
    assert result["global_step"] == 60
    assert result["accuracy"] > 0.95
    predictions = list(classifier.predict(batches_of(x, None, 25)))
    assert len(predictions) == 90
    assert set(predictions[0]) == {"class_ids", "probabilities"}
    class_ids = np.array([p["class_ids"][0] for p in predictions])
    assert np.mean(class_ids == y) == pytest.approx(result["accuracy"])


def test_steps_are_incremental_and_max_steps_absolute(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    classifier.train(repeat_input(x, y, 30), steps=5)
    classifier.train(repeat_input(x, y, 30), steps=5)
    assert classifier.get_variable_value("global_step") == 10
    classifier.train(repeat_input(x, y, 30), max_steps=12)
    assert classifier.get_variable_value("global_step") == 12
    before = sorted(os.listdir(classifier.model_dir))
    classifier.train(repeat_input(x, y, 30), max_steps=12)  # already reached: no-op
    assert classifier.get_variable_value("global_step") == 12
    assert sorted(os.listdir(classifier.model_dir)) == before


def test_training_stops_at_the_end_of_a_finite_input(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    classifier.train(batches_of(x, y, 20, epochs=2))  # 5 batches per epoch
    assert classifier.get_variable_value("global_step") == 10


def test_two_trainings_of_50_equal_one_of_100(tmp_path, blobs):
    # Dropout (PRNG per step), Adam (optimizer state) and a shuffled, repeated
    # Dataset (input position) must all resume exactly.
    x, y = blobs
    params = {"dropout": 0.3, "hidden_units": [16]}
    once = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "once"),
        config=fast_config(random_seed=7),
        params=params,
    )
    once.train(repeat_input(x, y, 16), steps=100)
    twice = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "twice"),
        config=fast_config(random_seed=7),
        params=params,
    )
    twice.train(repeat_input(x, y, 16), steps=50)
    fresh = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "twice"),
        config=fast_config(random_seed=7),
        params=params,
    )
    fresh.train(repeat_input(x, y, 16), steps=50)
    assert once.get_variable_names() == fresh.get_variable_names()
    for name in once.get_variable_names():
        np.testing.assert_allclose(
            once.get_variable_value(name),
            fresh.get_variable_value(name),
            rtol=1e-6,
            atol=1e-6,
        )


def test_steps_per_execution_gives_the_same_model(tmp_path, blobs):
    x, y = blobs
    results = []
    for n in (1, 4):
        classifier = est.Estimator(
            classifier_model_fn,
            model_dir=str(tmp_path / f"spe{n}"),
            config=fast_config(random_seed=2, steps_per_execution=n),
            params={},
        )
        classifier.train(repeat_input(x, y, 30), steps=10)
        results.append(classifier.get_variable_value("params/Dense_0/kernel"))
        assert classifier.get_variable_value("global_step") == 10
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_evaluation_metrics_do_not_depend_on_batching(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    classifier.train(repeat_input(x, y, 30), steps=3)  # a half-trained model
    whole = classifier.evaluate(batches_of(x, y, 90))
    ragged = classifier.evaluate(batches_of(x, y, 40))  # 40 + 40 + 10 (padded, masked)
    assert ragged["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-6)


def test_predict_keys_and_batches(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    classifier.train(repeat_input(x, y, 30), steps=2)
    only = next(classifier.predict(batches_of(x, None, 8), predict_keys=["class_ids"]))
    assert set(only) == {"class_ids"}
    batches = list(
        classifier.predict(batches_of(x, None, 40), yield_single_examples=False)
    )
    assert [len(b["class_ids"]) for b in batches] == [40, 40, 10]
    with pytest.raises(ValueError, match="'nope'"):
        next(classifier.predict(batches_of(x, None, 8), predict_keys=["nope"]))


def test_predict_does_not_reload_an_unchanged_checkpoint(tmp_path, blobs, monkeypatch):
    x, y = blobs
    classifier = make(tmp_path)
    classifier.train(repeat_input(x, y, 30), steps=2)
    loads = []
    original = est.checkpoints.restore_subtree
    monkeypatch.setattr(
        est.checkpoints,
        "restore_subtree",
        lambda *a, **k: loads.append(1) or original(*a, **k),
    )
    for _ in range(3):
        list(classifier.predict(batches_of(x[:1], None, 1)))
    classifier.evaluate(batches_of(x, y, 30))
    assert len(loads) == 1
    classifier.train(repeat_input(x, y, 30), steps=1)  # a newer checkpoint
    list(classifier.predict(batches_of(x[:1], None, 1)))
    assert len(loads) == 2


def test_variables_exclude_optimizer_state(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path, hidden_units=[4])
    classifier.train(repeat_input(x, y, 30), steps=1)
    assert classifier.get_variable_names() == [
        "params/Dense_0/bias",
        "params/Dense_0/kernel",
        "params/Dense_1/bias",
        "params/Dense_1/kernel",
        "global_step",
    ]
    assert classifier.get_variable_value("params/Dense_0/kernel").shape == (2, 4)
    with pytest.raises(ValueError, match="'params/missing'"):
        classifier.get_variable_value("params/missing")


def test_batch_norm_statistics_are_trained_and_checkpointed(tmp_path, blobs):
    def model_fn(features, labels, mode):
        net = nn.BatchNorm(use_running_average=mode != est.ModeKeys.TRAIN)(
            features["x"]
        )
        logits = nn.Dense(3)(net)
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions=logits)
        loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.1))

    x, y = blobs
    model = est.Estimator(
        model_fn, model_dir=str(tmp_path / "bn"), config=fast_config()
    )
    model.train(repeat_input(x + 10.0, y, 30), steps=20)
    mean = model.get_variable_value("batch_stats/BatchNorm_0/mean")
    # momentum 0.99 from 0 over 20 batches: ~ mean(x) * (1 - 0.99 ** 20); each
    # batch is a third of the shuffled data, so its mean differs a little.
    expected = (x + 10.0).mean(axis=0) * (1 - 0.99**20)
    np.testing.assert_allclose(mean, expected, rtol=2e-3)
    logits = np.stack(list(model.predict(batches_of(x + 10.0, None, 30))))
    assert logits.shape == (90, 3)


def test_summaries_reach_the_metric_writers(tmp_path, blobs):
    x, y = blobs
    memory = est.InMemoryWriter()
    classifier = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "m"),
        config=fast_config(save_summary_steps=5, metric_writers=[memory]),
        params={},
    )
    classifier.train(repeat_input(x, y, 30), steps=10)
    assert [step for step, _ in memory.history("loss")] == [5, 10]
    assert [step for step, _ in memory.history("accuracy")] == [5, 10]
    classifier.evaluate(batches_of(x, y, 30))
    assert [step for step, _ in memory.history("eval/accuracy")] == [10]
    assert os.path.exists(os.path.join(classifier.model_dir, "metrics.jsonl"))


def test_hooks_see_every_step_and_can_stop(tmp_path, blobs):
    x, y = blobs
    calls = []

    class Recorder(est.Hook):
        def begin(self, context):
            calls.append(("begin", context.global_step))

        def before_step(self, context):
            calls.append(("before", context.global_step))

        def after_step(self, context):
            calls.append(("after", context.global_step, round(context.loss, 3) > 0))

        def end(self, context):
            calls.append(("end", context.global_step))

    classifier = make(tmp_path)
    classifier.train(
        repeat_input(x, y, 30),
        steps=100,
        hooks=[Recorder(), est.StopAtStepHook(num_steps=2)],
    )
    assert calls == [
        ("begin", 0),
        ("before", 0),
        ("after", 1, True),
        ("before", 1),
        ("after", 2, True),
        ("end", 2),
    ]
    assert classifier.get_variable_value("global_step") == 2


def test_nan_loss_raises_with_the_step_and_writes_no_checkpoint(tmp_path, blobs):
    x, y = blobs
    bad = x.copy()
    bad[60:] = np.nan  # the third batch of 30
    classifier = make(tmp_path)
    with pytest.raises(est.NanLossDuringTrainingError, match="global_step 3"):
        classifier.train(batches_of(bad, y, 30))
    assert classifier.latest_checkpoint() is None


def test_nan_tensor_hook_stops_at_the_exact_step(tmp_path, blobs):
    x, y = blobs
    bad = x.copy()
    bad[30:] = np.nan
    with pytest.raises(est.NanLossDuringTrainingError) as info:
        make(tmp_path).train(batches_of(bad, y, 30), hooks=[est.NanTensorHook()])
    assert info.value.step == 2


# -- bad input: one line naming the culprit, model_dir untouched ---------------------


def test_model_fn_without_features_is_refused():
    def model_fn(inputs, labels, mode):
        return None

    with pytest.raises(ValueError, match="`features`"):
        est.Estimator(model_fn)


def test_spec_missing_loss_in_train_is_refused(tmp_path, blobs):
    def model_fn(features, labels, mode):
        return est.EstimatorSpec(mode, optimizer=optax.sgd(0.1))

    x, y = blobs
    model = est.Estimator(model_fn, model_dir=str(tmp_path / "m"))
    with pytest.raises(ValueError, match="missing `loss`"):
        model.train(batches_of(x, y, 30), steps=1)
    assert not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, r"`steps` must be > 0, got 0"),
        ({"steps": -3}, r"`steps` must be > 0, got -3"),
        ({"max_steps": 0}, r"`max_steps` must be > 0, got 0"),
        ({"steps": 1, "max_steps": 2}, "at most one of `steps` and `max_steps`"),
    ],
)
def test_bad_steps_are_refused(tmp_path, blobs, kwargs, message):
    x, y = blobs
    with pytest.raises(ValueError, match=message):
        make(tmp_path).train(batches_of(x, y, 30), **kwargs)
    assert not os.path.exists(tmp_path / "model")


def test_labels_of_the_wrong_shape_are_named(tmp_path, blobs):
    x, y = blobs
    one_hot = np.eye(3, dtype=np.int32)[y]
    model = make(tmp_path)
    with pytest.raises(ValueError, match="labels") as info:
        model.train(batches_of(x, one_hot, 30), steps=1)
    assert "\n" not in str(info.value).strip()
    assert not os.path.exists(tmp_path / "model")


def test_labels_with_another_row_count_are_named(tmp_path, blobs):
    x, y = blobs
    model = make(tmp_path)
    with pytest.raises(ValueError, match="labels has 29 rows but the features have 30"):
        model.train(lambda: iter([({"x": x[:30]}, y[:29])]), steps=1)


def test_a_missing_feature_is_named(tmp_path, blobs):
    x, y = blobs
    model = make(tmp_path)
    with pytest.raises(
        KeyError,
        match="feature 'x' is missing from the input; the input "
        r"has \['z'\]",
    ):
        model.train(lambda: iter([({"z": x}, y)]), steps=1)
    assert not os.path.exists(tmp_path / "model")


def test_a_failed_call_leaves_model_dir_as_it_was(tmp_path, blobs):
    x, y = blobs
    model = make(tmp_path)
    model.train(repeat_input(x, y, 30), steps=3)
    before = {
        p: os.path.getmtime(os.path.join(model.model_dir, p))
        for p in os.listdir(model.model_dir)
    }
    with pytest.raises(KeyError):
        model.train(lambda: iter([({"z": x}, y)]), steps=1)
    after = {
        p: os.path.getmtime(os.path.join(model.model_dir, p))
        for p in os.listdir(model.model_dir)
    }
    assert after == before
    assert model.get_variable_value("global_step") == 3


def test_evaluate_without_labels_says_so(tmp_path, blobs):
    x, _ = blobs
    with pytest.raises(ValueError, match="evaluate needs labels"):
        make(tmp_path).evaluate(batches_of(x, None, 30))


def test_jnp_mean_loss_in_custom_model_fn(tmp_path, blobs):
    def model_fn(features, labels, mode):
        pred = nn.Dense(1)(features["x"])[:, 0]
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions=pred)
        loss = jnp.mean((pred - labels) ** 2)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optax.sgd(0.05))

    x, _ = blobs
    target = (x @ np.array([1.0, -2.0], np.float32)).astype(np.float32)
    model = est.Estimator(model_fn, model_dir=str(tmp_path / "r"), config=fast_config())
    model.train(repeat_input(x, target, 30), steps=200)
    assert model.evaluate(batches_of(x, target, 30))["loss"] < 0.01


def test_numpy_input_fn_feeds_train_evaluate_predict(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)
    train_fn = est.inputs.numpy_input_fn(
        {"x": x}, y, batch_size=30, num_epochs=None, shuffle=True
    )
    classifier.train(train_fn, steps=40)
    eval_fn = est.inputs.numpy_input_fn({"x": x}, y, batch_size=64, shuffle=False)
    assert classifier.evaluate(eval_fn)["accuracy"] > 0.95
    predict_fn = est.inputs.numpy_input_fn({"x": x}, batch_size=64, shuffle=False)
    assert len(list(classifier.predict(predict_fn))) == 90


def test_a_single_array_of_features_reaches_the_model_fn(tmp_path, blobs):
    def model_fn(features, labels, mode):
        logits = nn.Dense(3)(features)  # features is the array itself, as in tf
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions=jnp.argmax(logits, 1))
        loss = est.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        return est.EstimatorSpec(mode, loss=loss, optimizer=optax.adam(0.1))

    x, y = blobs
    model = est.Estimator(model_fn, model_dir=str(tmp_path / "a"), config=fast_config())
    model.train(
        est.inputs.numpy_input_fn(x, y, batch_size=30, num_epochs=20, shuffle=True)
    )
    predicted = np.array(
        list(model.predict(est.inputs.numpy_input_fn(x, batch_size=90, shuffle=False)))
    )
    assert np.mean(predicted == y) > 0.95


def test_a_finite_dataset_read_to_its_end_starts_a_new_pass_next_time(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)

    def one_epoch():
        return est.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(30)

    classifier.train(one_epoch)  # 90 rows / 30 = 3 steps
    classifier.train(one_epoch)  # a new pass, as tf.estimator: 3 more
    assert classifier.get_variable_value("global_step") == 6


def test_an_interrupted_pass_resumes_where_it_stopped(tmp_path, blobs):
    x, y = blobs
    classifier = make(tmp_path)

    def one_epoch():
        return est.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(10)

    classifier.train(one_epoch, steps=4)  # rows 0-39
    classifier.train(one_epoch)  # rows 40-89: the rest of the pass, 5 steps
    assert classifier.get_variable_value("global_step") == 9
