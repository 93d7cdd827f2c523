"""Wide & deep: `DNNLinearCombinedClassifier`, `...Regressor`, `...Estimator`.

The logits are the sum of a linear model over `linear_feature_columns` (wide,
sparse weights) and a DNN over `dnn_feature_columns` (deep); each part has its
own optimizer (one `optax.multi_transform` over the "linear" and "dnn"
parameter scopes). Defaults are tf's (1.x and 2.15 alike): a named linear
optimizer ("Ftrl") gets learning rate `min(0.005, 1 / sqrt(number of linear
columns))`, a named DNN optimizer ("Adagrad") gets 0.001.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, final

import flax.linen as nn
import jax
import optax

from estimators import feature_column as fc
from estimators.canned import _common
from estimators.canned._activations import resolve_activation
from estimators.canned.dnn import (
    Activation,
    DNNLogits,
    check_dropout,
    check_hidden_units,
)
from estimators.canned.linear import (
    LinearLogits,
    check_sparse_combiner,
    linear_learning_rate,
)
from estimators.canned.optimizers import get_optimizer
from estimators.estimator import Estimator
from estimators.heads.base import Head
from estimators.losses import Reduction
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.spec import EstimatorSpec
from estimators.typing import Features, Labels
from estimators.warm_start import WarmStartSettings

__all__ = [
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedRegressor",
    "dnn_linear_combined_model_fn",
]

DNN_LEARNING_RATE = 0.001
LINEAR_LEARNING_RATE = 0.005


def _scope_labels(params: Any) -> dict[str, str]:
    """Labels each top-level parameter scope ("linear", "dnn") by its own name."""
    return {scope: scope for scope in params}


def dnn_linear_combined_model_fn(
    features: Features,
    labels: Labels,
    mode: ModeKeys,
    *,
    head: Head,
    linear_feature_columns: Sequence[fc.FeatureColumn] = (),
    linear_optimizer: optax.GradientTransformation | None = None,
    dnn_feature_columns: Sequence[fc.FeatureColumn] = (),
    dnn_optimizer: optax.GradientTransformation | None = None,
    dnn_hidden_units: Sequence[int] = (),
    dnn_activation_fn: Callable[[jax.Array], jax.Array] = nn.relu,
    dnn_dropout: float | None = None,
    batch_norm: bool = False,
    linear_sparse_combiner: str = "sum",
) -> EstimatorSpec:
    """The model function of wide & deep: linear logits + DNN logits, one head.

    Parameters live under "linear/" and "dnn/", as in the single-part
    estimators, so each part can warm-start from a Linear or DNN model.
    """
    parts, transforms = [], {}
    if linear_feature_columns:
        parts.append(
            LinearLogits(
                feature_columns=tuple(linear_feature_columns),
                units=head.logits_dimension,
                sparse_combiner=linear_sparse_combiner,
                name="linear",
            )(features)
        )
        transforms["linear"] = linear_optimizer
    if dnn_feature_columns:
        tower = DNNLogits(
            feature_columns=tuple(dnn_feature_columns),
            hidden_units=tuple(dnn_hidden_units),
            logits_dimension=head.logits_dimension,
            activation_fn=dnn_activation_fn,
            dropout=dnn_dropout,
            batch_norm=batch_norm,
            name="dnn",
        )
        parts.append(tower(features, training=mode == ModeKeys.TRAIN))
        transforms["dnn"] = dnn_optimizer
    logits = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    optimizer = None
    if mode == ModeKeys.TRAIN:
        optimizer = optax.multi_transform(transforms, _scope_labels)
    return head.create_estimator_spec(features, mode, logits, labels, optimizer)


def _combined_model(
    owner: str,
    head: Head,
    linear_feature_columns: Any,
    linear_optimizer: Any,
    dnn_feature_columns: Any,
    dnn_optimizer: Any,
    dnn_hidden_units: Any,
    dnn_activation_fn: Activation,
    dnn_dropout: float | None,
    batch_norm: bool,
    linear_sparse_combiner: str,
) -> tuple[Callable[..., EstimatorSpec], tuple[fc.FeatureColumn, ...]]:
    """Validates the wide & deep arguments; returns the model_fn and all columns."""
    if not linear_feature_columns and not dnn_feature_columns:
        raise ValueError(
            f"{owner}: give `linear_feature_columns`, `dnn_feature_columns` or both;"
            " both are empty."
        )
    kwargs: dict[str, Any] = {"head": head}
    linear: tuple[fc.FeatureColumn, ...] = ()
    dnn: tuple[fc.FeatureColumn, ...] = ()
    if linear_feature_columns:
        linear = _common.check_columns(
            linear_feature_columns, "linear_feature_columns", owner
        )
        rate = linear_learning_rate(len(linear), LINEAR_LEARNING_RATE)
        kwargs.update(
            linear_feature_columns=linear,
            linear_optimizer=get_optimizer(
                linear_optimizer, learning_rate=rate, argument="linear_optimizer"
            ),
            linear_sparse_combiner=check_sparse_combiner(
                linear_sparse_combiner, owner, "linear_sparse_combiner"
            ),
        )
    if dnn_feature_columns:
        dnn = _common.check_columns(
            dnn_feature_columns, "dnn_feature_columns", owner, dense=True
        )
        kwargs.update(
            dnn_feature_columns=dnn,
            dnn_optimizer=get_optimizer(
                dnn_optimizer, learning_rate=DNN_LEARNING_RATE, argument="dnn_optimizer"
            ),
            dnn_hidden_units=check_hidden_units(
                dnn_hidden_units, owner, "dnn_hidden_units"
            ),
            dnn_activation_fn=resolve_activation(
                dnn_activation_fn, owner, "dnn_activation_fn"
            ),
            dnn_dropout=check_dropout(dnn_dropout, owner, "dnn_dropout"),
            batch_norm=batch_norm,
        )

    def model_fn(features: Features, labels: Labels, mode: ModeKeys) -> EstimatorSpec:
        return dnn_linear_combined_model_fn(features, labels, mode, **kwargs)

    return model_fn, linear + dnn


@final
class DNNLinearCombinedClassifier(Estimator):
    """A wide & deep classifier, as `tf.estimator.DNNLinearCombinedClassifier`.

    Args:
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: "Ftrl" (default; learning rate min(0.005,
            1/sqrt(number of linear columns))), another name, an optax
            GradientTransformation, or a callable returning one.
        dnn_feature_columns: Dense columns of the DNN (deep) part.
        dnn_optimizer: "Adagrad" (default; learning rate 0.001), another name,
            an optax GradientTransformation, or a callable returning one.
        dnn_hidden_units: Sizes of the hidden layers; required with
            `dnn_feature_columns`.
        dnn_activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", ...) or None. Default `nn.relu`.
        dnn_dropout: Dropout probability of the hidden layers. Default None.
        n_classes: Number of classes, >= 2.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        label_vocabulary: Class names when labels are strings.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        batch_norm: Batch-normalise the DNN's hidden layers. Default False.
        linear_sparse_combiner: "sum" (default), "mean" or "sqrtn".

    Example:
        >>> import numpy as np
        >>> color = fc.categorical_column_with_vocabulary_list("color", ["r", "g"])
        >>> classifier = DNNLinearCombinedClassifier(
        ...     linear_feature_columns=[color],
        ...     dnn_feature_columns=[fc.indicator_column(color)], dnn_hidden_units=[4])
        >>> data = ({"color": np.array(["r", "g", "r"])}, np.array([1, 0, 1]))
        >>> classifier.train(lambda: data, steps=5)  # doctest: +ELLIPSIS
        <...DNNLinearCombinedClassifier object at ...>
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Activation = nn.relu,
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        head = _common.classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction
        )
        model_fn, columns = _combined_model(
            type(self).__name__, head, linear_feature_columns, linear_optimizer,
            dnn_feature_columns, dnn_optimizer, dnn_hidden_units, dnn_activation_fn,
            dnn_dropout, batch_norm, linear_sparse_combiner,
        )  # fmt: skip
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class DNNLinearCombinedRegressor(Estimator):
    """A wide & deep regressor, as `tf.estimator.DNNLinearCombinedRegressor`.

    Args:
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: "Ftrl" (default; learning rate min(0.005,
            1/sqrt(number of linear columns))), another name, an optax
            GradientTransformation, or a callable returning one.
        dnn_feature_columns: Dense columns of the DNN (deep) part.
        dnn_optimizer: "Adagrad" (default; learning rate 0.001), another name,
            an optax GradientTransformation, or a callable returning one.
        dnn_hidden_units: Sizes of the hidden layers; required with
            `dnn_feature_columns`.
        dnn_activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", ...) or None. Default `nn.relu`.
        dnn_dropout: Dropout probability of the hidden layers. Default None.
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        batch_norm: Batch-normalise the DNN's hidden layers. Default False.
        linear_sparse_combiner: "sum" (default), "mean" or "sqrtn".
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Activation = nn.relu,
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        head = _common.regressor_head(label_dimension, weight_column, loss_reduction)
        model_fn, columns = _combined_model(
            type(self).__name__, head, linear_feature_columns, linear_optimizer,
            dnn_feature_columns, dnn_optimizer, dnn_hidden_units, dnn_activation_fn,
            dnn_dropout, batch_norm, linear_sparse_combiner,
        )  # fmt: skip
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class DNNLinearCombinedEstimator(Estimator):
    """Wide & deep with any head, as `tf.estimator.DNNLinearCombinedEstimator`.

    Args:
        head: An `est.heads.Head`.
        model_dir: Where checkpoints go.
        linear_feature_columns: Columns of the linear (wide) part.
        linear_optimizer: "Ftrl" (default), another name, an optax
            GradientTransformation, or a callable returning one.
        dnn_feature_columns: Dense columns of the DNN (deep) part.
        dnn_optimizer: "Adagrad" (default), another name, an optax
            GradientTransformation, or a callable returning one.
        dnn_hidden_units: Sizes of the hidden layers.
        dnn_activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", ...) or None. Default `nn.relu`.
        dnn_dropout: Dropout probability of the hidden layers. Default None.
        config: A `RunConfig`.
        batch_norm: Batch-normalise the DNN's hidden layers. Default False.
        linear_sparse_combiner: "sum" (default), "mean" or "sqrtn".
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`
            (last: tf's DNNLinearCombinedEstimator had no such argument).
    """

    def __init__(
        self,
        head: Head,
        model_dir: str | os.PathLike[str] | None = None,
        linear_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[fc.FeatureColumn] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Activation = nn.relu,
        dnn_dropout: float | None = None,
        config: RunConfig | None = None,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
    ) -> None:
        _common.check_head(head, type(self).__name__)
        model_fn, columns = _combined_model(
            type(self).__name__, head, linear_feature_columns, linear_optimizer,
            dnn_feature_columns, dnn_optimizer, dnn_hidden_units, dnn_activation_fn,
            dnn_dropout, batch_norm, linear_sparse_combiner,
        )  # fmt: skip
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )
