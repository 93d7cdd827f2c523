"""Baseline estimators: predict from the labels alone, ignoring the features.

A baseline learns one bias per logit, so a classifier converges to the log of
the class frequencies and a regressor to the mean label: the score any real
model must beat. The default optimizer is tf's: FTRL with learning rate 0.3.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, final

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from estimators.canned import _common
from estimators.canned.optimizers import get_optimizer
from estimators.estimator import Estimator
from estimators.heads.base import Head
from estimators.losses import Reduction
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.spec import EstimatorSpec
from estimators.typing import Features, Labels

__all__ = [
    "BaselineClassifier",
    "BaselineEstimator",
    "BaselineRegressor",
    "baseline_model_fn",
]

LEARNING_RATE = 0.3


class BaselineLogits(nn.Module):
    """One learnt bias per logit, broadcast over the batch ("baseline/bias")."""

    logits_dimension: int

    @nn.compact
    def __call__(self, batch_size: Any) -> jax.Array:
        bias = self.param("bias", nn.initializers.zeros, (self.logits_dimension,))
        return jnp.broadcast_to(bias, (batch_size, self.logits_dimension))


def _batch_size(features: Features) -> Any:
    """The leading dimension of any feature (symbolic while exporting)."""
    for value in features.values():
        return jnp.shape(value)[0]
    raise ValueError(
        "a baseline estimator reads the batch size from the features, but the "
        "batch has no numeric feature; give at least one (any) numeric feature."
    )


def baseline_model_fn(
    features: Features,
    labels: Labels,
    mode: ModeKeys,
    *,
    head: Head,
    optimizer: optax.GradientTransformation,
) -> EstimatorSpec:
    """The model function of the baseline estimators: a learnt bias and a head."""
    logits = BaselineLogits(head.logits_dimension, name="baseline")(
        _batch_size(features)
    )
    return head.create_estimator_spec(features, mode, logits, labels, optimizer)


def _baseline_model(head: Head, optimizer: Any) -> Callable[..., EstimatorSpec]:
    transform = get_optimizer(optimizer, learning_rate=LEARNING_RATE)

    def model_fn(features: Features, labels: Labels, mode: ModeKeys) -> EstimatorSpec:
        return baseline_model_fn(features, labels, mode, head=head, optimizer=transform)

    return model_fn


@final
class BaselineClassifier(Estimator):
    """Predicts the class distribution of the training labels, as tf's.

    Args:
        model_dir: Where checkpoints go.
        n_classes: Number of classes, >= 2.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        label_vocabulary: Class names when labels are strings.
        optimizer: "Ftrl" (default; learning rate 0.3), another name, an optax
            GradientTransformation, or a callable returning one.
        config: A `RunConfig`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.

    Example:
        >>> import numpy as np
        >>> classifier = BaselineClassifier(n_classes=3)
        >>> data = ({"x": np.zeros(4)}, np.array([0, 1, 1, 2]))
        >>> classifier.train(lambda: data, steps=5)  # doctest: +ELLIPSIS
        <...BaselineClassifier object at ...>
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
    ) -> None:
        head = _common.classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction
        )
        super().__init__(
            _baseline_model(head, optimizer),
            model_dir,
            config,
            **_common.estimator_hooks(head),
        )


@final
class BaselineRegressor(Estimator):
    """Predicts the (weighted) mean of the training labels, as tf's.

    Args:
        model_dir: Where checkpoints go.
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        optimizer: "Ftrl" (default; learning rate 0.3), another name, an optax
            GradientTransformation, or a callable returning one.
        config: A `RunConfig`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
    ) -> None:
        head = _common.regressor_head(label_dimension, weight_column, loss_reduction)
        super().__init__(
            _baseline_model(head, optimizer),
            model_dir,
            config,
            **_common.estimator_hooks(head),
        )


@final
class BaselineEstimator(Estimator):
    """A learnt bias with any head, as `tf.estimator.BaselineEstimator`.

    Args:
        head: An `est.heads.Head`.
        model_dir: Where checkpoints go.
        optimizer: "Ftrl" (default; learning rate 0.3), another name, an optax
            GradientTransformation, or a callable returning one.
        config: A `RunConfig`.
    """

    def __init__(
        self,
        head: Head,
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
    ) -> None:
        _common.check_head(head, type(self).__name__)
        super().__init__(
            _baseline_model(head, optimizer),
            model_dir,
            config,
            **_common.estimator_hooks(head),
        )
