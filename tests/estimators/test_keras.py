"""model_to_estimator(keras_model=...): the TF Estimators guide's Keras example, ported.

The guide fine-tunes a frozen, pre-trained MobileNetV2 with a new head; its
weights cannot be downloaded here, so the "pre-trained" part is a small frozen
Sequential whose weights are set by hand.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import estimators as est  # noqa: E402


def fast_config(**kwargs):
    defaults = dict(
        save_checkpoints_secs=None, log_step_count_steps=None, save_summary_steps=0
    )
    return est.RunConfig(**{**defaults, **kwargs})


def images(n=48, seed=0):
    """8-pixel "images" and a binary label (cats vs dogs, as in the guide)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)[:, None]
    return x, y


def pretrained_model():
    """A frozen "pre-trained" base (weights set by hand) and a trainable head."""
    base = keras.Sequential(
        [
            keras.Input((8,), name="image"),
            keras.layers.Dense(6, activation="relu", name="conv"),
            keras.layers.BatchNormalization(name="bn"),
        ],
        name="base",
    )
    rng = np.random.default_rng(42)
    # Positive values: the batch norm's moving variance must be.
    base.set_weights(
        [rng.uniform(0.2, 1.5, w.shape).astype(np.float32) for w in base.weights]
    )
    base.trainable = False
    model = keras.Sequential(
        [
            keras.Input((8,), name="image"),
            base,
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.BatchNormalization(name="head_bn"),
            keras.layers.Dense(1, activation="sigmoid", name="head"),
        ],
        name="classifier",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def weights_by_path(model):
    """Weights by Keras path without the outer model's name ("base/conv/kernel")."""
    return {
        v.path.removeprefix(f"{model.name}/"): np.array(v.value) for v in model.weights
    }


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """The guide's flow: compile, convert, train; returns the pieces."""
    model = pretrained_model()
    before = weights_by_path(model)
    estimator = est.model_to_estimator(
        keras_model=model,
        model_dir=str(tmp_path_factory.mktemp("keras")),
        config=fast_config(),
    )
    x, y = images()

    def train_input_fn():
        return (
            est.Dataset.from_tensor_slices((x, y))
            .shuffle(48, seed=0)
            .repeat()
            .batch(16)
        )

    estimator.train(train_input_fn, steps=9)
    return model, estimator, before, (x, y)


def test_the_frozen_part_is_unchanged_and_the_head_trained(guide):
    _, estimator, before, _ = guide
    names = estimator.get_variable_names()
    assert "non_trainable/keras/base/conv/kernel" in names
    assert "params/keras/head/kernel" in names
    for path in ("base/conv/kernel", "base/conv/bias", "base/bn/gamma"):
        np.testing.assert_array_equal(
            estimator.get_variable_value(f"non_trainable/keras/{path}"), before[path]
        )
    for path in ("head/kernel", "hidden/kernel"):
        after = estimator.get_variable_value(f"params/keras/{path}")
        assert np.abs(after - before[path]).max() > 1e-3, path
    # The trainable batch norm's moving statistics moved; they are not trained.
    moving = estimator.get_variable_value("non_trainable/keras/head_bn/moving_mean")
    assert np.abs(moving - before["head_bn/moving_mean"]).max() > 1e-4
    assert "params/keras/head_bn/moving_mean" not in names


def test_evaluate_returns_the_keras_metric_names(guide):
    _, estimator, _, (x, y) = guide
    result = estimator.evaluate(lambda: (x, y))
    assert sorted(result) == ["accuracy", "global_step", "loss"]
    assert result["global_step"] == 9


def test_the_reverse_load_gives_a_keras_model_predicting_like_the_estimator(guide):
    _, estimator, _, (x, y) = guide
    fresh = pretrained_model()  # same layer names, other weights
    assert est.load_checkpoint_into(fresh, estimator.model_dir) is fresh
    predicted = next(
        estimator.predict(lambda: {"image": x}, yield_single_examples=False)
    )
    assert sorted(predicted) == ["head"]  # a Sequential's output is its last layer
    np.testing.assert_allclose(
        fresh.predict(x, verbose=0), predicted["head"], rtol=1e-5, atol=1e-6
    )
    # Keras's own evaluate of the loaded model agrees with the Estimator's.
    keras_result = fresh.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    result = estimator.evaluate(lambda: (x, y))
    np.testing.assert_allclose(result["loss"], keras_result["loss"], rtol=1e-5)
    np.testing.assert_allclose(result["accuracy"], keras_result["accuracy"], rtol=1e-6)


def test_padded_batches_give_keras_exact_loss_and_metrics(guide):
    """48 rows in batches of 20 (the last is padded): metrics exact over rows."""
    _, estimator, _, (x, y) = guide
    fresh = est.load_checkpoint_into(pretrained_model(), estimator.model_dir)
    keras_result = fresh.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    batched = estimator.evaluate(
        lambda: est.Dataset.from_tensor_slices((x, y)).batch(20)
    )
    np.testing.assert_allclose(batched["accuracy"], keras_result["accuracy"], rtol=1e-6)
    # The Estimator's loss is tf's mean of batch losses: (l1 + l2 + l3) / 3.
    losses = [
        fresh.evaluate(x[i : i + 20], y[i : i + 20], verbose=0, return_dict=True)[
            "loss"
        ]
        for i in (0, 20, 40)
    ]
    np.testing.assert_allclose(batched["loss"], np.mean(losses), rtol=1e-5)


def test_training_matches_keras_fit_step_for_step(tmp_path):
    """The compiled Adam, run statelessly, takes Keras's own steps."""
    x, y = images(32, seed=3)
    reference = pretrained_model()
    model = pretrained_model()
    model.set_weights([np.asarray(v.value) for v in reference.weights])
    estimator = est.model_to_estimator(
        keras_model=model, model_dir=str(tmp_path), config=fast_config()
    )
    estimator.train(lambda: (x, y), steps=3)
    reference.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    fitted = weights_by_path(reference)
    for path in ("head/kernel", "hidden/kernel", "head_bn/moving_variance"):
        kind = "non_trainable" if "moving" in path else "params"
        np.testing.assert_allclose(
            estimator.get_variable_value(f"{kind}/keras/{path}"),
            fitted[path],
            rtol=1e-4,
            atol=1e-6,
            err_msg=path,
        )


def test_dict_features_follow_the_input_names_and_metric_names_map(tmp_path):
    inputs = {
        "age": keras.Input((1,), name="age"),
        "score": keras.Input((2,), name="score"),
    }
    joined = keras.layers.Concatenate()([inputs["age"], inputs["score"]])
    output = keras.layers.Dense(3, activation="softmax", name="probs")(joined)
    model = keras.Model(inputs, output)
    model.compile(
        optimizer="sgd",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    estimator = est.model_to_estimator(
        keras_model=model,
        model_dir=str(tmp_path),
        config=fast_config(),
        metric_names_map={"accuracy": "acc"},
    )
    features = {
        "age": np.ones((6, 1), np.float32),
        "score": np.zeros((6, 2), np.float32),
        "unused": np.zeros(6, np.float32),
    }
    labels = np.arange(6, dtype=np.int32) % 3
    estimator.train(lambda: (features, labels), steps=2)
    assert sorted(estimator.evaluate(lambda: (features, labels))) == [
        "acc",
        "global_step",
        "loss",
    ]
    with pytest.raises(ValueError, match=r"do not give the Keras model's inputs"):
        estimator.evaluate(lambda: ({"age": features["age"]}, labels))


def test_sample_weights_weigh_the_loss_as_in_tf(tmp_path):
    x, y = images(16)
    estimator = est.model_to_estimator(
        keras_model=pretrained_model(), model_dir=str(tmp_path), config=fast_config()
    )
    estimator.train(lambda: (x, y), steps=1)
    weights = np.zeros(16, np.float32)
    weights[:8] = 2.0
    weighted = estimator.evaluate(
        lambda: ({"features": x, "sample_weights": weights}, y)
    )
    fresh = est.load_checkpoint_into(pretrained_model(), estimator.model_dir)
    per_row = keras.losses.binary_crossentropy(y, fresh.predict(x, verbose=0))
    # Keras's sum_over_batch_size: sum(w * l) / 16 = 2 * sum(l[:8]) / 16.
    np.testing.assert_allclose(
        weighted["loss"], 2 * np.sum(per_row[:8]) / 16, rtol=1e-5
    )


def test_bad_arguments_are_named():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="is not compiled"):
        est.model_to_estimator(keras_model=model)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="`optimizer` is for a flax `module`"):
        est.model_to_estimator(keras_model=model, optimizer=object())
    with pytest.raises(ValueError, match="exactly one of"):
        est.model_to_estimator()
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="has no weights yet"):
        est.model_to_estimator(keras_model=unbuilt)


def test_load_checkpoint_into_names_a_missing_weight(guide):
    _, estimator, _, _ = guide
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, name="other")])
    with pytest.raises(ValueError, match=r"keras weight 'other/kernel' is not in"):
        est.load_checkpoint_into(other, estimator.model_dir)


def test_the_keras_estimator_exports_and_serves(guide, tmp_path):
    _, estimator, _, (x, _) = guide
    receiver = est.export.TensorServingInputReceiver(x)
    path = estimator.export_saved_model(str(tmp_path), lambda: receiver)
    served = est.export.load(path)(x[:5])
    expected = next(
        estimator.predict(lambda: (x[:5], None), yield_single_examples=False)
    )
    np.testing.assert_allclose(served["head"], expected["head"], rtol=1e-5, atol=1e-6)


def test_a_multi_output_model_with_dropout_trains_on_its_compiled_losses(tmp_path):
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dropout(0.5, seed=1)(keras.layers.Dense(8)(inputs))
    outputs = {
        "size": keras.layers.Dense(1, name="size")(hidden),
        "kind": keras.layers.Dense(3, activation="softmax", name="kind")(hidden),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss={"size": "mse", "kind": "sparse_categorical_crossentropy"},
    )
    seeds = [v for v in model.non_trainable_variables if "seed" in v.path]
    assert seeds, [v.path for v in model.non_trainable_variables]
    estimator = est.model_to_estimator(
        keras_model=model, model_dir=str(tmp_path), config=fast_config()
    )
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    labels = {"size": x[:, :1], "kind": (x[:, 0] > 0).astype(np.int32)}
    estimator.train(lambda: (x, labels), steps=2)
    name = "non_trainable/keras/" + seeds[0].path.removeprefix(f"{model.name}/")
    # Dropout's RNG state moved on in training, as in Keras.
    assert not np.array_equal(estimator.get_variable_value(name), seeds[0].value)
    predicted = next(estimator.predict(lambda: (x, None), yield_single_examples=False))
    assert sorted(predicted) == ["kind", "size"]
    assert np.isfinite(estimator.evaluate(lambda: (x, labels))["loss"])


def test_a_saved_keras_file_converts_with_keras_model_path(tmp_path):
    model = pretrained_model()
    model.save(tmp_path / "model.keras")
    estimator = est.model_to_estimator(
        keras_model_path=tmp_path / "model.keras",
        model_dir=str(tmp_path / "m"),
        config=fast_config(),
    )
    x, y = images(16)
    estimator.train(lambda: (x, y), steps=1)
    assert sorted(estimator.evaluate(lambda: (x, y))) == [
        "accuracy",
        "global_step",
        "loss",
    ]
