"""est.layers.Conv / max_pool are nn.Conv / nn.max_pool computed another way."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators import layers

CONVS = [
    # (input shape, kernel_size, strides, padding, kernel_dilation)
    ((4, 8, 8, 1), (5, 5), 1, "SAME", 1),  # the Hvass CNN's first layer
    ((4, 4, 4, 16), (5, 5), 1, "SAME", 1),  # and its second
    ((3, 9, 7, 2), (3, 2), (2, 1), "VALID", 1),
    ((3, 9, 7, 2), (3, 3), (2, 3), ((1, 2), (0, 1)), (2, 1)),
    ((2, 10, 3), (3,), 1, "SAME", 1),  # 1-D
    ((2, 5, 6, 4, 2), (3, 3, 2), (1, 2, 1), "SAME", 1),  # 3-D
    ((2, 6, 6, 3), (1, 1), 1, "SAME", 1),  # a plain matmul
    ((5, 2, 6, 6, 3), (3, 3), 1, "CIRCULAR", 1),  # two batch axes, padded by flax
]


def _pair(shape, kernel_size, strides, padding, dilation, features=5, **kw):
    args = dict(strides=strides, padding=padding, kernel_dilation=dilation, **kw)
    return (
        nn.Conv(features, kernel_size, **args),
        layers.Conv(features, kernel_size, **args),
    )


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CONVS, ids=str)
def test_conv_equals_nn_conv_values_gradients_and_jvp(case):
    shape = case[0]
    x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
    ref, ours = _pair(*case)
    params = ref.init(jax.random.key(1), x)
    # Same parameter names, shapes and initial values: checkpoints interchange.
    _close(params, ours.init(jax.random.key(1), x))
    assert jax.tree.structure(params) == jax.tree.structure(
        ours.init(jax.random.key(1), x)
    )
    _close(ref.apply(params, x), ours.apply(params, x))

    def loss(module):
        return lambda p, x: jnp.sin(module.apply(p, x)).sum()

    grads = jax.grad(loss(ref), argnums=(0, 1))(params, x)
    _close(grads, jax.grad(loss(ours), argnums=(0, 1))(params, x))
    ones = jax.tree.map(jnp.ones_like, params)
    tangent = jax.jvp(lambda p: ref.apply(p, x), (params,), (ones,))[1]
    _close(tangent, jax.jvp(lambda p: ours.apply(p, x), (params,), (ones,))[1])


def test_conv_second_derivatives_equal_nn_conv():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 4, 2)), jnp.float32)
    ref, ours = _pair((1, 4, 4, 2), (3, 3), 1, "SAME", 1)
    params = ref.init(jax.random.key(1), x)

    def hessian(module):
        return jax.hessian(lambda x: jnp.sin(module.apply(params, x)).sum())(x)

    _close(hessian(ref), hessian(ours))


@pytest.mark.parametrize(
    "kw",
    [
        {"feature_group_count": 2, "padding": "SAME"},
        {"input_dilation": 2, "padding": ((1, 1), (1, 1))},
    ],
    ids=str,
)
def test_conv_falls_back_to_lax_for_other_convolutions(kw):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 5, 4)), jnp.float32)
    ref, ours = _pair((2, 5, 5, 4), (3, 3), 1, dilation=1, features=6, **kw)
    params = ref.init(jax.random.key(1), x)
    _close(ref.apply(params, x), ours.apply(params, x))


def test_conv_general_dilated_other_layouts_go_to_lax():
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32)
    k = np.random.default_rng(1).normal(size=(4, 3, 3, 3)).astype(np.float32)
    dn = ("NCHW", "OIHW", "NCHW")
    _close(
        jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn),
        layers.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn),
    )


POOLS = [
    ((4, 8, 8, 16), (2, 2), (2, 2), "VALID"),  # the Hvass CNN's
    ((2, 9, 7, 3), (2, 3), (2, 3), "VALID"),  # remainders dropped
    ((2, 6, 4, 4, 2), (2, 2, 2), (2, 2, 2), "VALID"),  # 3-D
    ((6, 6, 3), (3, 3), (3, 3), "VALID"),  # no batch axis
    ((2, 6, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((2, 6, 6, 3), (3, 3), (1, 1), "VALID"),  # overlapping: nn.max_pool's path
    ((2, 6, 6, 3), (2, 2), None, "VALID"),  # flax's default strides: ones
    ((2, 5, 5, 3), (2, 2), (2, 2), "SAME"),  # padded: nn.max_pool's path
]


@pytest.mark.parametrize("case", POOLS, ids=str)
def test_max_pool_equals_nn_max_pool_exactly_ties_included(case):
    shape, window, strides, padding = case
    # Small integers: most windows hold ties, whose gradient goes to the first.
    x = jnp.asarray(np.random.default_rng(0).integers(0, 3, size=shape), jnp.float32)

    def loss(pool):
        def f(x):
            y = pool(x, window, strides=strides, padding=padding)
            return (jnp.cos(y) * jnp.arange(y.size).reshape(y.shape)).sum()

        return f

    ref = nn.max_pool(x, window, strides=strides, padding=padding)
    np.testing.assert_array_equal(
        layers.max_pool(x, window, strides=strides, padding=padding), ref
    )
    np.testing.assert_array_equal(
        jax.grad(loss(layers.max_pool))(x), jax.grad(loss(nn.max_pool))(x)
    )


def test_layers_drop_into_a_jitted_cnn():
    x = jnp.ones((2, 8, 8, 1))

    class CNN(nn.Module):
        conv: type = nn.Conv
        pool: object = staticmethod(nn.max_pool)

        @nn.compact
        def __call__(self, x):
            x = nn.relu(self.conv(4, (3, 3))(x))
            return self.pool(x, (2, 2), strides=(2, 2)).sum()

    params = CNN().init(jax.random.key(0), x)
    ours = CNN(layers.Conv, layers.max_pool)
    np.testing.assert_allclose(
        jax.jit(ours.apply)(params, x), CNN().apply(params, x), rtol=1e-6
    )


def test_layers_export_with_a_symbolic_batch_and_vmap():
    # What export_saved_model does: jax.export with a symbolic batch dimension.
    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(layers.Conv(4, (3, 3))(x))
            return layers.max_pool(x, (2, 2), strides=(2, 2)).reshape(x.shape[0], -1)

    model, x = CNN(), jnp.ones((3, 8, 8, 1))
    params = model.init(jax.random.key(0), x)
    (batch,) = jax.export.symbolic_shape("b")
    exported = jax.export.export(jax.jit(model.apply))(
        params, jax.ShapeDtypeStruct((batch, 8, 8, 1), jnp.float32)
    )
    np.testing.assert_allclose(
        exported.call(params, jnp.ones((5, 8, 8, 1))),
        model.apply(params, jnp.ones((5, 8, 8, 1))),
        rtol=1e-6,
    )
    batched = jax.vmap(lambda x: model.apply(params, x))(jnp.ones((2, 3, 8, 8, 1)))
    assert batched.shape == (2, 3, 64)
