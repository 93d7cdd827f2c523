"""What every canned estimator shares: choosing the head, checking the columns,
and the host hooks passed to `Estimator.__init__`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from estimators import feature_column as fc
from estimators.heads import BinaryClassHead, MultiClassHead, RegressionHead
from estimators.heads.base import Head
from estimators.losses import Reduction

__all__ = [
    "check_columns",
    "check_head",
    "classifier_head",
    "estimator_hooks",
    "regressor_head",
]


def classifier_head(
    n_classes: int,
    weight_column: Any,
    label_vocabulary: Sequence[str] | None,
    loss_reduction: Reduction | str,
) -> Head:
    """A `BinaryClassHead` for 2 classes, else a `MultiClassHead` (tf's choice)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"`n_classes` must be an int >= 2, got {n_classes!r}.")
    if n_classes == 2:
        return BinaryClassHead(
            weight_column=weight_column,
            label_vocabulary=label_vocabulary,
            loss_reduction=loss_reduction,
        )
    return MultiClassHead(
        n_classes,
        weight_column=weight_column,
        label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction,
    )


def regressor_head(
    label_dimension: int, weight_column: Any, loss_reduction: Reduction | str
) -> Head:
    """A `RegressionHead` with squared-error loss."""
    return RegressionHead(
        label_dimension, weight_column=weight_column, loss_reduction=loss_reduction
    )


def check_head(head: Any, owner: str) -> Head:
    """`head`, which must be an `est.heads.Head`."""
    if not isinstance(head, Head):
        raise TypeError(
            f"{owner}: `head` must be an est.heads.Head (e.g. "
            f"est.heads.RegressionHead()), got {type(head).__name__}."
        )
    return head


def check_columns(
    columns: Any, argument: str, owner: str, *, dense: bool = False
) -> tuple[fc.FeatureColumn, ...]:
    """A non-empty tuple of feature columns; with `dense`, none bare categorical.

    Args:
        columns: What the user passed.
        argument: The argument's name, for messages.
        owner: The estimator's class name, for messages.
        dense: Whether the columns feed a DNN, which needs dense columns.
    """
    if isinstance(columns, fc.FeatureColumn):
        columns = [columns]
    if (
        columns is None
        or isinstance(columns, str | bytes)
        or not isinstance(columns, Iterable)
    ):
        raise TypeError(
            f"{owner}: `{argument}` must be a list of feature columns, got "
            f"{type(columns).__name__}."
        )
    columns = tuple(columns)
    if not columns:
        raise ValueError(f"{owner}: `{argument}` must not be empty.")
    for column in columns:
        if not isinstance(column, fc.FeatureColumn):
            raise TypeError(
                f"{owner}: `{argument}` must hold feature columns (from "
                f"est.feature_column), got {column!r}."
            )
        if dense and not isinstance(column, fc.DenseColumn):
            raise ValueError(
                f"{owner}: feature column '{column.name}' in `{argument}` is "
                f"categorical ({type(column).__name__}), which a DNN cannot take "
                "directly; wrap it: fc.indicator_column(column) or "
                "fc.embedding_column(column, dimension=...)."
            )
    return columns


def estimator_hooks(head: Head, *column_lists: Sequence[Any]) -> dict[str, Any]:
    """`Estimator.__init__` keywords: the host transform's columns (the model's,
    deduplicated) and the head's label and prediction mappings.

    A weight column is not among them: the head reads it in the model (a
    `numeric_column` applies its default and normalizer there), so predict and
    the exported model do not need the weight feature, as in tf.
    """
    columns: list[Any] = []
    for column in (c for group in column_lists for c in group):
        if column not in columns:
            columns.append(column)
    return {
        "feature_columns": columns or None,
        "label_transform": head.transform_labels,
        "prediction_transform": head.transform_predictions,
        "head": head,
    }
