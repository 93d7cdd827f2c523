"""Deep neural network estimators: `DNNClassifier`, `DNNRegressor`, `DNNEstimator`.

Each is a head plus a closure over `dnn_model_fn`, as in tf.estimator. The
default optimizer is tf 2.15's: "Adagrad" built by `get_optimizer_instance_v2`
without a learning rate, so with Keras' default 0.001 (tf 1.x used 0.05 for
every name), accumulators starting at 0.1. `activation_fn` also takes a
tf.keras activation name ("relu", "tanh", ...) or None (linear), as a Keras
`Dense` layer does.
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
from estimators.canned.optimizers import get_optimizer
from estimators.estimator import Estimator
from estimators.heads.base import Head
from estimators.losses import Reduction
from estimators.mode_keys import ModeKeys
from estimators.run_config import RunConfig
from estimators.spec import EstimatorSpec
from estimators.typing import Features, Labels
from estimators.warm_start import WarmStartSettings

__all__ = ["DNNClassifier", "DNNEstimator", "DNNRegressor", "dnn_model_fn"]

# A function, a tf.keras activation name ("relu") or None (linear).
Activation = Callable[[jax.Array], jax.Array] | str | None

_glorot = nn.initializers.glorot_uniform()


class DNNLogits(nn.Module):
    """The DNN tower: input layer, hidden layers, logits (tf's variable names).

    Each hidden layer is Dense (glorot-uniform kernel, zero bias) and
    `activation_fn`, then dropout in TRAIN, then batch normalisation
    (momentum 0.999, epsilon 1e-3), in tf.estimator's order.
    """

    feature_columns: tuple[fc.FeatureColumn, ...]
    hidden_units: tuple[int, ...]
    logits_dimension: int
    activation_fn: Callable[[jax.Array], jax.Array] = nn.relu
    dropout: float | None = None
    batch_norm: bool = False

    @nn.compact
    def __call__(self, features: Features, training: bool) -> jax.Array:
        net = fc.input_layer(features, self.feature_columns)
        for i, units in enumerate(self.hidden_units):
            net = nn.Dense(units, kernel_init=_glorot, name=f"hiddenlayer_{i}")(net)
            net = self.activation_fn(net)
            if self.dropout:
                net = nn.Dropout(self.dropout, deterministic=not training)(net)
            if self.batch_norm:
                net = nn.BatchNorm(
                    use_running_average=not training,
                    momentum=0.999,
                    epsilon=1e-3,
                    name=f"batchnorm_{i}",
                )(net)
        return nn.Dense(self.logits_dimension, kernel_init=_glorot, name="logits")(net)


def dnn_model_fn(
    features: Features,
    labels: Labels,
    mode: ModeKeys,
    *,
    head: Head,
    hidden_units: Sequence[int],
    feature_columns: Sequence[fc.FeatureColumn],
    optimizer: optax.GradientTransformation,
    activation_fn: Callable[[jax.Array], jax.Array] = nn.relu,
    dropout: float | None = None,
    batch_norm: bool = False,
) -> EstimatorSpec:
    """The model function of the DNN estimators: a `DNNLogits` tower and a head.

    Parameters live under "dnn/" (e.g. `params/dnn/hiddenlayer_0/kernel`).
    """
    tower = DNNLogits(
        feature_columns=tuple(feature_columns),
        hidden_units=tuple(hidden_units),
        logits_dimension=head.logits_dimension,
        activation_fn=activation_fn,
        dropout=dropout,
        batch_norm=batch_norm,
        name="dnn",
    )
    logits = tower(features, training=mode == ModeKeys.TRAIN)
    return head.create_estimator_spec(features, mode, logits, labels, optimizer)


def check_hidden_units(
    hidden_units: Any, owner: str, argument: str = "hidden_units"
) -> tuple[int, ...]:
    """`hidden_units` as a non-empty tuple of positive ints."""
    if isinstance(hidden_units, int) or not isinstance(hidden_units, Sequence):
        raise TypeError(
            f"{owner}: `{argument}` must be a list of layer sizes, e.g. [64, 32]; "
            f"got {hidden_units!r}."
        )
    units = tuple(hidden_units)
    if not units or any(
        isinstance(u, bool) or not isinstance(u, int) or u <= 0 for u in units
    ):
        raise ValueError(
            f"{owner}: `{argument}` must be a non-empty list of ints > 0, got "
            f"{list(hidden_units)!r}."
        )
    return units


def check_dropout(
    dropout: float | None, owner: str, argument: str = "dropout"
) -> float | None:
    """`dropout` as None or a probability in [0, 1)."""
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise ValueError(f"{owner}: `{argument}` must be in [0, 1), got {dropout!r}.")
    return dropout


def _dnn_model(
    owner: str,
    head: Head,
    hidden_units: Sequence[int],
    feature_columns: Any,
    optimizer: Any,
    activation_fn: Activation,
    dropout: float | None,
    batch_norm: bool,
) -> tuple[Callable[..., EstimatorSpec], tuple[fc.FeatureColumn, ...]]:
    """Validates the DNN arguments; returns the model_fn closure and the columns."""
    units = check_hidden_units(hidden_units, owner)
    columns = _common.check_columns(
        feature_columns, "feature_columns", owner, dense=True
    )
    check_dropout(dropout, owner)
    activation_fn = resolve_activation(activation_fn, owner, "activation_fn")
    transform = get_optimizer(optimizer)

    def model_fn(features: Features, labels: Labels, mode: ModeKeys) -> EstimatorSpec:
        return dnn_model_fn(
            features,
            labels,
            mode,
            head=head,
            hidden_units=units,
            feature_columns=columns,
            optimizer=transform,
            activation_fn=activation_fn,
            dropout=dropout,
            batch_norm=batch_norm,
        )

    return model_fn, columns


@final
class DNNClassifier(Estimator):
    """A feed-forward network classifier, as `tf.estimator.DNNClassifier`.

    Args:
        hidden_units: Sizes of the hidden layers, e.g. `[64, 32]`.
        feature_columns: Dense columns (numeric, bucketized, indicator,
            embedding); a bare categorical column is refused with the fix.
        model_dir: Where checkpoints go.
        n_classes: Number of classes, >= 2 (2 gives a `BinaryClassHead`).
        weight_column: A feature name or `fc.numeric_column` of example weights.
        label_vocabulary: Class names when labels are strings; predictions'
            `classes` are then these names.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        optimizer: "Adagrad" (default), "Adam", "Ftrl", "RMSProp" or "SGD",
            each with the Keras default learning rate (0.001; SGD 0.01) as in
            tf 2.x; an optax GradientTransformation; or a callable returning
            one.
        activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", "tanh", ...) or None (linear).
            Default `nn.relu`.
        dropout: Probability of dropping a hidden unit in TRAIN. Default None.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        batch_norm: Batch-normalise after each hidden layer. Default False.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
        >>> classifier = DNNClassifier([8], [fc.numeric_column("x", shape=2)])
        >>> classifier.train(lambda: ({"x": x}, (x[:, 0] > 0).astype(int)), steps=5)
        ... # doctest: +ELLIPSIS
        <...DNNClassifier object at ...>
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Adagrad",
        activation_fn: Activation = nn.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ) -> None:
        head = _common.classifier_head(
            n_classes, weight_column, label_vocabulary, loss_reduction
        )
        model_fn, columns = _dnn_model(
            type(self).__name__,
            head,
            hidden_units,
            feature_columns,
            optimizer,
            activation_fn,
            dropout,
            batch_norm,
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class DNNRegressor(Estimator):
    """A feed-forward network regressor, as `tf.estimator.DNNRegressor`.

    Args:
        hidden_units: Sizes of the hidden layers, e.g. `[64, 32]`.
        feature_columns: Dense columns (numeric, bucketized, indicator,
            embedding).
        model_dir: Where checkpoints go.
        label_dimension: Number of targets per example. Default 1.
        weight_column: A feature name or `fc.numeric_column` of example weights.
        loss_reduction: "sum_over_batch_size" (default, tf 2's), "sum", or
            an `est.losses.Reduction`.
        optimizer: "Adagrad" (default), "Adam", "Ftrl", "RMSProp" or "SGD",
            each with the Keras default learning rate (0.001; SGD 0.01) as in
            tf 2.x; an optax GradientTransformation; or a callable returning
            one.
        activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", "tanh", ...) or None (linear).
            Default `nn.relu`.
        dropout: Probability of dropping a hidden unit in TRAIN. Default None.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        batch_norm: Batch-normalise after each hidden layer. Default False.
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Activation = nn.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        loss_reduction: Reduction | str = Reduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ) -> None:
        head = _common.regressor_head(label_dimension, weight_column, loss_reduction)
        model_fn, columns = _dnn_model(
            type(self).__name__,
            head,
            hidden_units,
            feature_columns,
            optimizer,
            activation_fn,
            dropout,
            batch_norm,
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )


@final
class DNNEstimator(Estimator):
    """A feed-forward network with any head, as `tf.estimator.DNNEstimator`.

    Args:
        head: An `est.heads.Head` (e.g. `PoissonRegressionHead()`).
        hidden_units: Sizes of the hidden layers.
        feature_columns: Dense columns.
        model_dir: Where checkpoints go.
        optimizer: "Adagrad" (default), "Adam", "Ftrl", "RMSProp" or "SGD",
            each with the Keras default learning rate (0.001; SGD 0.01) as in
            tf 2.x; an optax GradientTransformation; or a callable returning
            one.
        activation_fn: Activation of the hidden layers: a function, a
            tf.keras activation name ("relu", "tanh", ...) or None (linear).
            Default `nn.relu`.
        dropout: Probability of dropping a hidden unit in TRAIN. Default None.
        config: A `RunConfig`.
        warm_start_from: A checkpoint or model_dir path, or `WarmStartSettings`.
        batch_norm: Batch-normalise after each hidden layer. Default False.
    """

    def __init__(
        self,
        head: Head,
        hidden_units: Sequence[int],
        feature_columns: Sequence[fc.FeatureColumn],
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Adagrad",
        activation_fn: Activation = nn.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | os.PathLike[str] | WarmStartSettings | None = None,
        batch_norm: bool = False,
    ) -> None:
        _common.check_head(head, type(self).__name__)
        model_fn, columns = _dnn_model(
            type(self).__name__,
            head,
            hidden_units,
            feature_columns,
            optimizer,
            activation_fn,
            dropout,
            batch_norm,
        )
        super().__init__(
            model_fn,
            model_dir,
            config,
            warm_start_from=warm_start_from,
            **_common.estimator_hooks(head, columns),
        )
