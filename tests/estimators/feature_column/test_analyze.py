import collections

import numpy as np
import pyarrow as pa
import pytest

from estimators import feature_column as fc
from estimators.feature_column import FeatureInputError
from estimators.feature_column.sketch import QuantileSketch


def _batches(values, size):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def test_vocabulary_by_count_then_value_with_top_k_and_min_frequency():
    words = ["b", "a", "c", "a", "b", "d", "e", "e", None, "", "a"] * 3
    batches = [({"w": pa.array(chunk)}, None) for chunk in _batches(words, 4)]
    open_col = fc.categorical_column_with_vocabulary_list("w", top_k=3, min_frequency=4)
    [col] = fc.analyze(batches, [open_col])
    counts = collections.Counter(w for w in words if w)
    reference = sorted(
        (w for w in counts if counts[w] >= 4), key=lambda w: (-counts[w], w)
    )
    assert col.vocabulary_list == tuple(reference[:3]) == ("a", "b", "e")
    assert fc.is_frozen([col]) and not fc.is_frozen([open_col])


def test_integer_vocabulary_is_learnt():
    col = fc.categorical_column_with_vocabulary_list("z", dtype="int64")
    [learnt] = fc.analyze([{"z": np.array([5, 7, 7, -1])}], [col])
    assert learnt.vocabulary_list == (7, 5)


def test_zscore_matches_numpy_across_batches():
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 2.0, size=(1000, 2))
    batches = [{"x": chunk} for chunk in _batches(values, 64)]
    [col] = fc.analyze(batches, [fc.numeric_column("x", shape=2, normalizer="zscore")])
    np.testing.assert_allclose(col.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(col.std, values.std(axis=0), rtol=1e-12)


def test_quantile_boundaries_match_numpy_inverted_cdf():
    rng = np.random.default_rng(2)
    values = rng.exponential(size=5000)
    batches = [{"x": chunk} for chunk in _batches(values, 333)]
    open_col = fc.bucketized_column(fc.numeric_column("x"), num_buckets=4)
    [col] = fc.analyze(batches, [open_col])
    expected = np.quantile(values, [0.25, 0.5, 0.75], method="inverted_cdf")
    np.testing.assert_array_equal(col.boundaries, expected)
    assert col.num_buckets == 4


def test_duplicate_boundaries_are_removed():
    open_col = fc.bucketized_column(fc.numeric_column("x"), num_buckets=10)
    [col] = fc.analyze([{"x": np.array([1.0] * 50 + [2.0] * 50)}], [open_col])
    assert col.boundaries == (1.0, 2.0)
    assert col.num_buckets == 3


def test_sketch_rank_error_stays_within_documented_bound():
    capacity, n = 500, 20_000
    sketch = QuantileSketch(capacity=capacity)
    values = np.random.default_rng(3).permutation(n).astype(float)
    for chunk in _batches(values, 700):
        sketch.update(chunk)
    qs = np.linspace(0.05, 0.95, 19)
    ranks = sketch.quantiles(qs) / n  # value v has rank v / n
    # relative rank error <= n / (2 capacity^2) = 0.04
    assert np.abs(ranks - qs).max() <= n / (2 * capacity**2)


def test_nested_open_columns_are_filled_and_data_read_once():
    reads = []
    words = fc.categorical_column_with_vocabulary_list("w")
    age = fc.bucketized_column(
        fc.numeric_column("age", normalizer="zscore"), num_buckets=2
    )
    cols = [
        fc.embedding_column(words, 2),
        fc.crossed_column([age, "w"], 10),
        fc.indicator_column(words),
    ]

    def dataset():
        reads.append(1)
        yield {"w": np.array(["x", "y", "x"]), "age": np.array([1.0, 2.0, 3.0])}

    learnt = fc.analyze(dataset(), cols)
    assert len(reads) == 1 and fc.is_frozen(learnt)
    assert learnt[0].categorical_column.vocabulary_list == ("x", "y")
    assert learnt[0].categorical_column == learnt[2].categorical_column
    bucket = learnt[1].keys[0]
    assert bucket.boundaries == (2.0,)  # median of 1, 2, 3
    assert bucket.source_column.mean == (2.0,)
    fc.transform({"w": np.array(["x"]), "age": np.array([9.0])}, learnt)


def test_frozen_columns_come_back_without_reading_data():
    cols = [fc.numeric_column("x")]

    def never():
        raise AssertionError("read")
        yield

    assert fc.analyze(never(), cols) == cols


@pytest.mark.parametrize(
    "column",
    [
        fc.numeric_column("x", normalizer="zscore"),
        fc.bucketized_column(fc.numeric_column("x"), num_buckets=3),
        fc.categorical_column_with_vocabulary_list("x"),
    ],
)
def test_empty_dataset_is_a_clear_error(column):
    with pytest.raises(FeatureInputError, match=r"column '.*': analyze\(\)"):
        fc.analyze([], [column])


def test_bad_values_during_analyze_name_the_row():
    with pytest.raises(FeatureInputError, match=r"row 1: 'oops'"):
        fc.analyze(
            [{"x": pa.array(["1", "oops"])}],
            [fc.numeric_column("x", normalizer="zscore")],
        )


def test_dataset_elements_must_be_dicts():
    with pytest.raises(FeatureInputError, match="features dict or a"):
        fc.analyze([np.ones(3)], [fc.numeric_column("x", normalizer="zscore")])
