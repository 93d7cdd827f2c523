"""`analyze()`: one streaming pass that learns what open columns leave open."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.feature_column import base, sketch
from estimators.feature_column.base import FeatureColumn
from estimators.feature_column.bucketized import BucketizedColumn
from estimators.feature_column.errors import FeatureInputError
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.numeric import NumericColumn
from estimators.feature_column.raw_values import typed_values
from estimators.feature_column.vocabulary import VocabularyListColumn

__all__ = ["analyze", "is_frozen"]


class _ZScore:
    def __init__(self, column: NumericColumn) -> None:
        self.column = column
        self.moments = sketch.Moments()

    def update(self, ctx: HostContext) -> None:
        self.moments.update(self.column._host_values(ctx))

    def result(self) -> FeatureColumn:
        if self.moments.count == 0 or self.moments.mean is None:
            raise FeatureInputError(_no_data(self.column))
        mean, std = self.moments.mean, self.moments.std()
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise FeatureInputError(
                f"column '{self.column.name}': the z-score statistics are not finite "
                f"(mean {mean.tolist()}, std {std.tolist()}); the data holds "
                "infinite or huge values."
            )
        as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
        return dataclasses.replace(self.column, mean=as_tuple(mean), std=as_tuple(std))


class _Quantiles:
    def __init__(self, column: BucketizedColumn) -> None:
        self.column = column
        self.sketch = sketch.QuantileSketch()

    def update(self, ctx: HostContext) -> None:
        self.sketch.update(self.column.source_column._host_values(ctx))

    def result(self) -> FeatureColumn:
        if self.sketch.count == 0:
            raise FeatureInputError(_no_data(self.column))
        k = self.column.target_num_buckets
        assert k is not None
        edges = np.unique(self.sketch.quantiles(np.arange(1, k) / k))
        edges = edges[np.isfinite(edges)]
        if not len(edges):
            raise FeatureInputError(
                f"column '{self.column.name}': no finite values to learn "
                "boundaries from."
            )
        return dataclasses.replace(
            self.column, boundaries=tuple(float(e) for e in edges)
        )


class _Vocabulary:
    def __init__(self, column: VocabularyListColumn) -> None:
        self.column = column
        kind = pa.large_string() if column.dtype == "string" else pa.int64()
        self.counts = sketch.ValueCounts(kind)

    def update(self, ctx: HostContext) -> None:
        column = self.column
        values, missing, _ = typed_values(
            ctx.raw(column.key, column), column.key, column.dtype
        )
        if missing.any():
            values = values.filter(pa.array(~missing))
        self.counts.update(values)

    def result(self) -> FeatureColumn:
        column = self.column
        vocabulary = self.counts.most_common(column.top_k, column.min_frequency)
        if not vocabulary:
            raise FeatureInputError(
                f"column '{column.name}': analyze() found no values for the vocabulary"
                + (
                    f" seen >= {column.min_frequency} times"
                    if column.min_frequency
                    else ""
                )
                + "; check the data or lower min_frequency."
            )
        if column.default_value >= len(vocabulary):
            raise FeatureInputError(
                f"column '{column.name}': default_value {column.default_value} is not "
                f"an id of the learnt vocabulary of {len(vocabulary)} values."
            )
        return dataclasses.replace(column, vocabulary_list=tuple(vocabulary))


_ANALYZERS = {
    NumericColumn: _ZScore,
    BucketizedColumn: _Quantiles,
    VocabularyListColumn: _Vocabulary,
}


def _no_data(column: FeatureColumn) -> str:
    return (
        f"column '{column.name}': analyze() saw no rows, so its "
        f"{column._open_analyzer} cannot be learnt; give it a non-empty dataset."
    )


def _features_of(element: Any) -> Mapping[str, Any]:
    if (
        isinstance(element, tuple | list)
        and len(element) == 2
        and (isinstance(element[0], Mapping))
    ):
        return element[0]
    if isinstance(element, Mapping):
        return element
    raise FeatureInputError(
        "analyze: each dataset element must be a features dict or a "
        f"(features, labels) pair, got {type(element).__name__}."
    )


def analyze(
    dataset: Iterable[Any], feature_columns: Iterable[FeatureColumn]
) -> list[FeatureColumn]:
    """Learns open vocabularies, z-scores and boundaries in one streaming pass.

    Like tf.Transform's analyzers: columns built with `vocabulary_list=None`
    (`top_k`, `min_frequency`), `normalizer="zscore"` or `boundaries=None,
    num_buckets=k` are filled from the data (nested ones too) and returned
    frozen, ready for `transform`, `input_layer` and `serialize`. Columns
    without open statistics come back unchanged (and the data is not read).

    - vocabulary: values by descending count, ties by ascending value, nulls,
      empty strings and integer -1 excluded;
    - z-score: per-element mean and population std (streamed, Chan merge);
    - boundaries: `k - 1` inverted-CDF quantiles `i / k` (exact below 2**19
      values, see `sketch.QuantileSketch` beyond), duplicates removed.

    Args:
        dataset: Iterable of feature dicts or `(features, labels)` batches,
            e.g. an `est.data.Dataset` (iterated once).
        feature_columns: Columns, some with open statistics.

    Returns:
        The columns, in order, with every statistic filled in.

    Example:
        >>> import numpy as np
        >>> from estimators import feature_column as fc
        >>> batches = [{"x": np.array([1.0, 3.0])}, {"x": np.array([5.0])}]
        >>> [x] = fc.analyze(batches, [fc.numeric_column("x", normalizer="zscore")])
        >>> x.mean
        (3.0,)
    """
    columns = base.as_column_list(feature_columns)
    pending: dict[FeatureColumn, Any] = {}
    for column in base.walk(columns):
        if column._open_analyzer is not None and column not in pending:
            pending[column] = _ANALYZERS[type(column)](column)
    if not pending:
        return columns
    for element in dataset:
        ctx = HostContext(_features_of(element))
        for analyzer in pending.values():
            analyzer.update(ctx)
    learnt = {column: analyzer.result() for column, analyzer in pending.items()}
    return [base.replace_columns(column, learnt) for column in columns]


def is_frozen(feature_columns: Iterable[FeatureColumn]) -> bool:
    """True when no column (nested ones included) still needs `analyze()`.

    Args:
        feature_columns: Columns (or one column).

    Returns:
        Whether every vocabulary, z-score and boundary list is known.

    Example:
        >>> from estimators import feature_column as fc
        >>> fc.is_frozen([fc.categorical_column_with_vocabulary_list("c", top_k=10)])
        False
    """
    columns = base.as_column_list(feature_columns)
    return all(column._open_analyzer is None for column in base.walk(columns))
