"""PoissonRegressionHead: log-link predictions and the Poisson loss."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from estimators.heads import PoissonRegressionHead

LOGITS = jnp.array([[0.0], [math.log(2.0)]])
LABELS = np.array([1.0, 3.0])


def test_loss_without_and_with_the_stirling_term():
    # exp(0) - 1 * 0 = 1; exp(log 2) - 3 log 2 = -0.079442
    partial = PoissonRegressionHead(compute_full_loss=False)
    assert float(partial.loss(LABELS, LOGITS)) == pytest.approx(0.460279, abs=1e-5)
    # label 3 adds 3 log 3 - 3 + 0.5 log(6π) = 1.764082; label 1 adds nothing
    full = PoissonRegressionHead()
    assert float(full.loss(LABELS, LOGITS)) == pytest.approx(1.342320, abs=1e-5)


def test_predictions_are_expected_counts():
    predictions = PoissonRegressionHead().predictions(LOGITS)
    assert set(predictions) == {"predictions", "logits"}
    np.testing.assert_allclose(predictions["predictions"][:, 0], [1.0, 2.0], rtol=1e-6)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match=r"counts >= 0, got \[-1.0\] \(row 1\)"):
        PoissonRegressionHead().transform_labels(np.array([2.0, -1.0]))
