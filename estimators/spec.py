"""`EstimatorSpec`: what a `model_fn` returns, validated per mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from estimators.mode_keys import ModeKeys

__all__ = ["EstimatorSpec"]


@dataclass(frozen=True)
class EstimatorSpec:
    """The ops and objects a `model_fn` returns to the Estimator.

    Where tf.estimator took `train_op=optimizer.minimize(loss)`, this takes the optax
    `optimizer`: the Estimator differentiates `loss` with respect to the model's
    parameters and applies the optimizer's updates.

    Args:
        mode: A `ModeKeys` value.
        predictions: An array or a dict of arrays, batch-leading. Required in PREDICT.
        loss: A scalar loss. Required in TRAIN and EVAL.
        optimizer: An `optax.GradientTransformation`. Required in TRAIN.
        eval_metric_ops: Dict of metric name to `est.metrics.Metric` (or a scalar,
            averaged over batches).
        export_outputs: Optional dict describing serving outputs.
        training_hooks: Hooks to run during `train`.
        evaluation_hooks: Hooks to run during `evaluate`.
        prediction_hooks: Hooks to run during `predict`.

    Example:
        >>> import optax
        >>> spec = EstimatorSpec("train", loss=0.5, optimizer=optax.sgd(0.1))
        >>> spec.mode
        <ModeKeys.TRAIN: 'train'>
    """

    mode: ModeKeys | str
    predictions: Any = None
    loss: Any = None
    optimizer: Any = None
    eval_metric_ops: Mapping[str, Any] | None = None
    export_outputs: Mapping[str, Any] | None = None
    training_hooks: Sequence[Any] = field(default_factory=tuple)
    evaluation_hooks: Sequence[Any] = field(default_factory=tuple)
    prediction_hooks: Sequence[Any] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        try:
            mode = ModeKeys(self.mode)
        except ValueError:
            raise ValueError(
                f"EstimatorSpec: `mode` must be one of {[m.value for m in ModeKeys]},"
                f" got {self.mode!r}."
            ) from None
        object.__setattr__(self, "mode", mode)
        if mode == ModeKeys.PREDICT and self.predictions is None:
            raise ValueError(
                "EstimatorSpec in PREDICT mode is missing `predictions`: return "
                "EstimatorSpec(mode, predictions={...})."
            )
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL) and self.loss is None:
            raise ValueError(
                f"EstimatorSpec in {mode.name} mode is missing `loss`: return "
                f"EstimatorSpec(mode, loss=...{', optimizer=...' * (mode == 'train')})."
            )
        if mode == ModeKeys.TRAIN and self.optimizer is None:
            raise ValueError(
                "EstimatorSpec in TRAIN mode is missing `optimizer`: pass an optax "
                "transformation, e.g. EstimatorSpec(mode, loss=loss, "
                "optimizer=optax.adagrad(0.1))."
            )
        if mode == ModeKeys.TRAIN and not (
            hasattr(self.optimizer, "init") and hasattr(self.optimizer, "update")
        ):
            raise TypeError(
                "EstimatorSpec: `optimizer` must be an optax GradientTransformation "
                f"(with init and update), got {type(self.optimizer).__name__}."
            )
        if self.eval_metric_ops is not None and not isinstance(
            self.eval_metric_ops, Mapping
        ):
            raise TypeError(
                "EstimatorSpec: `eval_metric_ops` must be a dict of name to metric, "
                f"got {type(self.eval_metric_ops).__name__}."
            )
