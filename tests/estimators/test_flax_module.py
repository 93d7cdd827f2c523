"""model_to_estimator(module=...): a flax.linen module + optax + a loss, and back."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import estimators as est


def fast_config():
    return est.RunConfig(
        save_checkpoints_secs=None, log_step_count_steps=None, save_summary_steps=0
    )


class Net(nn.Module):
    """Dense -> BatchNorm -> Dropout -> Dense: both kinds of mode-dependent layer."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Dense(8)(x))
        x = nn.BatchNorm(use_running_average=not train, momentum=0.8)(x)
        x = nn.Dropout(0.2, deterministic=not train)(x)
        return nn.Dense(3)(x)


def blobs_input(blobs, batch_size=30):
    x, y = blobs
    data = est.Dataset.from_tensor_slices((x, y)).shuffle(90, seed=0)
    return lambda: data.repeat().batch(batch_size)


def cross_entropy(labels, logits):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def accuracy(labels, logits):
    return est.metrics.accuracy(labels, jnp.argmax(logits, -1))


@pytest.fixture(scope="module")
def trained(blobs, tmp_path_factory):
    pretrained = Net().init(jax.random.key(7), blobs[0][:2])
    estimator = est.model_to_estimator(
        module=Net(),
        variables=pretrained,
        optimizer=optax.adam(0.05),
        loss=cross_entropy,
        metrics={"accuracy": accuracy},
        model_dir=str(tmp_path_factory.mktemp("flax")),
        config=fast_config(),
    )
    return estimator.train(blobs_input(blobs), steps=30), pretrained


def test_the_given_variables_are_the_initial_state(blobs, tmp_path):
    pretrained = Net().init(jax.random.key(7), blobs[0][:2])
    estimator = est.model_to_estimator(
        module=Net(),
        variables=pretrained,
        optimizer=optax.sgd(0.0),  # no step moves the parameters
        loss=cross_entropy,
        model_dir=str(tmp_path),
        config=fast_config(),
    )
    estimator.train(blobs_input(blobs), steps=1)
    np.testing.assert_array_equal(
        estimator.get_variable_value("params/model/Dense_0/kernel"),
        pretrained["params"]["Dense_0"]["kernel"],
    )


def test_training_learns_and_updates_the_batch_statistics(trained, blobs):
    estimator, pretrained = trained
    result = estimator.evaluate(blobs_input(blobs), steps=3)
    assert sorted(result) == ["accuracy", "global_step", "loss"]
    assert result["accuracy"] > 0.9
    mean = estimator.get_variable_value("batch_stats/model/BatchNorm_0/mean")
    assert np.abs(mean - pretrained["batch_stats"]["BatchNorm_0"]["mean"]).max() > 1e-3


def test_load_flax_variables_gives_what_module_apply_takes(trained, blobs):
    estimator, pretrained = trained
    variables = est.load_flax_variables(estimator.model_dir)
    assert jax.tree.structure(variables) == jax.tree.structure(
        jax.tree.map(np.asarray, pretrained)
    )
    x = blobs[0][:10]
    predicted = next(estimator.predict(lambda: (x, None), yield_single_examples=False))
    np.testing.assert_allclose(
        Net().apply(variables, x), predicted["predictions"], rtol=1e-5, atol=1e-6
    )


def test_without_variables_the_module_initialises_itself(blobs, tmp_path):
    estimator = est.model_to_estimator(
        module=nn.Dense(3),
        optimizer=optax.sgd(0.1),
        loss=est.losses.sparse_softmax_cross_entropy,  # a scalar, mask applied
        model_dir=str(tmp_path),
        config=fast_config(),
    )
    estimator.train(blobs_input(blobs), steps=2)
    assert estimator.get_variable_names() == [
        "params/model/bias",
        "params/model/kernel",
        "global_step",
    ]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="`optimizer` must be an optax"):
        est.model_to_estimator(module=nn.Dense(1), optimizer="adam", loss=jnp.square)
    with pytest.raises(TypeError, match="`module` must be a flax.linen Module"):
        est.model_to_estimator(module=object(), optimizer=optax.sgd(1), loss=max)
    with pytest.raises(ValueError, match="'params' collection"):
        est.model_to_estimator(
            module=nn.Dense(1), optimizer=optax.sgd(1), loss=max, variables={"w": 1}
        )
    with pytest.raises(ValueError, match="holds no flax module variables"):
        e = est.Estimator(_plain_model_fn, model_dir=str(tmp_path))
        e.train(lambda: ({"x": np.ones((2, 1), np.float32)}, np.ones(2)), steps=1)
        est.load_flax_variables(e.model_dir)


def _plain_model_fn(features, labels, mode):
    y = nn.Dense(1)(features["x"])[:, 0]
    loss = est.losses.mean_squared_error(labels, y)
    return est.EstimatorSpec(mode, predictions=y, loss=loss, optimizer=optax.sgd(0.1))
