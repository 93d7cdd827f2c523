"""Linear estimators: `LinearClassifier`, `LinearRegressor`, `LinearEstimator`.

Each is a head plus a closure over `linear_model_fn`, as in tf.estimator.
Categorical columns are sparse weight tables (each id gathers a row; no
one-hot). The optimizer is tf's (1.x and 2.15 alike): a name (default
"Ftrl") is built with learning rate 0.2; `optimizer=None` means FTRL with
`min(0.2, 1 / sqrt(number of feature columns))`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, final

import flax.linen as nn
import jax
import optax

from estimators import feature_column as fc
from estimators.canned import _common
from estimators.canned.optimizers import ftrl, get_optimizer
from estimators.estimator import Estimator
from estimators.heads.base import Head
from estimators.losses import Reduction
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.spec import EstimatorSpec
from estimators.typing import Features, Labels
from estimators.warm_start import WarmStartSettings

__all__ = [
    "LinearClassifier",
    "LinearEstimator",
    "LinearRegressor",
    "linear_learning_rate",
    "linear_model_fn",
]

LEARNING_RATE = 0.2
_COMBINERS = ("sum", "mean", "sqrtn")


def linear_learning_rate(num_columns: int, ceiling: float = LEARNING_RATE) -> float:
    """tf's learning rate of `optimizer=None`: `min(ceiling, 1 / sqrt(num_columns))`.

    Example:
        >>> linear_learning_rate(100)  # min(0.2, 1 / 10)
        0.1
    """
    return min(ceiling, 1.0 / math.sqrt(num_columns))


class LinearLogits(nn.Module):
    """Linear logits of the columns, `fc.linear_model` under the "linear" scope."""

    feature_columns: tuple[fc.FeatureColumn, ...]
    units: int
    sparse_combiner: str = "sum"

    @nn.compact
    def __call__(self, features: Features) -> jax.Array:
        return fc.linear_model(
            features, self.feature_columns, self.units, self.sparse_combiner
        )


def linear_model_fn(
    features: Features,
    labels: Labels,
    mode: ModeKeys,
    *,
    head: Head,
    feature_columns: Sequence[fc.FeatureColumn],
    optimizer: optax.GradientTransformation,
    sparse_combiner: str = "sum",
) -> EstimatorSpec:
    """The model function of the linear estimators: `LinearLogits` and a head.

    Parameters live under "linear/linear_model/" (e.g.
    `params/linear/linear_model/age/weights`, `.../bias_weights`), zeros at start.
    """
    model = LinearLogits(
        feature_columns=tuple(feature_columns),
        units=head.logits_dimension,
        sparse_combiner=sparse_combiner,
        name="linear",
    )
    logits = model(features)
    return head.create_estimator_spec(features, mode, logits, labels, optimizer)


def check_sparse_combiner(
    value: Any, owner: str, argument: str = "sparse_combiner"
) -> str:
    """`value`, one of "sum", "mean", "sqrtn"."""
    if value not in _COMBINERS:
        raise ValueError(
            f"{owner}: `{argument}` must be one of {list(_COMBINERS)}, got {value!r}."
        )
    return value


def _linear_model(
    owner: str,
    head: Head,
    feature_columns: Any,
    optimizer: Any,
    sparse_combiner: str,
) -> tuple[Callable[..., EstimatorSpec], tuple[fc.FeatureColumn, ...]]:
    """Validates the linear arguments; returns the model_fn closure and the columns."""
    columns = _common.check_columns(feature_columns, "feature_columns", owner)
    check_sparse_combiner(sparse_combiner, owner)
    if optimizer is None:  # tf's _get_default_optimizer_v2
        transform = ftrl(linear_learning_rate(len(columns)))
    else:
        transform = get_optimizer(optimizer, learning_rate=LEARNING_RATE)

    def model_fn(features: Features, labels: Labels, mode: ModeKeys) -> EstimatorSpec:
        return linear_model_fn(
            features,
            labels,
            mode,
            head=head,
            feature_columns=columns,
            optimizer=transform,
            sparse_combiner=sparse_combiner,
        )

    return model_fn, columns


@final
class LinearClassifier(Estimator):
    """A linear classifier, as `tf.estimator.LinearClassifier`.

    Args:
        feature_columns: Categorical (sparse weights, no one-hot) and dense
            columns.
        model_dir: Where checkpoints go.
        n_classes: Number of classes, >= 2 (2 gives a `BinaryClassHead`).
        weight_column: A feature name or `fc.numeric_column` of example weights.
        label_vocabulary: Class names when labels are strings; predictions'
            `classes` are then these names.
        optimizer: "Ftrl" (default), "Adagrad", "Adam", "RMSProp" or "SGD",
            each with learning rate 0.2 as in tf; None for FTRL with learning
            rate min(0.2, 1/sqrt(number of columns)); an optax
            GradientTransformation; or a callable returning one.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        sparse_combiner: How the weights of a multi-valued categorical feature
            combine: "sum" (default), "mean" or "sqrtn".

    Example:
        >>> import numpy as np
        >>> color = fc.categorical_column_with_vocabulary_list("color", ["r", "g"])
        >>> classifier = LinearClassifier([color])
        >>> data = ({"color": np.array(["r", "g", "r"])}, np.array([1, 0, 1]))
        >>> classifier.train(lambda: data, steps=5)  # doctest: +ELLIPSIS
        <...LinearClassifier object at ...>
    """

    def __init__(
        self,
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ) -> None:
        head = _common.classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction
        )
        model_fn, columns = _linear_model(
            type(self).__name__, head, feature_columns, optimizer, sparse_combiner
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class LinearRegressor(Estimator):
    """A linear regressor, as `tf.estimator.LinearRegressor`.

    Args:
        feature_columns: Categorical (sparse weights, no one-hot) and dense
            columns.
        model_dir: Where checkpoints go.
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        optimizer: "Ftrl" (default), "Adagrad", "Adam", "RMSProp" or "SGD",
            each with learning rate 0.2 as in tf; None for FTRL with learning
            rate min(0.2, 1/sqrt(number of columns)); an optax
            GradientTransformation; or a callable returning one.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        sparse_combiner: "sum" (default), "mean" or "sqrtn".
    """

    def __init__(
        self,
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ) -> None:
        head = _common.regressor_head(label_dimension, weight_column, loss_reduction)
        model_fn, columns = _linear_model(
            type(self).__name__, head, feature_columns, optimizer, sparse_combiner
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class LinearEstimator(Estimator):
    """A linear model with any head, as `tf.estimator.LinearEstimator`.

    Args:
        head: An `est.heads.Head`.
        feature_columns: Categorical and dense columns.
        model_dir: Where checkpoints go.
        optimizer: "Ftrl" (default), "Adagrad", "Adam", "RMSProp" or "SGD",
            each with learning rate 0.2 as in tf; None for FTRL with learning
            rate min(0.2, 1/sqrt(number of columns)); an optax
            GradientTransformation; or a callable returning one.
        config: A `RunConfig`.
        sparse_combiner: "sum" (default), "mean" or "sqrtn".
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
    """

    def __init__(
        self,
        head: Head,
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        sparse_combiner: str = "sum",
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
    ) -> None:
        _common.check_head(head, type(self).__name__)
        model_fn, columns = _linear_model(
            type(self).__name__, head, feature_columns, optimizer, sparse_combiner
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )
