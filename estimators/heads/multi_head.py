"""`MultiHead`: several named heads on one network, for multi-task learning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp

from estimators import metrics
from estimators.heads.base import Head, require_labels, select
from estimators.heads.keys import MetricKeys
from estimators.losses import Reduction
from estimators.metrics import Metric
from estimators.mode_keys import ModeKeys
from estimators.spec import EstimatorSpec
from estimators.typing import Array, Features

__all__ = ["MultiHead"]


def _check_heads(heads: Any, head_weights: Any) -> tuple[tuple[Head, ...], tuple]:
    if not heads or isinstance(heads, Head) or not isinstance(heads, Sequence):
        raise ValueError(f"Must specify heads (a non-empty list). Given: {heads!r}.")
    names = []
    for head in heads:
        if not isinstance(head, Head) or isinstance(head, MultiHead):
            raise TypeError(
                f"`heads` must hold est.heads heads (not a MultiHead), got {head!r}."
            )
        if head.name is None:
            kind = type(head).__name__
            raise ValueError(
                "All given heads must have name specified: got a "
                f"{kind} without one; pass {kind}(..., name='task1')."
            )
        names.append(head.name)
    if len(set(names)) != len(names):
        raise ValueError(f"the heads' names must differ, got {names}.")
    weights = tuple(float(w) for w in head_weights or ())
    if weights and len(weights) != len(heads):
        raise ValueError(
            "heads and head_weights must have the same size. Given len(heads): "
            f"{len(heads)}. Given len(head_weights): {len(weights)}."
        )
    return tuple(heads), weights


@final
class MultiHead(Head):
    """Merges named heads, as `tf.estimator.MultiHead`.

    The loss is the (`head_weights`-weighted) sum of the heads' losses; the
    evaluation metrics are every head's (already suffixed `…/head_name`) plus
    `loss/head_name`, the mean per batch of each head's loss; predictions are
    each head's under `"head_name/key"` (tf's keys are `(head_name, key)`
    tuples; `"head_name/key"` is how tf's export signature spelled them).

    Logits are a dict keyed by head name, or one array `[..., logits_dimension]`
    split along its last axis in the order of `heads`. Labels are a dict keyed
    by head name.

    Args:
        heads: Heads with distinct `name`s; the first is the default at serving.
        head_weights: Optional weight of each head's loss. Default all 1.

    Example:
        >>> import numpy as np
        >>> from estimators.heads import MultiLabelHead
        >>> head = MultiHead([MultiLabelHead(2, name="head1"),
        ...                   MultiLabelHead(3, name="head2")])
        >>> logits = {"head1": np.array([[-10., 10.], [-15., 10.]]),
        ...           "head2": np.array([[20., -20., 20.], [-30., 20., -20.]])}
        >>> labels = {"head1": np.array([[1, 0], [1, 1]]),
        ...           "head2": np.array([[0, 1, 0], [1, 1, 0]])}
        >>> # loss1 = ((10 + 10) / 2 + (15 + 0) / 2) / 2 = 8.75
        >>> # loss2 = ((20 + 20 + 20) / 3 + (30 + 0 + 0) / 3) / 2 = 15.00
        >>> round(float(head.loss(labels, logits)), 2)  # 8.75 + 15.00
        23.75
    """

    def __init__(
        self, heads: Sequence[Head], head_weights: Sequence[float] | None = None
    ) -> None:
        self._heads, self._head_weights = _check_heads(heads, head_weights)
        reductions = {head.loss_reduction for head in self._heads}
        super().__init__(
            loss_reduction=next(iter(reductions)),
            name="_".join(head.name for head in self._heads),
        )
        self._same_reduction = len(reductions) == 1

    @property
    def heads(self) -> tuple[Head, ...]:
        """The heads, in order."""
        return self._heads

    @property
    def logits_dimension(self) -> int:
        return sum(head.logits_dimension for head in self._heads)

    @property
    def loss_reduction(self) -> Reduction:
        """The heads' common loss reduction (an error when they differ, as tf)."""
        if not self._same_reduction:
            raise ValueError(
                "The loss_reduction must be the same for different heads. Given: "
                f"{[h.loss_reduction.value for h in self._heads]}."
            )
        return self._loss_reduction

    # -- splitting ---------------------------------------------------------------

    def _split_logits(self, logits: Any) -> dict[str, Any]:
        if isinstance(logits, Mapping):
            missing = [h.name for h in self._heads if h.name not in logits]
            if missing:
                raise ValueError(f"logits has missing values for head(s): {missing}.")
            return {h.name: logits[h.name] for h in self._heads}
        logits = jnp.asarray(logits, jnp.float32)
        dimensions = [h.logits_dimension for h in self._heads]
        if logits.ndim < 2 or logits.shape[-1] != sum(dimensions):
            raise ValueError(
                f"Could not split logits of shape {list(logits.shape)} among the "
                f"heads with individual logits dimensions: {dimensions}. The last "
                f"dimension of the logits tensor should equal {sum(dimensions)}."
            )
        found, start = {}, 0
        for head, size in zip(self._heads, dimensions, strict=True):
            found[head.name] = logits[..., start : start + size]
            start += size
        return found

    def _split_labels(self, labels: Any) -> dict[str, Any]:
        require_labels(labels, None)
        if not isinstance(labels, Mapping):
            raise ValueError(
                "a MultiHead takes labels as a dict keyed by head name "
                f"({[h.name for h in self._heads]}), got {type(labels).__name__}."
            )
        missing = [h.name for h in self._heads if h.name not in labels]
        if missing:
            raise ValueError(f"labels has missing values for head(s): {missing}.")
        return {h.name: labels[h.name] for h in self._heads}

    # -- in the model (jnp) ------------------------------------------------------

    def predictions(
        self, logits: Any, keys: Sequence[str] | None = None
    ) -> dict[str, jax.Array]:
        """Every head's predictions under `"head_name/key"`."""
        split = self._split_logits(logits)
        merged = {
            f"{head.name}/{key}": value
            for head in self._heads
            for key, value in head.predictions(split[head.name]).items()
        }
        return select(merged, keys)

    def _head_losses(
        self, labels: Any, logits: Any, features: Features | None
    ) -> list[jax.Array]:
        split_logits = self._split_logits(logits)
        split_labels = self._split_labels(labels)
        return [
            head.loss(split_labels[head.name], split_logits[head.name], features)
            for head in self._heads
        ]

    def _merged(
        self, losses: list[jax.Array], regularization_losses: Sequence[Array] | None
    ) -> jax.Array:
        weights = self._head_weights or (1.0,) * len(losses)
        total = sum(w * loss for w, loss in zip(weights, losses, strict=True))
        for extra in regularization_losses or ():
            total = total + jnp.asarray(extra, jnp.float32)
        return total

    def loss(
        self,
        labels: Any,
        logits: Any,
        features: Features | None = None,
        mode: ModeKeys | str | None = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> jax.Array:
        """The weighted sum of the heads' training losses, plus regularization."""
        del mode
        losses = self._head_losses(labels, logits, features)
        return self._merged(losses, regularization_losses)

    def metrics(
        self,
        labels: Any,
        logits: Any,
        features: Features | None = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> dict[str, Metric]:
        """Every head's metrics, `loss/<head name>` and, with
        `regularization_losses`, `regularization_loss/<multi-head name>`."""
        split_logits = self._split_logits(logits)
        split_labels = self._split_labels(labels)
        found: dict[str, Metric] = {}
        if regularization_losses is not None:
            total = self._merged([jnp.zeros((), jnp.float32)], regularization_losses)
            found[self._summary_key(MetricKeys.LOSS_REGULARIZATION)] = metrics.mean(
                total
            )
        for head in self._heads:
            head_logits, head_labels = split_logits[head.name], split_labels[head.name]
            loss = head.loss(head_labels, head_logits, features)
            found[f"{MetricKeys.LOSS}/{head.name}"] = metrics.mean(loss)
            found.update(head.metrics(head_labels, head_logits, features))
        return found

    def create_estimator_spec(
        self,
        features: Features,
        mode: ModeKeys | str,
        logits: Any,
        labels: Any = None,
        optimizer: Any = None,
        regularization_losses: Sequence[Array] | None = None,
    ) -> EstimatorSpec:
        """The `EstimatorSpec` of a multi-task model (see `Head`)."""
        mode = ModeKeys(mode)
        predictions = self.predictions(logits)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=predictions)
        require_labels(labels, mode)
        loss = self.loss(labels, logits, features, mode, regularization_losses)
        if mode == ModeKeys.EVAL:
            found = self.metrics(labels, logits, features, regularization_losses)
            return EstimatorSpec(
                mode, predictions=predictions, loss=loss, eval_metric_ops=found
            )
        if optimizer is None:
            raise ValueError(
                "create_estimator_spec in TRAIN mode needs an `optimizer` (an optax "
                "GradientTransformation, e.g. optax.adagrad(0.05))."
            )
        return EstimatorSpec(
            mode, predictions=predictions, loss=loss, optimizer=optimizer
        )

    # A MultiHead computes everything through its heads' public methods.
    def _labels(self, labels: Array, logits: jax.Array) -> jax.Array:
        raise TypeError("MultiHead has no labels of its own; see its heads.")

    def _unreduced_loss(
        self, labels: jax.Array, logits: jax.Array, features: Features | None
    ) -> jax.Array:
        raise TypeError("MultiHead has no per-example loss; see its heads.")

    def _metrics(
        self,
        labels: jax.Array,
        logits: jax.Array,
        unreduced_loss: jax.Array,
        weights: jax.Array | None,
    ) -> dict[str, Metric]:
        raise TypeError("MultiHead has no metrics of its own; see its heads.")

    # -- on the host (numpy) -----------------------------------------------------

    def transform_labels(self, labels: Any) -> Any:
        """Each head's labels mapped by that head (a dict keyed by head name)."""
        split = self._split_labels(labels)
        return {h.name: h.transform_labels(split[h.name]) for h in self._heads}

    def transform_predictions(self, predictions: Mapping[str, Any]) -> dict[str, Any]:
        """Each head's predictions mapped by that head (e.g. class names)."""
        merged: dict[str, Any] = {}
        for head in self._heads:
            prefix = f"{head.name}/"
            own = {
                k[len(prefix) :]: v
                for k, v in predictions.items()
                if k.startswith(prefix)
            }
            for key, value in head.transform_predictions(own).items():
                merged[prefix + key] = value
        return merged
