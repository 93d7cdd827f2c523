"""`EstimatorSpec`: what a `model_fn` returns, validated per mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from estimators import distribute
from estimators._compat import warn_tf_spelling
from estimators.export_output import check_export_outputs
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
        train_op: tf.estimator's spelling: an optax transformation given here is
            taken as `optimizer` (with a `TFCompatWarning`); anything else (a tf
            op) is refused with the fix.
        training_chief_hooks: Hooks run during `train` on the chief process only
            (every hook runs there in a single-process run), as in tf.
        scaffold: tf.estimator's `tf.train.Scaffold`: accepted and ignored with a
            `TFCompatWarning` (the Estimator initialises and saves variables).

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
    train_op: Any = field(default=None, repr=False)
    training_chief_hooks: Sequence[Any] = field(default_factory=tuple, repr=False)
    scaffold: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._accept_tf_spellings()
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
        object.__setattr__(
            self, "export_outputs", check_export_outputs(self.export_outputs)
        )
        if self.eval_metric_ops is not None and not isinstance(
            self.eval_metric_ops, Mapping
        ):
            raise TypeError(
                "EstimatorSpec: `eval_metric_ops` must be a dict of name to metric, "
                f"got {type(self.eval_metric_ops).__name__}."
            )

    def _accept_tf_spellings(self) -> None:
        if self.train_op is not None:
            if not (
                hasattr(self.train_op, "init") and hasattr(self.train_op, "update")
            ):
                raise TypeError(
                    "EstimatorSpec: `train_op` (a tf op) cannot run here; return "
                    "EstimatorSpec(mode, loss=loss, optimizer=optax.adagrad(0.1)) "
                    "and the Estimator differentiates `loss` and applies it."
                )
            if self.optimizer is not None:
                raise ValueError(
                    "EstimatorSpec: `train_op` is `optimizer` here; give one of them."
                )
            warn_tf_spelling(
                "EstimatorSpec", "train_op", "the optax transformation is `optimizer`"
            )
            object.__setattr__(self, "optimizer", self.train_op)
        if self.training_chief_hooks:
            hooks = tuple(self.training_hooks)
            if distribute.is_chief():
                hooks += tuple(self.training_chief_hooks)
            object.__setattr__(self, "training_hooks", hooks)
        if self.scaffold is not None:
            warn_tf_spelling(
                "EstimatorSpec",
                "scaffold",
                "the Estimator initialises, restores and saves variables; it is "
                "ignored",
            )
