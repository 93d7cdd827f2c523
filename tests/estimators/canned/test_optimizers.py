"""Optimizer names, defaults and FTRL against hand-computed steps."""

from __future__ import annotations

import jax.numpy as jnp
import optax
import pytest

from estimators.canned.optimizers import ftrl, get_optimizer


def step(optimizer, grads, params, state=None):
    state = optimizer.init(params) if state is None else state
    updates, state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def test_ftrl_two_steps_match_tf_arithmetic():
    opt = ftrl(0.1)
    w = {"w": jnp.zeros(1)}
    w, state = step(opt, {"w": jnp.ones(1)}, w)
    # n = 0.1 + 1² = 1.1, z = 1, w = -z / (sqrt(1.1) / 0.1) = -0.0953463
    assert float(w["w"][0]) == pytest.approx(-0.0953463, abs=1e-6)
    w, _ = step(opt, {"w": jnp.full(1, 0.5)}, w, state)
    # n = 1.1 + 0.25 = 1.35, σ = (sqrt(1.35) - sqrt(1.1)) / 0.1 = 1.1308616,
    # z = 1 + 0.5 - σ·w = 1.6078234, w = -z / (sqrt(1.35) / 0.1) = -0.1383794
    assert float(w["w"][0]) == pytest.approx(-0.1383794, abs=1e-6)


def test_ftrl_l1_gives_exact_zeros_and_l2_shrinks():
    w = {"w": jnp.zeros(2)}
    grads = {"w": jnp.array([1.0, 3.0])}
    sparse, _ = step(ftrl(0.1, l1_regularization_strength=2.0), grads, w)
    # |z| = 1 <= 2 gives 0; z = 3: (2 - 3) / (sqrt(0.1 + 9) / 0.1) = -0.0331497
    assert sparse["w"].tolist() == pytest.approx([0.0, -0.0331497], abs=1e-6)
    shrunk, _ = step(ftrl(0.1, l2_regularization_strength=1.0), {"w": jnp.ones(2)}, w)
    assert float(shrunk["w"][0]) == pytest.approx(
        -0.0800763, abs=1e-6
    )  # -1 / (10.488 + 2)


def test_ftrl_arguments_are_checked():
    with pytest.raises(ValueError, match="`learning_rate` must be > 0, got 0"):
        ftrl(0)
    with pytest.raises(ValueError, match="`l1_regularization_strength` must be >= 0"):
        ftrl(0.1, l1_regularization_strength=-1.0)
    with pytest.raises(ValueError, match="needs the parameters"):
        opt = ftrl(0.1)
        opt.update({"w": jnp.ones(1)}, opt.init({"w": jnp.zeros(1)}))


def test_names_are_case_insensitive_and_use_the_learning_rate():
    params = {"w": jnp.zeros(1)}
    sgd, _ = step(get_optimizer("sgd", learning_rate=0.05), {"w": jnp.ones(1)}, params)
    assert float(sgd["w"][0]) == pytest.approx(-0.05)
    adagrad, _ = step(
        get_optimizer("Adagrad", learning_rate=0.05), {"w": jnp.ones(1)}, params
    )
    assert float(adagrad["w"][0]) == pytest.approx(
        -0.0476731, abs=1e-6
    )  # -0.05 / sqrt(0.1 + 1)
    for name in ("Adam", "Ftrl", "RMSProp", "SGD"):
        updated, _ = step(
            get_optimizer(name, learning_rate=0.05), {"w": jnp.ones(1)}, params
        )
        assert float(updated["w"][0]) < 0, name


def test_transforms_and_factories_are_accepted():
    transform = optax.sgd(1.0)
    assert get_optimizer(transform, learning_rate=0.05) is transform
    assert get_optimizer(lambda: transform, learning_rate=0.05) is transform


def test_bad_optimizers_are_named():
    with pytest.raises(ValueError, match=r"`optimizer` must be one of \['Adagrad'"):
        get_optimizer("Adadelta", learning_rate=0.1)
    with pytest.raises(TypeError, match="it returned int"):
        get_optimizer(lambda: 3, learning_rate=0.1)
    with pytest.raises(TypeError, match="`dnn_optimizer` must be a name"):
        get_optimizer(3, learning_rate=0.1, argument="dnn_optimizer")


def test_a_name_without_learning_rate_gets_the_keras_default():
    # tf 2.15's get_optimizer_instance_v2(name) builds tf.keras.optimizers.legacy
    # classes with their default learning rate: 0.001, SGD 0.01.
    params = {"w": jnp.zeros(1)}
    sgd, _ = step(get_optimizer("SGD"), {"w": jnp.ones(1)}, params)
    assert float(sgd["w"][0]) == pytest.approx(-0.01)
    adagrad, _ = step(get_optimizer("Adagrad"), {"w": jnp.ones(1)}, params)
    # -0.001 * 1 / sqrt(0.1 + 1²)
    assert float(adagrad["w"][0]) == pytest.approx(-0.000953463, abs=1e-9)
    adam, _ = step(get_optimizer("Adam"), {"w": jnp.ones(1)}, params)
    assert float(adam["w"][0]) == pytest.approx(-0.001, rel=1e-5)  # first Adam step
