"""Bucketized columns: a numeric feature cut into ranges by boundaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from estimators.feature_column import in_model, validation
from estimators.feature_column.base import CategoricalColumn, DenseColumn
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.numeric import NumericColumn

__all__ = ["BucketizedColumn", "bucketized_column"]


@dataclass(frozen=True, repr=False)
class BucketizedColumn(DenseColumn, CategoricalColumn):
    """Ranges of a numeric column; built by `bucketized_column`.

    Buckets are `(-inf, b0), [b0, b1), ..., [bn, +inf)`. For a source of
    shape `(s,)` element `i` of a row gets id `bucket + i * (len(boundaries) + 1)`,
    so `num_buckets = (len(boundaries) + 1) * s` as in tf. `boundaries` is None
    until `analyze()` learns `target_num_buckets` quantiles.
    """

    _column_fields = ("source_column",)

    source_column: NumericColumn
    boundaries: tuple[float, ...] | None = None
    target_num_buckets: int | None = None

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def num_buckets(self) -> int | None:
        if self.boundaries is None:
            return None
        return (len(self.boundaries) + 1) * self.source_column._dense_size

    @property
    def _dense_size(self) -> int:
        return self._checked_num_buckets()

    @property
    def _open_analyzer(self) -> str | None:
        return "bucket boundaries" if self.boundaries is None else None

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        assert self.boundaries is not None  # ctx.ids checked require_frozen
        values = self.source_column._host_values(ctx)
        buckets = np.searchsorted(np.asarray(self.boundaries), values, side="right")
        offsets = np.arange(values.shape[1]) * (len(self.boundaries) + 1)
        return (buckets + offsets).astype(np.int32)

    def _dense_tensor(self, features: Mapping[str, Any], params: Any) -> jnp.ndarray:
        ids, weights = self._model_ids(features)
        return in_model.multi_hot(ids, weights, self._checked_num_buckets())


def bucketized_column(
    source_column: NumericColumn,
    boundaries: Sequence[float] | None = None,
    *,
    num_buckets: int | None = None,
) -> BucketizedColumn:
    """Cuts a numeric column into ranges, like `tf.feature_column.bucketized_column`.

    The column is categorical (ids for `linear_model`, `crossed_column`,
    `embedding_column`) and dense (a one-hot block in `input_layer`), as in tf.
    Values are bucketized as given (after `default_value`); the source's
    normaliser is not applied first (tf applied `normalizer_fn` first).

    Args:
        source_column: A `numeric_column`.
        boundaries: Strictly increasing bucket edges. None to learn them.
        num_buckets: With `boundaries=None`, the number of buckets whose
            quantile edges `analyze()` learns (fewer if edges coincide).

    Returns:
        A frozen `BucketizedColumn`.

    Example:
        >>> from estimators.feature_column import numeric_column
        >>> age = bucketized_column(numeric_column("age"), [18, 30, 65])
        >>> age.name, age.num_buckets
        ('age_bucketized', 4)
    """
    if not isinstance(source_column, NumericColumn):
        raise ValueError(
            "bucketized_column: `source_column` must be a numeric_column, got "
            f"{source_column!r}."
        )
    if (boundaries is None) == (num_buckets is None):
        raise ValueError(
            f"bucketized_column '{source_column.name}': give either `boundaries` "
            "or `num_buckets` (to learn quantile boundaries with analyze()), "
            f"got boundaries={boundaries!r}, num_buckets={num_buckets!r}."
        )
    if num_buckets is not None:
        validation.check_positive_int(num_buckets, "num_buckets", minimum=2)
        return BucketizedColumn(source_column, None, int(num_buckets))
    return BucketizedColumn(source_column, check_boundaries(boundaries), None)


def check_boundaries(boundaries: Any) -> tuple[float, ...]:
    """Validates bucket edges into a tuple of strictly increasing floats."""
    try:
        edges = tuple(float(b) for b in boundaries)
    except (TypeError, ValueError):
        raise ValueError(
            f"`boundaries` must be a sequence of numbers, got {boundaries!r}."
        ) from None
    if not edges or any(np.isnan(edges)):
        raise ValueError(
            f"`boundaries` must be a non-empty list of numbers, got {boundaries!r}."
        )
    if any(b >= c for b, c in zip(edges, edges[1:], strict=False)):
        raise ValueError(
            f"`boundaries` must be sorted and strictly increasing, got {boundaries!r}."
        )
    return edges
