"""Streaming statistics for `analyze()`: moments, value counts, quantiles."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc

__all__ = ["Moments", "QuantileSketch", "ValueCounts"]


class Moments:
    """Per-element count, mean and sum of squared deviations (Chan et al. merge)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, values: np.ndarray) -> None:
        """Adds a `[n, d]` float64 batch."""
        n = values.shape[0]
        if n == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            mean = values.mean(axis=0)
            m2 = ((values - mean) ** 2).sum(axis=0)
            if self.mean is None or self.m2 is None:
                self.count, self.mean, self.m2 = n, mean, m2
                return
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
            self.count = total

    def std(self) -> np.ndarray:
        """Population standard deviation (divides by n, like tf.Transform)."""
        assert self.m2 is not None
        return np.sqrt(np.maximum(self.m2 / self.count, 0.0))


class ValueCounts:
    """Counts of distinct values, merged in Arrow every `merge_every` batches."""

    def __init__(self, kind: pa.DataType, merge_every: int = 32) -> None:
        self._kind = kind
        self._pending: list[pa.Table] = []
        self._merge_every = merge_every

    def update(self, values: pa.Array) -> None:
        """Adds the non-null values of one batch."""
        values = pc.drop_null(values)
        if len(values) == 0:
            return
        counts = pc.value_counts(pc.cast(values, self._kind))
        self._pending.append(
            pa.table({"value": counts.field("values"), "count": counts.field("counts")})
        )
        if len(self._pending) >= self._merge_every:
            self._pending = [self._merged()]

    def _merged(self) -> pa.Table:
        if not self._pending:
            return pa.table(
                {"value": pa.array([], self._kind), "count": pa.array([], pa.int64())}
            )
        table = (
            pa.concat_tables(self._pending)
            .group_by("value")
            .aggregate([("count", "sum")])
        )
        return table.rename_columns(["value", "count"])

    def most_common(self, top_k: int | None, min_frequency: int | None) -> list[object]:
        """Values by descending count, ties by ascending value, filtered and cut."""
        table = self._merged()
        if min_frequency is not None:
            table = table.filter(pc.greater_equal(table["count"], min_frequency))
        order = pc.sort_indices(
            table, [("count", "descending"), ("value", "ascending")]
        )
        values = table["value"].take(order)
        if top_k is not None:
            values = values.slice(0, top_k)
        return values.to_pylist()


class QuantileSketch:
    """Weighted-sample quantile sketch with a bounded size.

    Values are kept exactly until `capacity` are held; from then on, whenever
    the buffer reaches `2 * capacity` points it is compacted to `capacity`
    points at evenly spaced cumulative weights (each keeping the weight it
    stands for). A compaction of total weight `W` moves ranks by at most
    `W / capacity`, so after `n` values the rank error is at most about
    `n / capacity` compactions times that: relative error `<= n / (2 * capacity**2)`
    (about 7e-5 for 10 million values with the default capacity 2**18).
    Results are deterministic (no random sampling).
    """

    def __init__(self, capacity: int = 2**18) -> None:
        self.capacity = capacity
        self._values: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self._size = 0

    def update(self, values: np.ndarray) -> None:
        """Adds a batch of finite or infinite (not NaN) values."""
        values = np.asarray(values, np.float64).reshape(-1)
        if not len(values):
            return
        self._values.append(values)
        self._weights.append(np.ones(len(values)))
        self._size += len(values)
        if self._size >= 2 * self.capacity:
            self._compact(self.capacity)

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        values = np.concatenate(self._values) if self._values else np.zeros(0)
        weights = np.concatenate(self._weights) if self._weights else np.zeros(0)
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    def _compact(self, size: int) -> None:
        values, weights = self._sorted()
        cumulative = np.cumsum(weights)
        targets = (np.arange(size) + 0.5) * (cumulative[-1] / size)
        picks = np.searchsorted(cumulative, targets, side="left")
        self._values = [values[picks]]
        self._weights = [np.full(size, cumulative[-1] / size)]
        self._size = size

    @property
    def count(self) -> float:
        return float(sum(w.sum() for w in self._weights))

    def quantiles(self, qs: np.ndarray) -> np.ndarray:
        """Inverted-CDF quantiles: smallest value whose cumulative weight >= q * W.

        With unit weights (fewer than `2 * capacity` values) this equals
        `numpy.quantile(values, qs, method="inverted_cdf")`.
        """
        values, weights = self._sorted()
        cumulative = np.cumsum(weights)
        targets = np.asarray(qs) * cumulative[-1]
        picks = np.searchsorted(cumulative, targets * (1 - 1e-12), side="left")
        return values[np.minimum(picks, len(values) - 1)]
