"""Tests for estimators.losses: tf.compat.v1.losses semantics, weights and mask."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators import losses
from estimators._context import model_fn_scope
from estimators.losses import Reduction


def _close(actual, expected, tol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=tol, atol=tol)


def test_reduction_values_are_tfs():
    assert Reduction.SUM_BY_NONZERO_WEIGHTS == "weighted_sum_by_nonzero_weights"
    assert Reduction.SUM_OVER_NONZERO_WEIGHTS is Reduction.SUM_BY_NONZERO_WEIGHTS
    assert Reduction.SUM_OVER_BATCH_SIZE == "weighted_sum_over_batch_size"


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        (Reduction.NONE, [1.0, 0.0, 6.0, 2.0]),
        (Reduction.SUM, 9.0),  # 1 + 0 + 6 + 2
        (Reduction.MEAN, 9.0 / 3.5),  # / (1 + 0 + 2 + 0.5)
        (Reduction.SUM_OVER_BATCH_SIZE, 9.0 / 4),  # / 4 elements
        (Reduction.SUM_BY_NONZERO_WEIGHTS, 9.0 / 3),  # / 3 nonzero weights
    ],
)
def test_compute_weighted_loss_reductions(reduction, expected):
    loss = losses.compute_weighted_loss(
        [1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 2.0, 0.5], reduction=reduction
    )
    _close(loss, expected)


def test_default_reduction_is_sum_by_nonzero_weights():
    # (1 * 1 + 3 * 0 + 5 * 1) / 2
    assert float(losses.compute_weighted_loss([1.0, 3.0, 5.0], [1, 0, 1])) == 3.0


def test_reduction_accepts_strings_and_rejects_unknown():
    assert (
        float(losses.compute_weighted_loss([1.0, 3.0], reduction="weighted_sum")) == 4
    )
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        losses.compute_weighted_loss([1.0], reduction="average")


@pytest.mark.parametrize(
    "reduction", [Reduction.MEAN, Reduction.SUM_BY_NONZERO_WEIGHTS]
)
def test_all_zero_weights_give_zero_not_nan(reduction):
    loss = losses.compute_weighted_loss([1.0, 2.0], 0.0, reduction=reduction)
    assert float(loss) == 0.0


def test_per_example_weights_broadcast_over_trailing_axes():
    values = jnp.array([[1.0, 3.0], [5.0, 7.0]])
    # rows weighted 2 and 0: (2 * 1 + 2 * 3) / 2 nonzero elements
    _close(losses.compute_weighted_loss(values, [2.0, 0.0]), 4.0)
    _close(losses.compute_weighted_loss(values, [[2.0], [0.0]]), 4.0)
    # a [B, 1] weight on [B] losses is squeezed, not broadcast to [B, B]
    _close(losses.compute_weighted_loss([1.0, 3.0], [[1.0], [0.0]]), 1.0)


def test_bad_weights_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"`weights` of shape \(3,\).*\(2,\)"):
        losses.compute_weighted_loss([1.0, 2.0], [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        (Reduction.NONE, [1.0, 3.0, 0.0]),
        (Reduction.SUM, 4.0),  # 1 + 3, padding dropped
        (Reduction.MEAN, 2.0),  # 4 / (1 + 1)
        (Reduction.SUM_OVER_BATCH_SIZE, 2.0),  # 4 / 2 real examples, not 3
        (Reduction.SUM_BY_NONZERO_WEIGHTS, 2.0),  # 4 / 2
    ],
)
def test_mask_drops_padded_examples(reduction, expected):
    with model_fn_scope(mask=jnp.array([1.0, 1.0, 0.0])):
        loss = losses.compute_weighted_loss(
            [1.0, 3.0, jnp.nan], reduction=reduction
        )  # a NaN in padding never leaks
    _close(loss, expected)


def test_mask_broadcasts_over_trailing_axes_and_batch_size_counts_real_rows():
    values = jnp.array([[1.0, 3.0], [5.0, 7.0], [100.0, 100.0]])
    with model_fn_scope(mask=jnp.array([1.0, 1.0, 0.0])):
        sobs = losses.compute_weighted_loss(
            values, reduction=Reduction.SUM_OVER_BATCH_SIZE
        )
        weighted = losses.compute_weighted_loss(values, [1.0, 0.0, 1.0])
    _close(sobs, 4.0)  # (1 + 3 + 5 + 7) / (2 rows * 2)
    _close(weighted, 2.0)  # (1 + 3) / 2 nonzero elements


def test_mask_with_wrong_batch_size_is_an_error():
    with (
        model_fn_scope(mask=jnp.ones(4)),
        pytest.raises(ValueError, match="leading axis"),
    ):
        losses.compute_weighted_loss(jnp.ones(3))


def test_sparse_softmax_cross_entropy_oracle():
    logits = jnp.array([[0.0, 0.0, 0.0], [math.log(4.0), 0.0, 0.0]])
    loss = losses.sparse_softmax_cross_entropy(labels=[0, 0], logits=logits)
    # example 1: -log(1/3); example 2: -log(4 / (4 + 1 + 1))
    _close(loss, (math.log(3.0) + math.log(1.5)) / 2)
    column = losses.sparse_softmax_cross_entropy(labels=[[0], [0]], logits=logits)
    _close(column, float(loss))
    floats = losses.sparse_softmax_cross_entropy(labels=[0.0, 0.0], logits=logits)
    _close(floats, float(loss))


def test_sparse_softmax_cross_entropy_shape_error_is_one_line():
    with pytest.raises(ValueError) as info:
        losses.sparse_softmax_cross_entropy(
            labels=jnp.zeros((2, 3)), logits=jnp.zeros((2, 3))
        )
    message = str(info.value)
    assert "\n" not in message
    assert "`labels` shape (2, 3)" in message and "`logits` shape (2, 3)" in message


def test_sparse_softmax_cross_entropy_out_of_range_labels():
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got 3"):
        losses.sparse_softmax_cross_entropy(labels=[0, 3], logits=jnp.zeros((2, 3)))
    jitted = jax.jit(losses.sparse_softmax_cross_entropy)
    assert math.isnan(float(jitted(jnp.array([0, -1]), jnp.zeros((2, 3)))))


def test_padded_bad_labels_give_finite_loss_and_gradients():
    def loss_fn(logits, labels, mask):
        with model_fn_scope(mask=mask):
            return losses.sparse_softmax_cross_entropy(labels, logits)

    logits = jnp.zeros((2, 2))
    labels, mask = jnp.array([1, 7]), jnp.array([1.0, 0.0])  # padding row has id 7
    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(logits, labels, mask)
    _close(loss, math.log(2.0))
    # d/dlogits of -log softmax: softmax - onehot = [0.5, -0.5]; padding row 0
    _close(grads, [[0.5, -0.5], [0.0, 0.0]])


def test_softmax_cross_entropy_matches_sparse_and_smooths():
    logits = jnp.array([[math.log(3.0), 0.0]])  # softmax = [0.75, 0.25]
    onehot = losses.softmax_cross_entropy(onehot_labels=[[1, 0]], logits=logits)
    _close(onehot, -math.log(0.75))
    _close(onehot, float(losses.sparse_softmax_cross_entropy([0], logits)))
    smooth = losses.softmax_cross_entropy([[1, 0]], logits, label_smoothing=0.5)
    # labels [1, 0] * 0.5 + 0.5 / 2 = [0.75, 0.25]: the softmax's own entropy
    _close(smooth, -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_sigmoid_cross_entropy_oracle_and_smoothing():
    logits = jnp.array([[0.0], [2.0]])
    loss = losses.sigmoid_cross_entropy(multi_class_labels=[[1], [0]], logits=logits)
    # -log(sigmoid(0)) = log 2; -log(1 - sigmoid(2)) = log(1 + e^2)
    _close(loss, (math.log(2.0) + math.log1p(math.e**2)) / 2)
    smooth = losses.sigmoid_cross_entropy([[1], [0]], logits, label_smoothing=0.2)
    # labels become [0.9, 0.1]: log 2 at logit 0; log(1 + e^2) - 2 * 0.1 at logit 2
    _close(smooth, (math.log(2.0) + math.log1p(math.e**2) - 0.2) / 2)


def test_sigmoid_cross_entropy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"`multi_class_labels` shape \(2,\)"):
        losses.sigmoid_cross_entropy(jnp.ones(2), jnp.zeros((2, 1)))


def test_regression_losses_oracles():
    labels, predictions = [[0.0], [1.0]], [[1.0], [4.0]]  # errors 1 and 3
    _close(losses.mean_squared_error(labels, predictions), 5.0)  # (1 + 9) / 2
    _close(losses.absolute_difference(labels, predictions), 2.0)  # (1 + 3) / 2
    # delta 2: 0.5 * 1 ** 2 = 0.5; 0.5 * 2 ** 2 + 2 * (3 - 2) = 4; mean 2.25
    _close(losses.huber_loss(labels, predictions, delta=2.0), 2.25)
    # int labels are cast to float
    _close(losses.mean_squared_error([[0], [1]], predictions, weights=[1.0, 0.0]), 1.0)


def test_log_loss_and_hinge_loss_oracles():
    # -log(0.8 + 1e-7), -log(1 - 0.4 + 1e-7)
    _close(
        losses.log_loss([1.0, 0.0], [0.8, 0.4]), -(math.log(0.8) + math.log(0.6)) / 2
    )
    # y = [1, -1, 1]; relu(1 - y * logits) = [0, 1.5, 2]
    _close(losses.hinge_loss([1.0, 0.0, 1.0], [2.0, 0.5, -1.0]), 3.5 / 3)


def test_losses_jit_once_for_every_mask():
    traces = []

    @jax.jit
    def step(logits, labels, mask):
        traces.append(1)
        with model_fn_scope(mask=mask):
            return (
                losses.sparse_softmax_cross_entropy(labels, logits),
                losses.mean_squared_error(labels[:, None] * 1.0, logits[:, :1]),
            )

    logits, labels = jnp.zeros((3, 2)), jnp.array([0, 1, 1])
    full = step(logits, labels, jnp.ones(3))
    padded = step(logits, labels, jnp.array([1.0, 0.0, 0.0]))
    assert len(traces) == 1
    _close(full[0], math.log(2.0))  # uniform logits
    _close(full[1], 2.0 / 3)  # (0 + 1 + 1) / 3
    _close(padded[1], 0.0)  # only example 0 counts: (0 - 0) ** 2
